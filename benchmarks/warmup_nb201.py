"""Training-free signals in search on NAS-Bench-201 (issue 23): does starting from the
best of M synflow-scored samples (warm-up) cut the evaluations regularized evolution
and BANANAS need, and does synflow as one more input of BANANAS' predictor
(`searcher.proxy=synflow`) help?

Each arm searches the nb201 table (fitness: the tabulated CIFAR-10 accuracy) for 200
evaluations per seed; the warm arms draw their first population with `search.warmup`
semantics (`strategies.warmup.WarmUp`: the best P of M = 10 x P uniform samples by
synflow; scoring costs no evaluations). Synflow scores come from the workbench
(`NasBench201Workbench.proxy_scores`), read from the all-cells proxy study when it has
them (`benchmarks/proxies_nb201.sh all`), so this is exactly what a run computes.

Reported: regret (optimum minus best found, accuracy points) after 50, 100 and 200
evaluations, mean and standard deviation over the seeds, and the two-sided
Mann-Whitney U p-value of each arm against its baseline (the same searcher without the
signal). Each finished (arm, seed) is saved, so a rerun resumes.

    python benchmarks/warmup_nb201.py [--seeds 100] [--out .bench/warmup-nb201]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from archspace import load_space
from archspace.files import write_json, write_text
from strategies.driver import run_search
from strategies.evaluations import Evaluations
from strategies.searchers import build_searcher
from strategies.statistics import best_so_far, compare_to
from strategies.warmup import WarmUp

BUDGET = 200
CHECKPOINTS = (50, 100, 200)
ARMS = {  # name -> (searcher, options, warm, the arm it is compared with)
    "regularized-evolution": ("regularized-evolution", {}, False, None),
    "regularized-evolution+warm-up": ("regularized-evolution", {}, True, "regularized-evolution"),
    "bananas": ("bananas", {}, False, None),
    "bananas+warm-up": ("bananas", {}, True, "bananas"),
    "random": ("random", {}, False, None),
    "bananas+synflow-input": ("bananas", {"proxy": "synflow"}, False, "bananas"),
    "bananas+warm-up+synflow-input": ("bananas", {"proxy": "synflow"}, True, "bananas+warm-up"),
}
PROXY = "synflow"


def synflow_scores(cache: Path, workbench) -> callable:
    """genotypes -> synflow, from the all-cells study's scores, else computed."""
    known = json.loads(cache.read_text()) if cache.exists() else {}

    def score(genotypes):
        for g in genotypes:
            if g.key not in known:
                known[g.key] = workbench.proxy_scores(g, [PROXY], batch_size=16)[PROXY]
        return [known[g.key] for g in genotypes]

    return score


def one_run(plugin, arm: str, seed: int, score) -> list[float]:
    """Regret (accuracy points) of the best found after each evaluation."""
    name, options, warm, _ = ARMS[arm]
    trajectory: list[float | None] = []
    evaluations = Evaluations(
        lambda gs: [float(v) for v in plugin.accuracy_batch(plugin.space.to_array(gs))],
        on_result=lambda g, fitness, error, seconds: trajectory.append(fitness),
    )
    run_search(
        build_searcher(name, options, "paper"),
        plugin.space,
        evaluations,
        seed=seed,
        max_evaluations=BUDGET,
        warmup=WarmUp(score, label="warm-up synflow") if warm else None,
        proxy=lambda name: score,
    )
    optimum = plugin.optimum()
    return [100 * (optimum - b) for b in best_so_far(trajectory)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(".bench/warmup-nb201"))
    parser.add_argument(
        "--scores", type=Path, default=Path(".bench/proxies/nb201-all/scores-synflow.json")
    )
    args = parser.parse_args()
    plugin = load_space("nb201")
    score = synflow_scores(args.scores, plugin.workbench({}))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "trajectories.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    for seed in range(args.seeds):
        for arm in ARMS:
            key = f"{arm}/{seed}"
            if key not in done:
                done[key] = one_run(plugin, arm, seed, score)
                write_json(path, done)
    report = summarise(done, args.seeds)
    write_text(args.out / "warmup.md", report)
    print(report)


def summarise(done: dict, seeds: int) -> str:
    lines = [
        f"# Training-free signals on NAS-Bench-201: regret (accuracy points) over {seeds} seeds",
        "",
        "| arm | " + " | ".join(f"after {n}" for n in CHECKPOINTS) + " |",
        "|---|" + "---|" * len(CHECKPOINTS),
    ]
    regret = {
        arm: {n: [done[f"{arm}/{s}"][n - 1] for s in range(seeds)] for n in CHECKPOINTS}
        for arm in ARMS
    }
    for arm in ARMS:
        cells = []
        for n in CHECKPOINTS:
            values = np.asarray(regret[arm][n])
            cell = f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"
            baseline = ARMS[arm][3]
            if baseline is not None:
                p = compare_to(values, regret[baseline][n]).mannwhitney_p
                cell += f" (p = {p:.2g})" if p is not None else ""
            cells.append(cell)
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean ± standard deviation; p: two-sided Mann-Whitney U of the arm against the "
        "same searcher without the signal, at the same number of evaluations. Warm-up: the "
        "best P of 10 x P uniform samples by synflow (P: regularized evolution's population "
        "30, BANANAS' 10 initial samples); synflow-input: synflow (signed log, "
        "standardised) as one more input of BANANAS' predictor; proxy scoring costs no "
        "evaluations.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
