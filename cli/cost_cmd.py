"""`archsearch cost ARCH`: multiply-accumulates and parameters, per block with -v."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from archspace.latency_cost import with_latency_table
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
    costs = plugin.costs(genotype)
    parts = (plugin.cost_breakdown(genotype) or []) if verbose else []
    provided = {  # a provider's metric by part, e.g. latency per block
        p.metric.name: (p, p.breakdown(plugin, genotype)) for p in plugin.cost_providers
    }
    provided = {m: found for m, found in provided.items() if verbose and found[1]}
    if as_json:
        data = {"arch": arch, "space": plugin.name, "key": genotype.key, **costs}
        if parts:
            data["parts"] = [{"part": name, **cost} for name, cost in parts]
        for metric, (_, found) in provided.items():
            data[f"{metric}_parts"] = [{"part": k, metric: v} for k, v in found]
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
    for metric, (provider, found) in provided.items():
        declared = metric_of(metric)
        parts_table = Table(title=f"{metric} per part", caption=provider.describe() or None)
        parts_table.add_column("part")
        parts_table.add_column(declared.axis_label(), justify="right")
        for key, value in found:
            parts_table.add_row(key, f"{value:.4f}")
        parts_table.add_row("[bold]sum", f"[bold]{sum(v for _, v in found):.4f}")
        parts_table.add_row("[bold]predicted", f"[bold]{costs[metric]:.4f}")
        console.print(parts_table)


def _cell(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if metric_of(metric).unit else f"{int(value):,}"


def _total(metric: str, value: float) -> str:
    unit = metric_of(metric).unit
    return f"{value:.4f} {unit}" if unit else format_cost(metric, value, long=True)


cost_command.help = cost_command.help.replace("{arch_help}", ARCH_HELP)
