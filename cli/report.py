"""`archsearch report RUN_DIR`: a Markdown report with PNG plots of one run folder.

The report reads only the run folder (config.json, architecture.json and the run store,
opened read-only), so it works on a finished run, on one still in progress and on one
that was killed. Plots are drawn on `matplotlib.figure.Figure` objects with the Agg
canvas, never through pyplot: no window opens, no global state is touched, and reports
can be written from several threads at once.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from archspace import load_space
from archspace.units import format_count
from cli.errors import BadInput, friendly_errors
from strategies.store import RunStore

# The file names `strategies.run` writes; repeated here so that reading a run needs only
# the store, not the search machinery.
CONFIG_FILE = "config.json"
ARCHITECTURE_FILE = "architecture.json"
REPORT_FILE = "report.md"
PLOT_FILES = ("accuracy_vs_cost.png", "fitness_per_generation.png", "architecture.png")

FITNESS_LABEL = "fitness: supernet search-validation top-1"
METRIC_NAMES = {"macs": "MACs", "params": "parameters", "flops": "FLOPs", "cost": "cost"}
DETAIL_ABBREVIATIONS = {"kernel": "k", "expansion": "e", "qkv": "qkv", "ffn": "ffn"}
SCALES = (("G", 1e9), ("M", 1e6), ("K", 1e3))
DPI = 120


class NotARunFolder(FileNotFoundError):
    """RUN_DIR lacks the run store: nothing to report (exit code 2 from the command)."""


@dataclass
class RunData:
    """Everything the report shows, read once so the plots and the text agree."""

    run_dir: Path
    config: dict[str, Any]
    answer: dict[str, Any] | None
    evaluations: list[dict[str, Any]]
    generations: list[dict[str, Any]]
    retrains: list[dict[str, Any]]
    finished_stages: list[str]
    stage_results: dict[str, dict[str, Any]]
    stages: list[str] = field(default_factory=list)
    plugin: Any = None
    plugin_error: str | None = None

    @property
    def finished(self) -> bool:
        return self.answer is not None

    @property
    def budget(self) -> float | None:
        value = self.config.get("budget")
        return None if value is None else float(value)

    @property
    def metric(self) -> str | None:
        """The budget metric: the configured one, else the plugin's first, else the first seen."""
        if self.config.get("budget_metric"):
            return str(self.config["budget_metric"])
        if self.plugin is not None and getattr(self.plugin, "metrics", None):
            return str(self.plugin.metrics[0])
        for row in [*self.evaluations, *self.retrains]:
            if row.get("costs"):
                return str(next(iter(row["costs"])))
        return None

    def chosen(self) -> tuple[dict[str, Any] | None, str]:
        """The chosen architecture, or for an unfinished run the best so far (and which)."""
        if self.answer is not None:
            return self.answer, "chosen"
        for stage in reversed(self.finished_stages):
            result = self.stage_results.get(stage) or {}
            if "genotype" in result:
                return {
                    "key": result.get("best"),
                    "genotype": result["genotype"],
                    "costs": result.get("costs", {}),
                    "metrics": result.get("metrics", {}),
                    "stage": stage,
                }, f"kept by finished stage {stage!r} (provisional)"
        retrained = [r for r in self.retrains if "val_top1" in (r.get("metrics") or {})]
        if retrained:
            best = max(retrained, key=lambda r: r["metrics"]["val_top1"])
            return {**best}, (
                f"retrained in stage {best['stage']!r} with the best val top-1 so far (provisional)"
            )
        ok = [e for e in self.evaluations if _ok(e)]
        if ok:
            last_stage = ok[-1]["stage"]
            best = max((e for e in ok if e["stage"] == last_stage), key=lambda e: e["fitness"])
            return {
                "key": best["key"],
                "genotype": best["genotype"],
                "costs": best["costs"],
                "metrics": {},
                "stage": last_stage,
            }, (f"best evaluated so far in stage {last_stage!r} (provisional, not retrained)")
        return None, "none yet"


def _ok(evaluation: Mapping[str, Any]) -> bool:
    fitness = evaluation.get("fitness")
    return (
        evaluation.get("status", "ok") == "ok"
        and fitness is not None
        and math.isfinite(float(fitness))
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file, or None when it is missing or half-written (a killed run)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_run(run_dir: Path) -> RunData:
    """Read a run folder; NotARunFolder when it has no run store."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotARunFolder(f"{run_dir} does not exist or is not a folder")
    if not (run_dir / "runs.sqlite").exists():
        raise NotARunFolder(
            f"{run_dir} is not a run folder: it has no runs.sqlite; give the folder a "
            "search wrote, the one holding config.json and runs.sqlite"
        )
    with RunStore(run_dir, readonly=True) as store:
        config = _read_json(run_dir / CONFIG_FILE) or store.meta("config") or {}
        answer = _read_json(run_dir / ARCHITECTURE_FILE)  # written last: the run finished
        finished_stages = store.stages()
        data = RunData(
            run_dir=run_dir,
            config=config,
            answer=answer,
            evaluations=store.evaluations(),
            generations=store.generations(),
            retrains=store.retrains(),
            finished_stages=finished_stages,
            stage_results={s: store.stage_result(s) or {} for s in finished_stages},
        )
        plugin_options = store.meta("plugin_options")
    data.stages = _unique(
        [
            *finished_stages,
            *(e["stage"] for e in data.evaluations),
            *(g["stage"] for g in data.generations),
            *(r["stage"] for r in data.retrains),
        ]
    )
    space = (answer or {}).get("space") or config.get("space")
    options = (
        (answer or {}).get("space_options") or plugin_options or config.get("space_options") or {}
    )
    if space:
        try:
            data.plugin = load_space(space, **options)
        except Exception as error:  # the report still shows everything else
            data.plugin_error = f"{type(error).__name__}: {error}"
    return data


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---- plots -------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


def _scale(values: Sequence[float]) -> tuple[str, float]:
    """A suffix and divisor that keep axis numbers short (MACs in M rather than 1e8)."""
    top = max((abs(v) for v in values), default=0.0)
    for suffix, divisor in SCALES:
        if top >= divisor:
            return suffix, divisor
    return "", 1.0


def _axis_label(metric: str, suffix: str) -> str:
    name = METRIC_NAMES.get(metric, metric)
    return f"{name} ({suffix})" if suffix else name


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """(cost, fitness) points no other point beats: cheaper-or-equal and fitter."""
    front: list[tuple[float, float]] = []
    for cost, fitness in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or fitness > front[-1][1]:
            front.append((cost, fitness))
    return front


def _stage_colour(data: RunData, stage: str) -> str:
    return f"C{data.stages.index(stage) % 10}" if stage in data.stages else "C7"


def _note(axes: Any, text: str) -> None:
    axes.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=axes.transAxes,
        fontsize=11,
        color="0.35",
        wrap=True,
    )


def plot_accuracy_vs_cost(data: RunData, path: Path) -> Path:
    """Every successful evaluation, the Pareto front, the budget, retrained and chosen."""
    figure = _figure(8.5, 5.6)
    axes = figure.add_subplot()
    metric = data.metric
    ok = [e for e in data.evaluations if _ok(e) and metric in (e.get("costs") or {})]
    costs = [float(e["costs"][metric]) for e in ok]
    budget = data.budget
    retrained_costs = [float(r["costs"][metric]) for r in data.retrains if metric in r["costs"]]
    suffix, divisor = _scale([*costs, *retrained_costs, *([budget] if budget is not None else [])])
    axes.set_title(
        f"Fitness vs {METRIC_NAMES.get(metric or '', metric or 'cost')} "
        f"({len(ok)} evaluated candidates)"
    )
    axes.set_xlabel(_axis_label(metric or "cost", suffix))
    axes.set_ylabel(FITNESS_LABEL)
    axes.grid(True, alpha=0.3)
    if not ok and not retrained_costs:
        _note(axes, "no successful evaluations recorded yet")
    for stage in data.stages:
        rows = [(c, e["fitness"]) for c, e in zip(costs, ok) if e["stage"] == stage]
        if rows:
            axes.scatter(
                [c / divisor for c, _ in rows],
                [f for _, f in rows],
                s=16,
                alpha=0.6,
                color=_stage_colour(data, stage),
                label=f"stage {stage} ({len(rows)})",
                linewidths=0,
            )
    if ok:
        front = pareto_front(zip(costs, (e["fitness"] for e in ok)))
        xs = [c / divisor for c, _ in front] + [max(costs) / divisor]
        ys = [f for _, f in front] + [front[-1][1]]
        axes.step(
            xs,
            ys,
            where="post",
            color="0.15",
            linewidth=1.3,
            label=f"Pareto front, all stages ({len(front)})",
        )
    if budget is not None:
        axes.axvline(
            budget / divisor,
            color="crimson",
            linestyle="--",
            linewidth=1.2,
            label=f"budget: {METRIC_NAMES.get(metric or '', metric)} ≤ {format_count(budget)}",
        )
    by_stage_key = {(e["stage"], e["key"]): e for e in ok}
    by_key = {e["key"]: e for e in ok}
    evaluated, unevaluated = [], []
    for retrain in data.retrains:
        point = by_stage_key.get((retrain["stage"], retrain["key"]))
        if point is not None:
            evaluated.append((float(point["costs"][metric]), point["fitness"]))
        elif metric in retrain.get("costs", {}) and "val_top1" in retrain.get("metrics", {}):
            unevaluated.append((float(retrain["costs"][metric]), retrain["metrics"]["val_top1"]))
    if evaluated:
        axes.scatter(
            [c / divisor for c, _ in evaluated],
            [f for _, f in evaluated],
            s=90,
            facecolors="none",
            edgecolors="black",
            linewidths=1.4,
            label=f"retrained ({len(evaluated)})",
        )
    if unevaluated:
        axes.scatter(
            [c / divisor for c, _ in unevaluated],
            [f for _, f in unevaluated],
            s=60,
            marker="D",
            facecolors="none",
            edgecolors="black",
            label=f"retrained, not searched: val top-1 ({len(unevaluated)})",
        )
        if not ok:  # e.g. the random baseline: no supernet, so no fitness at all
            axes.set_ylabel("val top-1 after retraining (nothing searched)")
            axes.set_title(f"Retrained val top-1 vs {METRIC_NAMES.get(metric or '', metric)}")
    chosen, _ = data.chosen()
    if chosen is not None:
        key = chosen.get("key")
        point = by_stage_key.get((chosen.get("stage"), key)) or by_key.get(key)
        if point is None:
            point = next((e for e in reversed(ok) if e["key"] == key), None)
        if point is not None:
            x, y = float(point["costs"][metric]), point["fitness"]
        elif metric in chosen.get("costs", {}) and "val_top1" in chosen.get("metrics", {}):
            x, y = float(chosen["costs"][metric]), chosen["metrics"]["val_top1"]
        else:
            x = y = None
        if x is not None:
            label = "chosen" if data.finished else "best so far"
            axes.scatter(
                [x / divisor],
                [y],
                s=260,
                marker="*",
                color="gold",
                edgecolors="black",
                linewidths=1.0,
                zorder=5,
                label=label,
            )
    axes.margins(x=0.06, y=0.08)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    return _save(figure, path)


def _generation_values(record: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Best and mean fitness of one generation record, tolerant of missing fields."""
    fitnesses = [
        f for f in record.get("fitnesses") or [] if f is not None and math.isfinite(float(f))
    ]
    best = record.get("best_fitness", record.get("best"))
    mean = record.get("mean_fitness", record.get("mean"))
    if not isinstance(best, (int, float)):
        best = max(fitnesses) if fitnesses else None
    if not isinstance(mean, (int, float)):
        mean = sum(fitnesses) / len(fitnesses) if fitnesses else None
    return best, mean


def plot_fitness_per_generation(data: RunData, path: Path) -> Path:
    """Best and mean fitness per generation; stages side by side on one axis."""
    figure = _figure(8.5, 4.8)
    axes = figure.add_subplot()
    axes.set_title("Fitness per generation")
    axes.set_xlabel("generation within each stage (stages left to right)")
    axes.set_ylabel(FITNESS_LABEL)
    axes.grid(True, alpha=0.3)
    offset = 0
    drawn = False
    ticks: list[tuple[int, str]] = []
    for stage in data.stages:
        records = sorted(
            (g for g in data.generations if g["stage"] == stage),
            key=lambda g: g.get("generation", 0),
        )
        if not records:
            continue
        values = [_generation_values(r) for r in records]
        xs = [offset + i for i in range(len(records))]
        ticks += [(x, str(r.get("generation", i))) for i, (x, r) in enumerate(zip(xs, records))]
        colour = _stage_colour(data, stage)
        best = [(x, b) for x, (b, _) in zip(xs, values) if b is not None]
        mean = [(x, m) for x, (_, m) in zip(xs, values) if m is not None]
        if best:
            axes.plot(
                *zip(*best), color=colour, marker="o", markersize=4, label=f"{stage}: best so far"
            )
        if mean:
            axes.plot(*zip(*mean), color=colour, linestyle="--", marker=".", label=f"{stage}: mean")
        if drawn:
            axes.axvline(offset - 0.5, color="0.4", linestyle=":", linewidth=1)
        axes.text(
            offset - 0.3,
            0.98,
            stage,
            transform=axes.get_xaxis_transform(),
            va="top",
            ha="left",
            fontsize=9,
            color=colour,
            fontweight="bold",
        )
        offset += len(records)
        drawn = True
    if drawn:
        step = math.ceil(len(ticks) / 20)  # keep the tick labels readable
        axes.set_xticks([x for x, _ in ticks[::step]], [t for _, t in ticks[::step]])
        axes.margins(y=0.15)
        axes.legend(fontsize=8, loc="best")
    else:
        _note(
            axes,
            "no generations recorded (the strategy has no search stage,\n"
            "or the run stopped before its first generation)",
        )
    return _save(figure, path)


def block_layout(data: RunData) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The chosen (or best-so-far) architecture's per-block layout, or why there is none."""
    chosen, _ = data.chosen()
    if chosen is None:
        return None, "no architecture chosen or evaluated yet"
    if data.plugin is None:
        return None, f"the space could not be loaded ({data.plugin_error or 'unknown space'})"
    try:
        genotype = data.plugin.space.from_dict(chosen["genotype"])
        layout = data.plugin.block_layout(genotype)
    except Exception as error:
        return None, f"the architecture could not be decoded ({type(error).__name__}: {error})"
    if layout is None:
        return None, f"space {data.plugin.name!r} has no block structure to draw"
    return layout, None


def _details(block: Mapping[str, Any]) -> list[str]:
    return [
        f"{DETAIL_ABBREVIATIONS.get(k, k + '=')}{_plain_number(v)}"
        for k, v in block.items()
        if k not in ("global", "local") and v is not None
    ]


def _plain_number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot_architecture(data: RunData, path: Path) -> Path:
    """Per block a stacked bar of global and local heads with its details (GLiT Fig. 5)."""
    layout, why = block_layout(data)
    blocks = len(layout or [])
    figure = _figure(max(7.0, 0.55 * blocks + 2.5), 4.6)
    axes = figure.add_subplot()
    chosen, _ = data.chosen()
    title = "Chosen architecture" if data.finished else "Best architecture so far (provisional)"
    key = (chosen or {}).get("key")
    axes.set_title(f"{title}: {key}" if key else title, fontsize=10)
    if layout is None:
        _note(axes, f"nothing to draw: {why}")
        axes.set_axis_off()
        return _save(figure, path)
    xs = list(range(blocks))
    globals_ = [float(b.get("global") or 0) for b in layout]
    locals_ = [float(b.get("local") or 0) for b in layout]
    axes.bar(
        xs, globals_, color="#d9544d", label="global heads (self-attention)", edgecolor="white"
    )
    axes.bar(
        xs,
        locals_,
        bottom=globals_,
        color="#4c8dc9",
        label="local heads (convolution)",
        edgecolor="white",
    )
    tallest = max((g + lo for g, lo in zip(globals_, locals_)), default=1.0) or 1.0
    most_lines = max((len(_details(b)) for b in layout), default=0)
    for x, block, g, lo in zip(xs, layout, globals_, locals_):
        lines = _details(block)
        if lines:
            axes.text(
                x,
                g + lo + 0.04 * tallest,
                "\n".join(lines),
                ha="center",
                va="bottom",
                fontsize=7,
                color="0.2",
                linespacing=1.1,
            )
    axes.set_ylim(0, tallest * (1.15 + 0.11 * most_lines))
    axes.set_xticks(xs, [str(x) for x in xs])
    axes.set_xlim(-0.6, blocks - 0.4)
    axes.set_xlabel("block")
    axes.set_ylabel("heads")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(fontsize=8, loc="upper right", ncols=2)
    return _save(figure, path)


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
    return ", ".join(f"{METRIC_NAMES.get(k, k)} {format_count(float(v))}" for k, v in costs.items())


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return [*lines, ""]


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _summary_lines(data: RunData) -> list[str]:
    config = data.config
    budget = data.budget
    metric = data.metric or "cost"
    budget_text = (
        f"{METRIC_NAMES.get(metric, metric)} ≤ {format_count(budget)}"
        if budget is not None
        else "none"
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
    details = _unique(k for b in layout for k in b if k not in ("global", "local"))
    rows = [
        (
            i,
            b.get("global", "–"),
            b.get("local", "–"),
            *(_plain_number(b[k]) if b.get(k) is not None else "–" for k in details),
        )
        for i, b in enumerate(layout)
    ]
    lines += _table(("block", "global heads", "local heads", *details), rows)
    lines += [
        "A dash marks a choice that is inactive in that block (e.g. no kernel when "
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


def _write_text(path: Path, text: str) -> None:
    """Write via a temporary file so a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Write report.md and its PNG plots for `run_dir`; return the Markdown's path."""
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
    _write_text(report, render_markdown(data, plots, layout, why))
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
    """Write a Markdown report with plots of a run folder (finished, running or stopped).

    The report holds the run's settings, the chosen architecture with its costs and
    retrained top-1, a summary per stage, failed evaluations, and three plots: fitness
    against cost with the Pareto front, fitness per generation, and the architecture
    block by block.

    \b
    Examples:
      archsearch report runs/my-run
      archsearch report runs/my-run --out reports/my-run --json
    """
    try:
        report = write_report(run_dir, out_dir)
    except NotARunFolder as error:
        raise BadInput(f"cannot report on RUN_DIR: {error}.") from error
    plots = [str(report.parent / name) for name in PLOT_FILES]
    if as_json:
        click.echo(json.dumps({"report": str(report), "plots": plots}, indent=2))
    else:
        click.echo(f"wrote {report} and {len(plots)} plots in {report.parent}")
