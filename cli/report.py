"""`archsearch report RUN_DIR`: a Markdown report with PNG plots of one run folder."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from archspace.files import write_text
from archspace.metrics import metric as metric_of
from archspace.units import format_count
from cli.budgets import format_cost
from cli.errors import BadInput, friendly_errors
from cli.rundata import (
    ARCHITECTURE_FILE,
    PLOT_FILES,
    REPORT_FILE,
    NotARunFolder,
    RunData,
    _ok,
    _unique,
    load_run,
)

# ---- Markdown ----------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.4f}" if abs(value) < 1000 else format_count(value)
    return str(value)


def _costs(costs: Mapping[str, Any] | None) -> str:
    if not costs:
        return "–"
    return ", ".join(f"{metric_of(k).title} {format_cost(k, float(v))}" for k, v in costs.items())


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return [*lines, ""]


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _summary_lines(data: RunData) -> list[str]:
    config = data.config
    budget_text = (
        " and ".join(
            f"{metric_of(metric).title} ≤ {format_cost(metric, bound)}"
            for metric, bound in data.budgets.items()
        )
        or "none"
    )
    options = config.get("space_options") or {}
    failed = sum(1 for e in data.evaluations if not _ok(e))
    seconds = sum(float(e.get("seconds") or 0.0) for e in data.evaluations)
    rows = [
        ("space", _code(str(config.get("space", (data.answer or {}).get("space", "?"))))),
        ("space options", _code(json.dumps(options, sort_keys=True)) if options else "defaults"),
        ("strategy", _code(str(config.get("strategy", (data.answer or {}).get("strategy", "?"))))),
        ("searcher", _code(str(config.get("searcher", "?")))),
        ("profile", _code(str(config.get("profile", "?")))),
        ("seed", str(config.get("seed", "?"))),
        ("budget", budget_text),
        (
            "stages",
            ", ".join(
                f"{s} ({'finished' if s in data.finished_stages else 'not finished'})"
                for s in data.stages
            )
            or "none started",
        ),
        ("evaluations", f"{len(data.evaluations)} ({failed} failed), {seconds:.3g} s evaluating"),
        ("retrained candidates", str(len(data.retrains))),
    ]
    return _table(("", ""), rows)


def _chosen_lines(data: RunData, layout: list[dict[str, Any]] | None, why: str | None) -> list[str]:
    chosen, how = data.chosen()
    title = "## Chosen architecture" if data.finished else "## Best architecture so far"
    lines = [title, ""]
    if chosen is None:
        return [*lines, "Nothing has been evaluated yet.", ""]
    if not data.finished:
        lines += [f"The run has not chosen an architecture yet; this is the one {how}.", ""]
    metrics = chosen.get("metrics") or {}
    lines += [f"- key: {_code(str(chosen.get('key')))}", f"- costs: {_costs(chosen.get('costs'))}"]
    if "val_top1" in metrics:
        lines.append(
            f"- val top-1 after retraining: {_fmt(metrics['val_top1'])} "
            "(used to choose among the retrained candidates)"
        )
    if "test_top1" in metrics:
        lines.append(
            f"- **test top-1 after retraining: {_fmt(metrics['test_top1'])}** "
            "(reported only, never used to choose)"
        )
    lines += [f"- {k}: {_fmt(v)}" for k, v in metrics.items() if k not in ("val_top1", "test_top1")]
    lines.append("")
    if layout is None:
        lines += [f"No per-block table: {why}.", ""]
        return lines
    from cli.plots import _plain_number  # matplotlib: imported when a report is written

    bars = _unique(label for b in layout for label in b.get("bars", {}))
    details = _unique(k for b in layout for k in b if k != "bars")
    rows = [
        (
            i,
            *(b.get("bars", {}).get(label, "–") for label in bars),
            *(_plain_number(b[k]) if b.get(k) is not None else "–" for k in details),
        )
        for i, b in enumerate(layout)
    ]
    lines += _table(("block", *bars, *details), rows)
    lines += [
        "A dash marks a choice that is inactive in that block (e.g. GLiT's kernel when "
        "the block has no local heads).",
        "",
    ]
    return lines


def _stage_lines(data: RunData) -> list[str]:
    lines = ["## Stages", ""]
    if not data.stages:
        return [*lines, "No stage has recorded anything yet.", ""]
    for stage in data.stages:
        rows = [e for e in data.evaluations if e["stage"] == stage]
        ok = [e for e in rows if _ok(e)]
        generations = [g for g in data.generations if g["stage"] == stage]
        state = "finished" if stage in data.finished_stages else "not finished"
        lines += [
            f"### Stage `{stage}` ({state})",
            "",
            f"- evaluations: {len(rows)} ({len(rows) - len(ok)} failed)",
            f"- generations: {len(generations)}",
        ]
        if ok:
            best = max(ok, key=lambda e: e["fitness"])
            lines.append(
                f"- best fitness: {_fmt(best['fitness'])} ({_code(best['key'])}, "
                f"{_costs(best.get('costs'))})"
            )
        kept = (data.stage_results.get(stage) or {}).get("best")
        if kept:
            lines.append(f"- kept: {_code(kept)}")
        lines.append("")
        retrained = [r for r in data.retrains if r["stage"] == stage]
        if retrained:
            fitness = {e["key"]: e["fitness"] for e in ok}
            table_rows = [
                (
                    (f"**{_code(r['key'])}**" if r["key"] == kept else _code(r["key"])),
                    _fmt(fitness.get(r["key"])),
                    _fmt(r["metrics"].get("val_top1")),
                    _fmt(r["metrics"].get("test_top1")),
                    _costs(r.get("costs")),
                )
                for r in retrained
            ]
            note = " (the kept one in bold)" if kept else ""
            lines += [f"Retrained candidates{note}:", ""]
            lines += _table(("key", "fitness", "val top-1", "test top-1", "costs"), table_rows)
    return lines


def _failure_lines(data: RunData) -> list[str]:
    failed = [e for e in data.evaluations if not _ok(e)]
    lines = ["## Failed evaluations", ""]
    if not failed:
        return [*lines, "None.", ""]
    first = failed[0]
    error = str(first.get("error") or "no error message recorded").strip()
    return [
        *lines,
        f"{len(failed)} evaluation(s) failed and were skipped by the search. "
        f"The first (stage `{first['stage']}`, key {_code(first['key'])}):",
        "",
        "```",
        error,
        "```",
        "",
    ]


def render_markdown(
    data: RunData, plots: Sequence[Path], layout: list[dict[str, Any]] | None, why: str | None
) -> str:
    """The report's text; `plots` are linked relative to the report."""
    config = data.config
    lines = [f"# Run report: {data.run_dir.name}", ""]
    if data.finished:
        lines += [
            f"The run finished: strategy `{config.get('strategy', '?')}` chose "
            f"{_code(str(data.answer.get('key')))}.",
            "",
        ]  # type: ignore[union-attr]
    else:
        lines += [
            "> **This run has not finished** (it is still running or was stopped; there "
            f"is no {ARCHITECTURE_FILE} yet). This report shows what it has recorded so "
            "far; resume the run to finish it.",
            "",
        ]
    lines += ["## Run summary", "", *_summary_lines(data)]
    lines += _chosen_lines(data, layout, why)
    lines += _stage_lines(data)
    lines += ["## Plots", ""]
    captions = {
        "accuracy_vs_cost.png": "Fitness of every successfully evaluated candidate against "
        "its cost, coloured by stage, with the Pareto front, the budget, the retrained "
        "candidates (circled) and the chosen architecture (star).",
        "fitness_per_generation.png": "Best fitness found so far and mean fitness of each "
        "generation, stage after stage.",
        "architecture.png": "The architecture block by block: global and local heads, with "
        "the active details above each bar.",
    }
    for plot in plots:
        lines += [
            f"![{plot.stem.replace('_', ' ')}]({plot.name})",
            "",
            f"*{captions.get(plot.name, '')}*",
            "",
        ]
    lines += _failure_lines(data)
    lines += [
        "## How to read the numbers",
        "",
        "- **Fitness** is the search-validation top-1 of a candidate with weights inherited "
        "from the stage's supernet, measured during the search. It ranks candidates within a "
        "stage; it is not the accuracy of a trained model, and stages with different "
        "supernets give fitness on different scales.",
        "- **val top-1** is measured on the same search-validation split after retraining a "
        "candidate from scratch; it picks the kept candidate of a stage.",
        "- **test top-1** comes from retraining too and is only reported, never used to choose.",
        "",
    ]
    return "\n".join(lines)


def write_report(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Write report.md and its PNG plots for `run_dir`; return the Markdown's path."""
    # imported here, not at the top: matplotlib takes a second to import, which every
    # command (a refused flag included) would otherwise pay at start
    from cli.plots import (
        block_layout,
        plot_accuracy_vs_cost,
        plot_architecture,
        plot_fitness_per_generation,
    )

    data = load_run(Path(run_dir))
    out = Path(out_dir) if out_dir is not None else data.run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    layout, why = block_layout(data)
    plots = [
        plot_accuracy_vs_cost(data, out / PLOT_FILES[0]),
        plot_fitness_per_generation(data, out / PLOT_FILES[1]),
        plot_architecture(data, out / PLOT_FILES[2]),
    ]
    report = out / REPORT_FILE
    write_text(report, render_markdown(data, plots, layout, why))
    return report


# ---- command -----------------------------------------------------------------------------


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=True, dir_okay=True))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help="Where to write the report [default: RUN_DIR/report].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the written paths as JSON.")
@friendly_errors
def report_command(run_dir: Path, out_dir: Path | None, as_json: bool) -> None:
    """Write a Markdown report with plots of a run folder (finished, running or stopped),
    or of a comparison over seeds (`compare --seeds N`: its table and plot).

    The report holds the run's settings, the chosen architecture with its costs and
    retrained top-1, a summary per stage, failed evaluations, and three plots: fitness
    against cost with the Pareto front, fitness per generation, and the architecture
    block by block.

    \b
    Examples:
      archsearch report runs/my-run
      archsearch report runs/my-run --out reports/my-run --json
    """
    from studies.seeds import STUDY_FILE, rewrite_study

    if (run_dir / STUDY_FILE).exists():  # a comparison over seeds: its table and plot
        paths = rewrite_study(run_dir, out_dir or run_dir)
        if as_json:
            click.echo(json.dumps({"report": str(paths[0]), "files": [str(p) for p in paths]}))
        else:
            click.echo(f"wrote {', '.join(str(p) for p in paths)}")
        return
    try:
        report = write_report(run_dir, out_dir)
    except NotARunFolder as error:
        raise BadInput(f"cannot report on RUN_DIR: {error}.") from error
    plots = [str(report.parent / name) for name in PLOT_FILES]
    if as_json:
        click.echo(json.dumps({"report": str(report), "plots": plots}, indent=2))
    else:
        click.echo(f"wrote {report} and {len(plots)} plots in {report.parent}")
