"""What a ground-truth study found: rank agreement per supernet and sample, the ceiling
set by retraining noise, cost metrics as baseline predictors; Markdown, JSON, a scatter
plot per supernet, and the ground truth as a table file the `table` space searches.

Truth is the mean over the retraining seeds of each architecture's retrained top-1, on
the search-validation split (the images the supernets are scored on) and on the test
split. Only architectures retrained for every seed count. The ceiling is how well one
retraining seed ranks the same architectures as another: no predictor of a single
retraining can be expected to beat it by much.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspace import SpacePlugin
from archspace.files import write_json, write_text
from studies.ground_truth import Plan, collect_results
from studies.rank_stats import agreement, estimate_text, paired_difference, top_fraction

REPORT_FILE = "ground-truth.md"
DATA_FILE = "ground-truth.json"
TABLE_FILE = "truth.jsonl"
TRUTHS = ("val_top1", "test_top1")
TRUTH_NAMES = {"val_top1": "search-val", "test_top1": "test"}


def _complete(archs: Mapping[str, Any], keys: Sequence[str], seeds: Sequence[int]) -> list[str]:
    return [k for k in keys if all(s in archs[k]["truth"] for s in seeds)]


def _mean_truth(arch: Mapping[str, Any], metric: str) -> float:
    return float(np.mean([m[metric] for m in arch["truth"].values()]))


def _estimates(predicted: Sequence[float], truth: Sequence[float], seed: int) -> dict:
    return {name: e.to_dict() for name, e in agreement(predicted, truth, seed=seed).items()}


def summarise_study(results: Mapping[str, Any], resamples_seed: int = 0) -> dict[str, Any]:
    """Per sample: how many architectures are complete, the truth's range, the ceiling,
    and per predictor (each covering supernet, each cost metric) the agreement with the
    mean retrained search-val and test top-1."""
    plan = results["plan"]
    archs, seeds = results["archs"], plan["seeds"]
    samples: dict[str, Any] = {}
    for sample, keys in plan["samples"].items():
        keys = _complete(archs, keys, seeds)
        entry: dict[str, Any] = {"n": len(keys), "predictors": {}}
        if len(keys) < 3:
            samples[sample] = entry
            continue
        truth = {m: [_mean_truth(archs[k], m) for k in keys] for m in TRUTHS}
        entry["truth_range"] = {m: [min(v), max(v)] for m, v in truth.items()}
        if len(seeds) >= 2:
            entry["ceiling"] = {
                m: _estimates(
                    [archs[k]["truth"][seeds[0]][m] for k in keys],
                    [archs[k]["truth"][seeds[1]][m] for k in keys],
                    resamples_seed,
                )
                for m in TRUTHS
            }
        scorers = [(s["label"], "supernet") for s in plan["supernets"]]
        scorers += [(label, "proxy") for label in results.get("proxies", [])]
        for label, kind in scorers:  # the supernets' scores, the zero-cost proxies
            scored = [k for k in keys if label in archs[k]["scores"]]
            if len(scored) < 3:
                continue
            entry["predictors"][label] = {
                "kind": kind,
                "n": len(scored),
                **{
                    m: _estimates(
                        [archs[k]["scores"][label] for k in scored],
                        [_mean_truth(archs[k], m) for k in scored],
                        resamples_seed,
                    )
                    for m in TRUTHS
                },
            }
        for metric in archs[keys[0]]["costs"]:
            entry["predictors"][metric] = {
                "kind": "cost",
                "n": len(keys),
                **{
                    m: _estimates(
                        [archs[k]["costs"][metric] for k in keys], truth[m], resamples_seed
                    )
                    for m in TRUTHS
                },
            }
        entry["paired"] = _paired(archs, keys, entry["predictors"], resamples_seed)
        samples[sample] = entry
    return {
        "settings": plan["settings"],
        "seeds": seeds,
        "samples": samples,
        "retrained": sum(len(a["truth"]) for a in archs.values()),
        "retrainings": len(archs) * len(seeds),
    }


def _paired(
    archs: Mapping[str, Any], keys: Sequence[str], predictors: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """Every two supernets that scored the same architectures: the difference of their
    Kendall tau against the truth, paired (the premise's question: does a stage's own
    supernet rank its space better than the flat one?)."""
    supernets = [label for label, row in predictors.items() if row["kind"] == "supernet"]
    paired: dict[str, Any] = {}
    for first, second in itertools.combinations(supernets, 2):
        both = [k for k in keys if first in archs[k]["scores"] and second in archs[k]["scores"]]
        if len(both) < 4:
            continue
        paired[f"{first} - {second}"] = {
            "n": len(both),
            **{
                m: paired_difference(
                    [archs[k]["scores"][first] for k in both],
                    [archs[k]["scores"][second] for k in both],
                    [_mean_truth(archs[k], m) for k in both],
                    seed=seed,
                ).to_dict()
                for m in TRUTHS
            },
        }
    return paired


def markdown(summary: Mapping[str, Any]) -> str:
    settings = summary["settings"]
    lines = [
        "# Ground-truth ranking study",
        "",
        f"Runs: {', '.join(settings['runs'])}. {settings['archs']} architectures per "
        f"sample, stratified over {settings['metric']} ({settings['bins']} equal-width bins "
        f"under the budget {settings['budgets'] or 'none'}), retrained with "
        f"{len(summary['seeds'])} seed(s) ({summary['retrained']} of "
        f"{summary['retrainings']} retrainings done)"
        + (
            f"; retraining overrides {settings['retrain_overrides']}"
            if settings["retrain_overrides"]
            else ""
        )
        + ".",
        "",
        "Truth: the mean over seeds of the retrained top-1. Per predictor: Kendall tau-b "
        "and Spearman against it, and top-k agreement (the share of the predictor's k "
        "best that are among the truth's k best), each with a bootstrap 95% interval over "
        "the architectures. The ceiling row ranks with one retraining seed against "
        "another. Cost rows are baselines: a supernet that ranks no better than MACs adds "
        "nothing.",
        "",
    ]
    for sample, entry in summary["samples"].items():
        lines += [f"## Sample: {sample} (n = {entry['n']})", ""]
        if entry["n"] < 3:
            lines += ["Too few architectures retrained for every seed yet.", ""]
            continue
        ranges = entry["truth_range"]
        lines += [
            "Mean retrained top-1 ranges "
            + ", ".join(f"{TRUTH_NAMES[m]} {lo:.4f}-{hi:.4f}" for m, (lo, hi) in ranges.items())
            + f"; top 10% is {top_fraction(entry['n'])} architecture(s).",
            "",
            "| predictor | n | Kendall (search-val) | Kendall (test) | Spearman (test) | "
            "top-5 (test) | top-10% (test) |",
            "|---|---|---|---|---|---|---|",
        ]
        rows = dict(entry["predictors"])
        if "ceiling" in entry:
            rows = {"ceiling (seed vs seed)": {"n": entry["n"], **entry["ceiling"]}, **rows}
        for label, row in rows.items():
            test = row["test_top1"]
            cells = [
                estimate_text(row["val_top1"]["kendall"]),
                estimate_text(test["kendall"]),
                estimate_text(test["spearman"]),
                estimate_text(test["top5"], False),
                estimate_text(test["top10pct"], False),
            ]
            lines.append(f"| {label} | {row['n']} | " + " | ".join(cells) + " |")
        lines.append("")
        if entry.get("paired"):
            lines += [
                "Paired: the difference of two supernets' Kendall tau on the same "
                "architectures (first minus second), its bootstrap 95% interval and the "
                "share of resamples where it is not positive.",
                "",
                "| supernets | n | difference (test) | P(<= 0) | difference (search-val) | "
                "P(<= 0) |",
                "|---|---|---|---|---|---|",
            ]
            for label, row in entry["paired"].items():
                cells = [
                    f"{estimate_text(row[m])} | {_p_text(row[m]['p_not_better'])}"
                    for m in ("test_top1", "val_top1")
                ]
                lines.append(f"| {label} | {row['n']} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def plot_scatter(results: Mapping[str, Any], label: str, path: Path) -> None:
    """One predictor's score (a supernet's search-val top-1, a zero-cost proxy) against
    the mean retrained test top-1, one colour per sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan, archs = results["plan"], results["archs"]
    figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    for sample, keys in plan["samples"].items():
        keys = [k for k in _complete(archs, keys, plan["seeds"]) if label in archs[k]["scores"]]
        if keys:
            axes.scatter(
                [archs[k]["scores"][label] for k in keys],
                [_mean_truth(archs[k], "test_top1") for k in keys],
                label=f"{sample} (n={len(keys)})",
                alpha=0.7,
            )
    kind, _, name = label.partition(":")
    axes.set_xlabel(
        f"zero-cost proxy {name} (untrained)"
        if kind == "proxy"
        else f"supernet search-val top-1 ({label})"
    )
    axes.set_ylabel("retrained test top-1 (mean over seeds)")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_table(results: Mapping[str, Any], path: Path) -> int:
    """The ground truth as JSON lines a `table` space searches as it is (`--space table
    --set space.file=PATH`): one row per architecture retrained for every seed, its key
    (`arch`, the one choice: `space.from_key(arch)` of the run's space rebuilds it;
    plan.json holds every genotype in full), costs, mean and per-seed top-1. One choice
    column keeps the table dense, so every searcher's proposals are rows. Returns how
    many rows."""
    plan, archs = results["plan"], results["archs"]
    lines = []
    for key in _complete(archs, list(plan["genotypes"]), plan["seeds"]):
        row: dict[str, Any] = {"arch": key, **archs[key]["costs"]}
        for metric in TRUTHS:
            row[metric] = _mean_truth(archs[key], metric)
            for seed, metrics in archs[key]["truth"].items():
                row[f"{metric}_seed{seed}"] = metrics[metric]
        lines.append(json.dumps(row))
    write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_report(
    folder: Path, plugin: SpacePlugin, out: Path | None = None
) -> tuple[dict[str, Any], list[Path]]:
    """Read a study folder and write the report, JSON, plots and table file into `out`
    (default: the folder itself); the summary and the files written."""
    plan = Plan.read(folder)
    results = collect_results(folder, plan, plugin)
    summary = summarise_study(results)
    out = out or folder
    out.mkdir(parents=True, exist_ok=True)
    report, data, table = out / REPORT_FILE, out / DATA_FILE, out / TABLE_FILE
    write_text(report, markdown(summary))
    write_json(data, {"summary": summary, "archs": results["archs"]}, indent=1)
    write_table(results, table)
    paths = [report, data, table]
    for label in [s["label"] for s in plan.supernets] + results["proxies"]:
        if any(label in a["scores"] for a in results["archs"].values()):
            plot = out / f"scatter-{re.sub(r'[^A-Za-z0-9_.-]+', '-', label)}.png"
            plot_scatter(results, label, plot)
            paths.append(plot)
    return summary, paths


def _p_text(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3f}"


def headline(summary: Mapping[str, Any]) -> list[str]:
    """One line per sample: each predictor's Kendall tau on test with its interval, and
    each pair of supernets' paired difference."""
    lines = []
    for sample, entry in summary["samples"].items():
        ceiling = entry.get("ceiling", {}).get("test_top1", {}).get("kendall")
        lines.append(
            f"{sample} (n={entry['n']}): ceiling {estimate_text(ceiling)}"
            + "".join(
                f"; {label} {estimate_text(row['test_top1']['kendall'])}"
                for label, row in entry["predictors"].items()
            )
            + "".join(
                f"; paired {label}: {estimate_text(row['test_top1'])}, "
                f"P(<= 0) {_p_text(row['test_top1']['p_not_better'])}"
                for label, row in entry.get("paired", {}).items()
            )
        )
    return lines
