"""`archsearch spaces` and `archsearch strategies`: what is registered."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from archspace import Registry, load_space, spaces, strategies
from strategies.searchers import searchers


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
    """List the search strategies (--strategy) and searchers (--searcher), each with
    its options (--set strategy.NAME=VALUE, --set searcher.NAME=VALUE) and defaults.

    \b
    Example:
      archsearch strategies
      archsearch run --strategy spos --searcher bananas --set searcher.ensemble=3
    """
    rows = {
        "strategies": _describe(strategies),
        "searchers": _describe(searchers),
        "search": _shared_settings(),
    }
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    for kind, section, flag in (
        ("strategies", "strategy", "--strategy"),
        ("searchers", "searcher", "--searcher, inside every pipeline that searches"),
    ):
        table = Table(title=f"{kind} ({flag}); options: --set {section}.NAME=VALUE")
        for column in ("name", "what it does", "options: default (quick), allowed: what"):
            table.add_column(column)
        for row in rows[kind]:
            options = "\n".join(
                f"{o['name']} = {o['default']!r}"
                + (f" (quick: {o['profiles']['quick']!r})" if "quick" in o["profiles"] else "")
                + f", {o['allowed']}: {o['help']}"
                for o in row.get("options", [])
            )
            table.add_row(row["name"], row.get("summary") or row.get("error", ""), options or "-")
        console.print(table)
    table = Table(title="shared by every searcher and pipeline: --set search.NAME=VALUE")
    for column in ("name", "default (quick)", "what"):
        table.add_column(column)
    for row in rows["search"]:
        quick = f" ({row['quick']!r})" if row["quick"] != row["default"] else ""
        table.add_row(row["name"], f"{row['default']!r}{quick}", row["help"])
    console.print(table)


def _shared_settings() -> list[dict[str, Any]]:
    """The search settings every searcher and pipeline shares, with their defaults."""
    import dataclasses

    from strategies.settings import SETTING_HELP, get_settings

    paper, quick = get_settings("paper"), get_settings("quick")
    return [
        {
            "name": f.name,
            "default": getattr(paper, f.name),
            "quick": getattr(quick, f.name),
            "help": SETTING_HELP.get(f.name, ""),
        }
        for f in dataclasses.fields(paper)
    ]


def _describe(registry: Registry) -> list[dict[str, Any]]:
    """Name, one-line summary and options of everything registered; a broken plugin
    says so without hiding the others."""
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            cls = registry.get(name)
            declared = cls.options
        except Exception as error:  # a broken plugin must not hide the others
            rows.append({"name": name, "error": f"failed to load: {error}"})
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        options = [
            {
                "name": option.name,
                "allowed": option.allowed(),
                "default": option.default,
                "profiles": dict(option.profiles),
                "help": option.help,
            }
            for option in declared
        ]
        summary = cls.summary or (doc[0] if doc else "")
        rows.append({"name": name, "summary": summary, "options": options})
    return rows
