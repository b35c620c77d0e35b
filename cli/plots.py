"""The report's PNG plots: fitness vs cost with the Pareto front, fitness per generation,
and the chosen architecture block by block (as in the GLiT paper's Figure 5).

Drawn on `matplotlib.figure.Figure` objects with the Agg canvas, never through pyplot:
no window opens, no global state is touched, and reports can be written from several
threads at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from archspace.metrics import metric as metric_of
from cli.budgets import format_cost
from cli.rundata import (
    DETAIL_ABBREVIATIONS,
    DPI,
    FITNESS_LABEL,
    SCALES,
    RunData,
    _ok,
)

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
    declared = metric_of(metric)
    if declared.unit:
        return declared.axis_label()
    return f"{declared.title} ({suffix})" if suffix else declared.title


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
    retrained_costs = [float(r["costs"][metric]) for r in data.retrains if metric in r["costs"]]
    suffix, divisor = _cost_scale(metric, [*costs, *retrained_costs], data.budget)
    axes.set_title(
        f"Fitness vs {metric_of(metric or 'cost').title} ({len(ok)} evaluated candidates)"
    )
    axes.set_xlabel(_axis_label(metric or "cost", suffix))
    axes.set_ylabel(FITNESS_LABEL)
    axes.grid(True, alpha=0.3)
    if not ok and not retrained_costs:
        _note(axes, "no successful evaluations recorded yet")
    _plot_stages(axes, data, ok, costs, divisor)
    if ok:
        _plot_front(axes, ok, costs, divisor)
    if data.budget is not None:
        _plot_budget(axes, metric, data.budget, divisor)
    _plot_retrained(axes, data, ok, metric, divisor)
    chosen = _chosen_point(data, ok, metric)
    if chosen is not None:
        axes.scatter(
            [chosen[0] / divisor],
            [chosen[1]],
            s=260,
            marker="*",
            color="gold",
            edgecolors="black",
            linewidths=1.0,
            zorder=5,
            label="chosen" if data.finished else "best so far",
        )
    axes.margins(x=0.06, y=0.08)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    return _save(figure, path)


def _cost_scale(metric: str | None, costs: list[float], budget: float | None) -> tuple[str, float]:
    """The cost axis's suffix and divisor: a metric with a unit stays in its unit."""
    if metric_of(metric or "cost").unit:
        return "", 1.0
    return _scale([*costs, *([budget] if budget is not None else [])])


def _plot_stages(
    axes: Any, data: RunData, ok: list[dict], costs: list[float], divisor: float
) -> None:
    """The evaluated candidates, one colour per stage."""
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


def _plot_front(axes: Any, ok: list[dict], costs: list[float], divisor: float) -> None:
    """The Pareto front over all stages, as a step line to the dearest candidate."""
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


def _plot_budget(axes: Any, metric: str | None, budget: float, divisor: float) -> None:
    axes.axvline(
        budget / divisor,
        color="crimson",
        linestyle="--",
        linewidth=1.2,
        label=f"budget: {metric_of(metric or 'cost').title} ≤ {format_cost(metric or '', budget)}",
    )


def _plot_retrained(
    axes: Any, data: RunData, ok: list[dict], metric: str | None, divisor: float
) -> None:
    """Retrained candidates: ringed where the search scored them, else (e.g. the random
    baseline, which has no supernet) at their retrained val top-1."""
    by_stage_key = {(e["stage"], e["key"]): e for e in ok}
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
            axes.set_title(f"Retrained val top-1 vs {metric_of(metric or 'cost').title}")


def _chosen_point(data: RunData, ok: list[dict], metric: str | None) -> tuple[float, float] | None:
    """(cost, fitness) of the chosen architecture (or the best so far): its search
    score where it was evaluated, else its retrained val top-1; None if neither."""
    chosen, _ = data.chosen()
    if chosen is None:
        return None
    key = chosen.get("key")
    by_stage_key = {(e["stage"], e["key"]): e for e in ok}
    by_key = {e["key"]: e for e in ok}
    point = by_stage_key.get((chosen.get("stage"), key)) or by_key.get(key)
    if point is not None:
        return float(point["costs"][metric]), point["fitness"]
    if metric in chosen.get("costs", {}) and "val_top1" in chosen.get("metrics", {}):
        return float(chosen["costs"][metric]), chosen["metrics"]["val_top1"]
    return None


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
        if k != "bars" and v is not None
    ]


def _plain_number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot_architecture(data: RunData, path: Path) -> Path:
    """Per block a stacked bar of the layout's "bars" (GLiT: global and local heads, as
    the paper's Fig. 5) with the block's other choices printed above it."""
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
    labels = list(dict.fromkeys(label for b in layout for label in b.get("bars", {})))
    colours = ["#d9544d", "#4c8dc9", "#6aa84f", "#e69138", "#8e7cc3"]
    bottoms = [0.0] * blocks
    for k, label in enumerate(labels):
        heights = [float(b.get("bars", {}).get(label) or 0) for b in layout]
        axes.bar(
            xs,
            heights,
            bottom=bottoms,
            color=colours[k % len(colours)],
            label=label,
            edgecolor="white",
        )
        bottoms = [lo + h for lo, h in zip(bottoms, heights)]
    tallest = max(bottoms, default=1.0) or 1.0
    most_lines = max((len(_details(b)) for b in layout), default=0)
    for x, block, top in zip(xs, layout, bottoms):
        lines = _details(block)
        if lines:
            axes.text(
                x,
                top + 0.04 * tallest,
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
    axes.yaxis.get_major_locator().set_params(integer=True)
    if labels:
        axes.legend(fontsize=8, loc="upper right", ncols=2)
    return _save(figure, path)


# ---- latency table checks -------------------------------------------------------------


def plot_latency_check(report: Mapping[str, Any], path: str | Path) -> Path:
    """Predicted (table) vs measured, and the size metric (MACs) vs measured, side by side."""
    rows = [r for r in report["networks"] if r["set"] == "eval"]
    metric = report["size_metric"]
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no window, no global state
    left, right = figure.subplots(1, 2)
    measured = [r["measured_ms"] for r in rows]
    predicted = [r["predicted_ms"] for r in rows]
    table = report["table_predictor"]
    left.scatter(predicted, measured, s=18, label="table")
    if report.get("fit"):
        left.scatter(
            [r["fitted_ms"] for r in rows], measured, s=14, marker="x", label="table + fit"
        )
    if measured:
        low = min(min(measured), min(predicted))
        high = max(max(measured), max(predicted))
        left.plot([low, high], [low, high], color="grey", linewidth=1, label="y = x")
    left.set_xlabel("predicted latency (ms)")
    left.set_ylabel("measured latency (ms)")
    left.set_title(
        f"table: MAPE {_maybe(table['mape_pct'])}%, Spearman {_maybe(table['spearman'])}, "
        f"Kendall {_maybe(table['kendall'])}",
        fontsize=10,
    )
    left.legend(fontsize=8)
    size = report["size_predictor"]
    right.scatter([r[metric] for r in rows], measured, s=18, color="tab:green")
    right.set_xlabel(metric)
    right.set_ylabel("measured latency (ms)")
    right.set_title(
        f"{metric} only: Spearman {_maybe(size['spearman'])}, Kendall {_maybe(size['kendall'])}",
        fontsize=10,
    )
    settings = report["measured_on"]
    figure.suptitle(
        f"latency table check on {settings.get('device_name')} ({settings.get('device_kind')}), "
        f"batch {settings.get('batch')}, {settings.get('threads')} threads",
        fontsize=11,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def _maybe(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"
