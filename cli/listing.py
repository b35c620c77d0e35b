"""`archsearch spaces` and `archsearch strategies`: what is registered."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from archspace import load_space, spaces, strategies


def _describe_all() -> list[dict]:
    rows = []
    for name in spaces.names():
        try:
            rows.append(load_space(name).describe())
        except Exception as error:  # a broken plugin must not hide the others
            rows.append({"name": name, "error": str(error)})
    return rows


@click.command("spaces")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def spaces_command(as_json: bool) -> None:
    """List the registered search spaces with their levels, choices and exact sizes.

    Sizes count distinct canonical architectures (inactive conditional choices counted
    once); "nominal" is the naive product of option counts that papers often quote.

    \b
    Example:
      archsearch spaces
    """
    rows = _describe_all()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title="Registered search spaces")
    for column in ("space", "choices per level", "size", "nominal size", "presets"):
        table.add_column(column)
    for row in rows:
        if "error" in row:
            table.add_row(row["name"], "[red]failed to load[/]", row["error"], "", "")
            continue
        levels = "\n".join(f"{level}: {n}" for level, n in row["levels"].items())
        table.add_row(
            row["name"],
            levels,
            f"{row['size']:.3e} (10^{row['log10_size']:.2f})",
            f"{row['nominal_size']:.3e}",
            "\n".join(row["presets"]) or "-",
        )
    console = Console()
    console.print(table)
    for row in rows:
        if row.get("summary"):
            console.print(f"[bold]{row['name']}[/]: {row['summary']}")
    console.print(
        "size: distinct architectures (inactive choices counted once); nominal: the "
        "naive product of option counts, as papers quote it"
    )


@click.command("strategies")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def strategies_command(as_json: bool) -> None:
    """List the registered search strategies (--strategy) and searchers (--searcher).

    \b
    Example:
      archsearch strategies
    """
    names = strategies.names()
    if as_json:
        click.echo(json.dumps(names))
        return
    if not names:
        click.echo("No strategies registered yet.")
    for name in names:
        doc = (getattr(strategies.get(name), "__doc__", "") or "").strip().splitlines()
        click.echo(f"{name:20s} {doc[0] if doc else ''}")
    click.echo("\nsearchers (--searcher, inside spos and hierarchical-ea):")
    for name, summary in _searchers():
        click.echo(f"{name:20s} {summary}")


def _searchers() -> list[tuple[str, str]]:
    """(name, one-line summary) of every registered searcher; a broken one says so."""
    from strategies.searchers import searchers

    rows = []
    for name in searchers.names():
        try:
            cls = searchers.get(name)
        except Exception as error:  # a broken plugin must not hide the others
            rows.append((name, f"failed to load: {error}"))
            continue
        doc = (getattr(cls, "__doc__", "") or "").strip().splitlines()
        rows.append((name, getattr(cls, "summary", "") or (doc[0] if doc else "")))
    return rows
