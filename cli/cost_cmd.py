"""`archsearch cost ARCH`: multiply-accumulates and parameters, per block with -v."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from archspace.latency import METRIC as LATENCY
from archspace.latency_plugin import WithLatency, with_latency_table
from archspace.metrics import metric as metric_of
from cli.arch import ARCH_HELP, resolve_arch
from cli.budgets import format_cost
from cli.errors import friendly_errors
from cli.names_help import arch_space_option


@click.command("cost")
@click.argument("arch")
@arch_space_option
@click.option("--width", default=None, help="Space width of a bare genotype (tiny, small, ...).")
@click.option(
    "--latency-table",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Add the latency predicted by this table (archsearch latency build).",
)
@click.option("-v", "--verbose", is_flag=True, help="Per-part breakdown (e.g. per block).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def cost_command(
    arch: str,
    space: str | None,
    width: str | None,
    latency_table: Path | None,
    verbose: bool,
    as_json: bool,
) -> None:
    """Cost of an architecture: MACs and parameters, computed analytically.

    ARCH is {arch_help}. "FLOPs" in the DeiT and GLiT papers are multiply-accumulates
    (MACs); that is what is reported here.

    \b
    Examples:
      archsearch cost deit-tiny
      archsearch cost glit-tiny -v
      archsearch cost runs/my-run/architecture.json --json
      archsearch cost glit-tiny -v --latency-table lut.json
    """
    plugin, genotype = resolve_arch(arch, space, width=width)
    if latency_table is not None:
        plugin = with_latency_table(plugin, latency_table)
    costs = plugin.cost(genotype)
    parts = (plugin.cost_breakdown(genotype) or []) if verbose else []
    latency_parts = (
        plugin.latency_parts_of(genotype) if verbose and isinstance(plugin, WithLatency) else []
    )
    if as_json:
        data = {"arch": arch, "space": plugin.name, "key": genotype.key, **costs}
        if parts:
            data["parts"] = [{"part": name, **cost} for name, cost in parts]
        if latency_parts:
            data["latency_parts"] = [{"part": k, "latency": ms} for k, ms in latency_parts]
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()
    table = Table(
        title=f"{arch} ({plugin.name}: {plugin.describe_genotype(genotype)})",
        caption='MACs = the papers\' "FLOPs"' if "macs" in costs else None,
    )
    table.add_column("part")
    for metric in costs:
        table.add_column(metric, justify="right")
    if parts:
        for name, cost in parts:
            table.add_row(name, *(_cell(metric, cost.get(metric)) for metric in costs))
    table.add_row("[bold]total", *(f"[bold]{_total(m, v)}" for m, v in costs.items()))
    console.print(table)
    if latency_parts:
        lut = plugin.table
        parts_table = Table(
            title=f"latency per part ({lut.path})",
            caption=f"measured on {lut.describe()}; predicted = sum of the parts"
            + (
                f", then {lut.correction['a']:.4g} * sum + {lut.correction['b']:.4g}"
                if lut.correction
                else ""
            ),
        )
        parts_table.add_column("part")
        parts_table.add_column("latency (ms)", justify="right")
        for key, ms in latency_parts:
            parts_table.add_row(key, f"{ms:.4f}")
        parts_table.add_row("[bold]sum", f"[bold]{sum(ms for _, ms in latency_parts):.4f}")
        parts_table.add_row("[bold]predicted", f"[bold]{costs[LATENCY]:.4f}")
        console.print(parts_table)


def _cell(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if metric_of(metric).unit else f"{int(value):,}"


def _total(metric: str, value: float) -> str:
    unit = metric_of(metric).unit
    return f"{value:.4f} {unit}" if unit else format_cost(metric, value, long=True)


cost_command.help = cost_command.help.replace("{arch_help}", ARCH_HELP)
