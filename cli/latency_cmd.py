"""`archsearch latency build|check`: latency tables of a space's building blocks.

A table predicts a network's latency as the sum of its parts' measured latencies; with
`--set space.latency_table=lut.json` a run (and `cost --latency-table`) gets the cost
metric "latency" (ms), so `--budget latency=25ms` bounds it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from archspace import Genotype, spaces
from archspace.latency import plain_json
from archspace.speed_drift import SPEED_DRIFT_LIMIT, build_warning
from cli.arch import resolve_arch
from cli.errors import RunFailed, friendly_errors
from cli.names_help import NamesHelp, space_names
from cli.runconfig import DEFAULT_SPACE, parse_sets

MIN_RUN_TIME_HELP = "Seconds of timed runs per measurement (after a warm-up)."
STRICT_HELP = (
    f"Exit 1 when the machine's speed moved more than {SPEED_DRIFT_LIMIT}x either way "
    "(the speed reference against the build's median), which makes the result unreliable; "
    "without it, such a result is only warned about."
)


def _plugin_options(width: str | None, sets: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in parse_sets(sets).items():
        section, dot, name = key.partition(".")
        if dot and section != "space":
            raise ValueError(f"--set {key}: only space options (space.<option>) apply here")
        options[name if dot else key] = value
    if "latency_table" in options:
        raise ValueError("--set space.latency_table does not apply to building a table")
    if width is not None:
        options.setdefault("width", width)
    return options


@click.group("latency")
def latency_group() -> None:
    """Latency tables: measure a space's building blocks, check the predictions.

    \b
    Examples:
      archsearch latency build --space glit --width tiny --device cpu --batch 1 --out lut.json
      archsearch latency check --lut lut.json --samples 30 --fit 10
      archsearch run --set space.latency_table=lut.json --budget latency=25ms
    """


@latency_group.command("build")
@click.option(
    "--space",
    default=DEFAULT_SPACE,
    show_default=True,
    cls=NamesHelp,
    names=space_names,
    help="Registered space: {names}.",
)
@click.option("--width", default=None, help="The space's width option (tiny, small, cpu, ...).")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="space.KEY=VALUE",
    help="A space option, e.g. space.num_classes=10. Repeatable.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--batch", default=1, show_default=True, type=int, help="Batch size measured.")
@click.option(
    "--threads", default=None, type=int, help="CPU threads (default: torch's, all cores)."
)
@click.option(
    "--dtype",
    default="float32",
    show_default=True,
    type=click.Choice(["float32", "float16", "bfloat16"]),
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The table (JSON); an existing one with the same settings is resumed.",
)
@click.option("--min-run-time", default=0.2, show_default=True, type=float, help=MIN_RUN_TIME_HELP)
@click.option(
    "--speed-reference/--no-speed-reference",
    default=True,
    show_default=True,
    help="Time each part alternating with a fixed part of the space and state the "
    "table at one machine speed (for machines whose speed drifts, e.g. shared VMs).",
)
@click.option("--strict", is_flag=True, help=STRICT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@friendly_errors
def build_command(
    space: str,
    width: str | None,
    sets: tuple[str, ...],
    device: str,
    batch: int,
    threads: int | None,
    dtype: str,
    out: Path,
    min_run_time: float,
    speed_reference: bool,
    strict: bool,
    as_json: bool,
) -> None:
    """Measure every building block of a space into a latency table (resumable).

    Each part (e.g. a transformer block of one configuration) is built alone and timed
    on its input in timed blocks of calls; the table records the device, torch
    version, threads, batch and dtype, and the space with its options. Interrupt it at
    any time: the same command continues, measuring only what is missing.

    With the speed reference (the default), each part's timed blocks alternate with a
    fixed part of the space: the table keeps each part's ratio to it and states
    latency at the machine's typical speed during the build, so a machine that slows
    down for a while does not skew the parts measured meanwhile. When the reference ran
    more than 1.5x off its median for some parts, the machine was busy and the table is
    unreliable: a warning says so (exit 1 with --strict).
    """
    if min_run_time <= 0:
        raise click.BadParameter("must be positive", param_hint="--min-run-time")
    plugin = spaces.get(space)(**_plugin_options(width, sets))
    started = time.perf_counter()
    table, measured = plugin.build_latency_table(
        out,
        device=device,
        batch=batch,
        threads=threads,
        dtype=dtype,
        min_run_time=min_run_time,
        speed_reference=speed_reference,
    )
    seconds = time.perf_counter() - started
    info = {
        "out": str(out),
        "measured_on": table.describe(),
        "settings": table.settings,
        "entries": len(table.entries),
        "measured_now": measured,
        "kept": len(table.entries) - measured,
        "seconds": round(seconds, 2),
        "speed_reference": table.reference,
        "warnings": _build_warnings(table),
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        _warn_of_drift(info["warnings"], strict)
        return
    click.echo(f"measured on {table.describe()}")
    click.echo(f"space {table.space} {json.dumps(table.space_options, sort_keys=True)}")
    if table.reference:
        click.echo(
            f"speed reference: part {table.reference['part']}, "
            f"{_num(table.reference.get('median_ms'))} ms (median over the build)"
        )
    click.echo(
        f"{len(table.entries)} entries ({measured} measured now, {info['kept']} kept from "
        f"{out}) in {seconds:.1f} s; "
        + (f"wrote {out}" if measured else f"{out} was complete: nothing left to measure")
    )
    _warn_of_drift(info["warnings"], strict)


def _build_warnings(table: Any) -> list[str]:
    """Why a built table cannot be trusted, if it cannot (`archspace.speed_drift`)."""
    found = build_warning(table.entries, table.reference_ms, table.path)
    return [found] if found else []


def _warn_of_drift(warnings: Sequence[str], strict: bool) -> None:
    """Say loudly, last and on stderr, why a result cannot be trusted; with --strict,
    fail (exit 1) so that a script does not use it."""
    for warning in warnings:
        click.secho(f"WARNING: {warning}", err=True, fg="yellow", bold=True)
    if warnings and strict:
        raise RunFailed(
            "--strict: the machine's speed moved too much to trust this result (see the "
            "warning above)"
        )


@latency_group.command("check")
@click.option(
    "--lut",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The latency table to check.",
)
@click.option("--samples", default=20, show_default=True, type=int, help="Random subnets.")
@click.option(
    "--fit",
    default=0,
    show_default=True,
    type=int,
    help="Also fit latency = a * sum + b on this many further random networks (not the "
    "evaluated ones) and evaluate it on the others.",
)
@click.option("--save-fit", is_flag=True, help="Write the fitted correction into the table.")
@click.option("--no-presets", is_flag=True, help="Leave out the space's presets.")
@click.option(
    "--arch",
    "archs",
    multiple=True,
    help="Also measure this architecture (a run folder or architecture JSON of the "
    "table's space and options, or a preset). Repeatable.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--force", is_flag=True, help="Measure even on other settings than the table's.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for latency_check.json and latency_check.png [default: LUT's folder].",
)
@click.option("--min-run-time", default=0.2, show_default=True, type=float, help=MIN_RUN_TIME_HELP)
@click.option("--strict", is_flag=True, help=STRICT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@friendly_errors
def check_command(
    lut: Path,
    samples: int,
    fit: int,
    save_fit: bool,
    no_presets: bool,
    archs: tuple[str, ...],
    seed: int,
    force: bool,
    out_dir: Path | None,
    min_run_time: float,
    strict: bool,
    as_json: bool,
) -> None:
    """Measure networks end to end and compare them with the table's predictions.

    Builds SAMPLES random subnets plus the presets at the table's width, measures each
    on the table's device, threads, batch and dtype, and reports the mean absolute
    percentage error, the worst case, Spearman and Kendall rank correlations, and the
    same rank correlations for MACs as a predictor. Refuses a table measured on another
    device, CPU model, torch version or with more threads than here, unless --force.
    When the speed reference ran more than 1.5x slower or faster than during the build
    (or the table was built so), a warning says the result is unreliable and what to do
    (exit 1 with --strict).
    """
    from archspace.latency import LatencyTable
    from cli.plots import plot_latency_check

    for name, value, low in (("--samples", samples, 0), ("--fit", fit, 0)):
        if value < low:
            raise click.BadParameter(f"must be at least {low}", param_hint=name)
    if min_run_time <= 0:
        raise click.BadParameter("must be positive", param_hint="--min-run-time")
    if save_fit and fit < 2:
        raise click.BadParameter("needs --fit of at least 2 networks", param_hint="--save-fit")
    table = LatencyTable.load(lut)
    plugin = spaces.get(str(table.space))(**table.space_options)
    named = {arch: _arch_of(arch, plugin) for arch in archs}
    report = plugin.check_latency_table(
        table,
        samples=samples,
        seed=seed,
        include_presets=not no_presets,
        fit=fit,
        force=force,
        min_run_time=min_run_time,
        networks=named,
    )
    if report["networks_evaluated"] == 0:
        raise click.UsageError("nothing to check: give --samples or keep the presets")
    out_dir = out_dir or lut.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "latency_check.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    plot_path = plot_latency_check(report, out_dir / "latency_check.png")
    if save_fit and report["fit"]:
        fitted = report["fit"]
        table.correction = {
            "a": fitted["a"],
            "b": fitted["b"],
            "fitted_on_networks": fitted["fitted_on_networks"],
            "note": "latency = a * (sum of the parts' medians) + b, least squares on "
            "networks measured end to end (not those the check evaluated)",
            "check_accuracy": fitted["fit_accuracy"],
        }
        table.save()
    if as_json:
        click.echo(json.dumps({**report, "files": [str(json_path), str(plot_path)]}, indent=2))
        _warn_of_drift(report.get("warnings", []), strict)
        return
    _print_check(Console(), report)
    if report["mismatches_forced"]:
        click.echo("forced despite: " + "; ".join(report["mismatches_forced"]))
    if save_fit and report["fit"]:
        click.echo(
            f"saved the correction a={report['fit']['a']:.4g} b={report['fit']['b']:.4g} into {lut}"
        )
    click.echo(f"wrote {json_path} and {plot_path}")
    _warn_of_drift(report.get("warnings", []), strict)


def _arch_of(arch: str, plugin: Any) -> Genotype:
    """The genotype of ARCH, which must belong to the table's space and options."""
    # a preset or file at other options is refused below, naming the table's space
    found, genotype = resolve_arch(arch, plugin.name, keep_fixed=True, **plugin.options())
    if found.name != plugin.name or plain_json(found.options()) != plain_json(plugin.options()):
        raise click.BadParameter(
            f"{arch} is an architecture of {found.name} {json.dumps(found.options())}, "
            f"not of the table's space {plugin.name} {json.dumps(plugin.options())}",
            param_hint="--arch",
        )
    return genotype


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _print_check(console: Console, report: dict[str, Any]) -> None:
    table = Table(
        title=f"latency table vs {report['networks_evaluated']} networks measured end to end "
        f"({report['measured_on'].get('device_name')}, batch {report['measured_on'].get('batch')})"
    )
    for column in ("predictor", "MAPE %", "worst % (network)", "Spearman", "Kendall"):
        table.add_column(
            column, justify="left" if column.startswith(("pred", "worst")) else "right"
        )

    def row(label: str, found: dict[str, Any]) -> None:
        worst = found.get("worst")
        table.add_row(
            label,
            _num(found.get("mape_pct")),
            "–" if not worst else f"{worst['error_pct']:.3g} ({worst['network']})",
            _num(found.get("spearman")),
            _num(found.get("kendall")),
        )

    row(
        "table (sum of parts" + (", corrected)" if report["table_correction"] else ")"),
        report["table_predictor"],
    )
    if "wall_predictor" in report:
        row("table, against plain wall time", report["wall_predictor"])
    if "sum_predictor" in report:
        row("table, plain sum", report["sum_predictor"])
    if report.get("fit"):
        fitted = report["fit"]
        row(
            f"table + fit on {fitted['fitted_on_networks']} other networks",
            fitted["fit_accuracy"],
        )
    size = report["size_predictor"]
    table.add_row(
        f"{report['size_metric']} only", "–", "–", _num(size["spearman"]), _num(size["kendall"])
    )
    console.print(table)
    speed = report.get("speed_reference")
    if speed:
        console.print(
            f"measured latency is stated at the table's machine speed: the reference part "
            f"took {_num(speed['build_ms'])} ms during the build and {_num(speed['check_ms'])} "
            f"ms now ({speed['slower_now_pct']:+.1f}%)"
        )
