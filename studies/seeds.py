"""Comparisons over seeds (`archsearch compare --seeds N`): every arm (strategy x
searcher) over N seeds.

Each (arm, seed) is a complete run in its own folder (`ARM/sS`), so a killed
comparison resumes where it stopped: a finished run leaves `trajectory.json` (every
evaluation's fitness in order, the final metrics and costs) and is never rerun. The
summary treats results as distributions: per arm mean, standard deviation and 95%
confidence interval, tests against the best arm and the random baseline (Welch's t and
Mann-Whitney U).

What is summarised depends on the space. Where it knows its optimum (tabular and
synthetic spaces) the quantity is regret, at the end and after 50, 100, 200 and 500
evaluations, plotted as best-so-far curves with bands. A one-shot space knows no
optimum and its arms' fitnesses come from different supernets (random has none), so
the quantities are the chosen architecture's retrained test and search-val top-1 and
its costs, plotted per arm and against cost.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspace import load_space
from archspace.files import write_json
from archspace.metrics import metric as metric_of
from strategies.run import RunConfig, start_run
from strategies.statistics import Summary, best_of, best_so_far, compare_to
from strategies.store import RunStore

STUDY_FILE = "study.json"
TRAJECTORY_FILE = "trajectory.json"
CHECKPOINTS = (50, 100, 200, 500)


def run_one(label: str, config: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """One (arm, seed) run; its trajectory is written atomically when it finishes."""
    folder = Path(run_dir)
    done = folder / TRAJECTORY_FILE
    if done.exists():
        return json.loads(done.read_text())
    result = start_run(RunConfig.from_dict(config), folder)
    with RunStore(folder, readonly=True) as store:
        fitnesses = [e["fitness"] for e in store.evaluations()]
        training = training_of(store)
    record = {
        "arm": label,
        "seed": config["seed"],
        "fitnesses": fitnesses,
        "metrics": result.metrics,
        "costs": result.costs,
        "key": result.genotype.key,
        "training": {**training, "seconds": result.seconds},
    }
    write_json(done, record, indent=1)
    return record


def training_of(store: RunStore) -> dict[str, float]:
    """Images a run trained on: its supernets' (every stage's) and its retrainings' (the
    one-shot workbench records both; a space without training has neither), so that a
    comparison shows whether its arms had equal training budgets."""
    supernets = [store.meta(f"supernet:{stage}") or {} for stage in store.stages()]
    retrains = [r["metrics"] for r in store.retrains()]
    if not any("images" in s for s in supernets) and not any("train_images" in m for m in retrains):
        return {}  # nothing trained, or recorded by a version that did not count
    supernet = float(sum(s.get("images", 0) for s in supernets))
    retrain = float(sum(m.get("train_images", 0) for m in retrains))
    return {"supernet_images": supernet, "retrain_images": retrain, "images": supernet + retrain}


def run_study(
    arms: Mapping[str, RunConfig],
    seeds: Sequence[int],
    folder: Path,
    *,
    jobs: int = 1,
    say: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """Run every arm for every seed (`jobs` processes), resuming finished ones."""
    tasks = [
        (label, dataclasses.replace(config, seed=seed).to_dict(), str(folder / label / f"s{seed}"))
        for label, config in arms.items()
        for seed in seeds
    ]
    folder.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    step = max(1, len(tasks) // 10)
    if jobs <= 1:
        for task in tasks:
            records.append(run_one(*task))
            if len(records) % step == 0 or len(records) == len(tasks):
                say(f"{len(records)}/{len(tasks)} runs done")
        return records
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, *task) for task in tasks]
        for future in futures:
            records.append(future.result())
            if len(records) % step == 0 or len(records) == len(tasks):
                say(f"{len(records)}/{len(tasks)} runs done")
    return records


#: what a run trained, by record key and title (see `training_of`)
TRAINING = {
    "supernet_images": "supernet images",
    "retrain_images": "retrained images",
    "images": "images in all",
    "seconds": "wall s",
}

#: final metrics summarised when the space knows no optimum (the first one leads)
RETRAINED_METRICS = ("test_top1", "val_top1")


def summarise(
    records: Sequence[dict[str, Any]],
    optimum: float | None,
    metric: str = "test_top1",
    baseline: str | None = "random",
) -> dict[str, Any]:
    """Per arm statistics of the final metric and, where the space knows its optimum, of
    best-so-far at the checkpoints; without one, of every retrained metric and the
    chosen costs. Each is tested against the best arm and against `baseline` (when it
    is an arm)."""
    arms = list(dict.fromkeys(r["arm"] for r in records))
    baseline = baseline if baseline in arms else None
    longest = max(len(r["fitnesses"]) for r in records)
    if optimum is None:  # supernet fitnesses of different arms are not comparable
        points: list[int] = []
    else:
        points = [n for n in CHECKPOINTS if n <= longest] or [longest]

    def value(record: dict[str, Any], at: int | None) -> float:
        if at is None:
            final = record["metrics"].get(metric)
            found = final if final is not None else best_so_far(record["fitnesses"])[-1]
        else:
            curve = best_so_far(record["fitnesses"])
            found = curve[min(at, len(curve)) - 1]
        found = math.nan if found is None else float(found)
        return (optimum - found) * scale if optimum is not None else found

    lower = optimum is not None  # regret: lower is better
    # accuracies held as fractions are reported in accuracy points (0.1 = 0.001 of 1)
    scale = 100.0 if optimum is not None and 0.0 < optimum <= 1.0 else 1.0
    table: dict[str, Any] = {}
    for at in [None, *points]:
        samples = {arm: [value(r, at) for r in records if r["arm"] == arm] for arm in arms}
        table["final" if at is None else str(at)] = _section(samples, lower, baseline)
    if optimum is None:
        for other in RETRAINED_METRICS:
            if other != metric and all(other in r["metrics"] for r in records):
                samples = {
                    arm: [float(r["metrics"][other]) for r in records if r["arm"] == arm]
                    for arm in arms
                }
                table[f"final:{other}"] = _section(samples, False, baseline)
    costs = sorted({name for r in records for name in r.get("costs") or {}})
    trained = [name for name in TRAINING if any(name in (r.get("training") or {}) for r in records)]
    return {
        "quantity": "regret" if lower else metric,
        "baseline": baseline,
        "unit": "accuracy points" if scale == 100.0 else "fitness units",
        "scale": scale,
        "optimum": optimum,
        "metric": metric,
        "seeds": sorted({r["seed"] for r in records}),
        "checkpoints": points,
        "table": table,
        "costs": {name: _per_arm(records, arms, "costs", name) for name in costs},
        "training": {name: _per_arm(records, arms, "training", name) for name in trained},
    }


def _per_arm(
    records: Sequence[dict[str, Any]], arms: Sequence[str], field: str, name: str
) -> dict[str, Any]:
    """Per arm the summary of `record[field][name]`, for the arms whose every run has it."""
    found = {}
    for arm in arms:
        runs = [r.get(field) or {} for r in records if r["arm"] == arm]
        if all(name in run for run in runs):
            found[arm] = dataclasses.asdict(Summary.of([run[name] for run in runs]))
    return found


def _section(samples: dict[str, list[float]], lower: bool, baseline: str | None) -> dict[str, Any]:
    """One table: per arm summary, tests against the best arm and the baseline."""
    best = best_of(samples, lower_is_better=lower)
    return {
        "best": best,
        "arms": {
            arm: {
                **dataclasses.asdict(Summary.of(values)),
                **dataclasses.asdict(compare_to(values, samples[best])),
                **(
                    {
                        f"{name}_vs_baseline": value
                        for name, value in dataclasses.asdict(
                            compare_to(values, samples[baseline])
                        ).items()
                    }
                    if baseline
                    else {}
                ),
            }
            for arm, values in samples.items()
        },
    }


def write_study(records: Sequence[dict[str, Any]], summary: dict[str, Any], folder: Path):
    """study.json (summary and every trajectory), study.md and study.png."""
    write_json(folder / STUDY_FILE, {"summary": summary, "runs": list(records)}, indent=1)
    markdown = folder / "study.md"
    markdown.write_text(_markdown(summary))
    plot = folder / "study.png"
    _plot(records, summary, plot)
    return [markdown, folder / STUDY_FILE, plot]


METRIC_TITLES = {"test_top1": "retrained test top-1", "val_top1": "retrained search-val top-1"}


def _title(point: str, summary: dict[str, Any]) -> str:
    if point == "final" or point.startswith("final:"):
        metric = point.partition(":")[2] or summary["metric"]
        if summary["optimum"] is not None:
            return "Final (chosen architecture)"
        return f"Final: {METRIC_TITLES.get(metric, metric)} of the chosen architecture"
    return f"After {point} evaluations"


def _markdown(summary: dict[str, Any]) -> str:
    quantity = summary["quantity"]
    lines = [
        f"# Comparison over {len(summary['seeds'])} seeds",
        "",
        f"Quantity: **{quantity}**"
        + (
            f" in {summary['unit']} (optimum {summary['optimum']:.6g} minus the best found; "
            "lower is better)"
            if summary["optimum"] is not None
            else " (higher is better)"
        )
        + ". Per arm: mean, standard deviation, 95% confidence interval of the mean; "
        "p-values of Welch's t and Mann-Whitney U (two-sided) against the best arm and "
        "against the baseline arm.",
        "",
    ]
    for point, block in summary["table"].items():
        baseline = summary.get("baseline")
        extra = f" Welch p vs {baseline} | Mann-Whitney p vs {baseline} |" if baseline else ""
        lines += [
            f"## {_title(point, summary)}",
            "",
            "| arm | mean | sd | 95% CI | Welch p vs best | Mann-Whitney p vs best |" + extra,
            "|---|---|---|---|---|---|" + ("---|---|" if baseline else ""),
        ]
        for arm, row in block["arms"].items():
            best = " (best)" if arm == block["best"] else ""
            lines.append(
                f"| {arm}{best} | {row['mean']:.4g} | {row['sd']:.3g} | "
                f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}] | {_p(row['welch_p'])} | "
                f"{_p(row['mannwhitney_p'])} |"
                + (
                    f" {_p(row['welch_p_vs_baseline'])} | {_p(row['mannwhitney_p_vs_baseline'])} |"
                    if baseline
                    else ""
                )
            )
        lines.append("")
    costs = summary.get("costs") or {}
    if costs:
        lines += [
            "## Costs of the chosen architectures",
            "",
            "| arm | " + " | ".join(f"{metric_of(name).title}, mean ± sd" for name in costs) + " |",
            "|---|" + "---|" * len(costs),
        ]
        for arm in summary["table"]["final"]["arms"]:
            cells = []
            for name, per_arm in costs.items():
                row = per_arm.get(arm)
                shown = metric_of(name).format
                cells.append("n/a" if row is None else f"{shown(row['mean'])} ± {shown(row['sd'])}")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    training = {k: v for k, v in (summary.get("training") or {}).items() if v}
    if training:
        lines += [
            "## Training per run",
            "",
            "Arms compare fairly at equal training: images and wall time per run, mean ± sd.",
            "",
            "| arm | " + " | ".join(TRAINING[name] for name in training) + " |",
            "|---|" + "---|" * len(training),
        ]
        for arm in summary["table"]["final"]["arms"]:
            cells = []
            for per_arm in training.values():
                row = per_arm.get(arm)
                cells.append("n/a" if row is None else f"{row['mean']:,.0f} ± {row['sd']:,.0f}")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _plot(records: Sequence[dict[str, Any]], summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if summary["optimum"] is None:
        figure = _plot_final(records, summary, plt)
    else:
        figure = _plot_curves(records, summary, plt)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_curves(records: Sequence[dict[str, Any]], summary: dict[str, Any], plt) -> Any:
    """Best-so-far (regret) against evaluations, mean with a 95% band per arm."""
    optimum = summary["optimum"]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for arm in dict.fromkeys(r["arm"] for r in records):
        curves = [best_so_far(r["fitnesses"]) for r in records if r["arm"] == arm]
        length = min(len(c) for c in curves)
        if length == 0:
            continue
        data = np.array([[math.nan if v is None else v for v in c[:length]] for c in curves])
        data = (optimum - data) * summary.get("scale", 1.0)
        mean = np.nanmean(data, axis=0)
        spread = np.nanstd(data, axis=0, ddof=1) if len(curves) > 1 else np.zeros(length)
        half = 1.96 * spread / math.sqrt(len(curves))
        xs = np.arange(1, length + 1)
        axes.plot(xs, mean, label=f"{arm} (n={len(curves)})")
        axes.fill_between(xs, mean - half, mean + half, alpha=0.2)
    axes.set_xlabel("evaluations")
    axes.set_ylabel(f"regret, {summary.get('unit')}")
    axes.set_yscale("symlog", linthresh=1e-2 * summary.get("scale", 1.0) / 100)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def _plot_final(records: Sequence[dict[str, Any]], summary: dict[str, Any], plt) -> Any:
    """Per arm: each seed's final metric with the mean and its 95% interval; beside it,
    the final metric against the first cost of the chosen architectures."""
    metric = summary["metric"]
    arms = list(summary["table"]["final"]["arms"])
    cost = next(iter(summary.get("costs") or {}), None)
    figure, axes = plt.subplots(1, 2 if cost else 1, figsize=(10 if cost else 6, 4.2), dpi=120)
    axes = np.atleast_1d(axes)
    for i, arm in enumerate(arms):
        values = [r["metrics"].get(metric) for r in records if r["arm"] == arm]
        row = summary["table"]["final"]["arms"][arm]
        axes[0].scatter([i] * len(values), values, alpha=0.6)
        axes[0].errorbar(
            [i + 0.15],
            [row["mean"]],
            yerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]],
            fmt="o",
            color="black",
            capsize=4,
        )
        if cost:
            chosen = [r for r in records if r["arm"] == arm and cost in (r.get("costs") or {})]
            axes[1].scatter(
                [r["costs"][cost] for r in chosen],
                [r["metrics"].get(metric) for r in chosen],
                label=arm,
                alpha=0.7,
            )
    axes[0].set_xticks(range(len(arms)), arms)
    axes[0].set_ylabel(METRIC_TITLES.get(metric, metric))
    axes[0].set_title("each seed; mean with 95% CI", fontsize=9)
    axes[0].grid(alpha=0.3)
    if cost:
        axes[1].set_xlabel(f"{cost} of the chosen architecture")
        axes[1].set_ylabel(METRIC_TITLES.get(metric, metric))
        axes[1].legend(fontsize=8)
        axes[1].grid(alpha=0.3)
    return figure


def space_optimum(config: RunConfig) -> float | None:
    """The best fitness the space knows (tabular and synthetic spaces), for regret; None
    for spaces that cannot know it (one-shot spaces)."""
    return load_space(config.space, **config.space_options).optimum(config.budgets or None)


def rewrite_study(folder: Path, out: Path) -> list[Path]:
    """Render a stored comparison again (e.g. into another folder)."""
    data = json.loads((folder / STUDY_FILE).read_text())
    out.mkdir(parents=True, exist_ok=True)
    return write_study(data["runs"], data["summary"], out)
