"""`archsearch top RUN_DIR`: the best evaluated architectures of a run, listed or exported."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from archspace import load_space
from archspace.latency_cost import METRIC as LATENCY
from archspace.latency_cost import with_latency_table
from archspace.metrics import metric as metric_of
from cli.budgets import format_cost
from cli.errors import friendly_errors
from strategies.archive import fitness_text
from strategies.run import load_config
from strategies.store import STORE_FILE, RunStore, store_error


@click.command("top")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-k", "--top-k", "k", default=10, show_default=True, help="How many to list.")
@click.option("--stage", default=None, help="Only this stage (default: all stages).")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write each as an architecture JSON file into this folder.",
)
@click.option(
    "--latency-table",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Add the latency this table predicts (for a run searched without one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def top_command(
    run_dir: Path,
    k: int,
    stage: str | None,
    export_dir: Path | None,
    latency_table: Path | None,
    as_json: bool,
) -> None:
    """The top-k architectures a run evaluated, by supernet fitness.

    Works on finished, running and killed runs (the store is opened read-only). The
    exported JSON files are accepted by `archsearch cost` and `archsearch export`.

    \b
    Examples:
      archsearch top runs/my-run -k 5
      archsearch top runs/my-run --stage detail --export top-archs/
      archsearch top runs/my-run --latency-table lut.json
    """
    if k < 1:
        raise click.BadParameter("must be at least 1", param_hint="--top-k")
    config = load_config(run_dir)
    with RunStore(run_dir, readonly=True) as store:
        try:
            stages = sorted({e["stage"] for e in store.evaluations()})
            rows = store.top(k, stage)
        except sqlite3.DatabaseError as error:  # damaged past the first page
            raise store_error(Path(run_dir) / STORE_FILE, error) from None
        if stage is not None and stage not in stages:
            raise KeyError(
                f"run {run_dir} has no evaluations in stage {stage!r}; stages: "
                + (", ".join(stages) or "none yet")
            )
    if latency_table is not None:
        options = {o: v for o, v in config.space_options.items() if o != "latency_table"}
        plugin = with_latency_table(load_space(config.space, **options), latency_table)
        provider = plugin.cost_provider(LATENCY)
        for row in rows:
            genotype = plugin.space.from_dict(row["genotype"])
            row["costs"] = {**row["costs"], LATENCY: provider.value(plugin, genotype)}
    written = []
    if export_dir is not None:
        export_dir.mkdir(parents=True, exist_ok=True)
        for rank, row in enumerate(rows, start=1):
            path = export_dir / f"{rank:02d}-{row['stage']}-{row['key']}.json"
            path.write_text(
                json.dumps(
                    {
                        "space": config.space,
                        "space_options": config.space_options,
                        "key": row["key"],
                        "genotype": row["genotype"],
                        "costs": row["costs"],
                        "metrics": {"fitness": row["fitness"]},
                        "stage": row["stage"],
                    },
                    indent=2,
                )
                + "\n"
            )
            written.append(str(path))
    if as_json:
        click.echo(json.dumps({"top": rows, "exported": written}, indent=2))
        return
    table = Table(title=f"top {len(rows)} of {run_dir} by search fitness")
    metrics = [metric_of(m).axis_label() for m in (rows[0]["costs"] if rows else [])]
    for column in ("rank", "stage", "key", "fitness", *metrics):
        table.add_column(column)
    for rank, row in enumerate(rows, start=1):
        table.add_row(
            str(rank),
            row["stage"],
            row["key"],
            fitness_text(row["fitness"]),
            *(format_cost(m, v) for m, v in row["costs"].items()),
        )
    Console().print(table)
    for path in written:
        click.echo(f"wrote {path}")
