"""`archsearch cost ARCH`: multiply-accumulates and parameters, per block with -v."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from archspace.units import format_count
from cli.arch import ARCH_HELP, resolve_arch
from cli.errors import friendly_errors


@click.command("cost")
@click.argument("arch")
@click.option("--space", default=None, help="Space of a preset or bare genotype (default: any).")
@click.option("--width", default=None, help="Space width of a bare genotype (tiny, small, ...).")
@click.option("-v", "--verbose", is_flag=True, help="Per-part breakdown (e.g. per block).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def cost_command(
    arch: str, space: str | None, width: str | None, verbose: bool, as_json: bool
) -> None:
    """Cost of an architecture: MACs and parameters, computed analytically.

    ARCH is {arch_help}. "FLOPs" in the DeiT and GLiT papers are multiply-accumulates
    (MACs); that is what is reported here.

    \b
    Examples:
      archsearch cost deit-tiny
      archsearch cost glit-tiny -v
      archsearch cost runs/my-run/architecture.json --json
    """
    plugin, genotype = resolve_arch(arch, space, width=width)
    costs = plugin.cost(genotype)
    parts = (plugin.cost_breakdown(genotype) or []) if verbose else []
    if as_json:
        data = {"arch": arch, "space": plugin.name, "key": genotype.key, **costs}
        if parts:
            data["parts"] = [{"part": name, **cost} for name, cost in parts]
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
            table.add_row(name, *(f"{int(cost[metric]):,}" for metric in costs))
    table.add_row("[bold]total", *(f"[bold]{int(v):,} ({format_count(v)})" for v in costs.values()))
    console.print(table)


cost_command.help = cost_command.help.replace("{arch_help}", ARCH_HELP)
