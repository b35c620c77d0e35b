"""Is a stage supernet a better ranker than the flat SPOS supernet on the same
architectures? A paired bootstrap of the difference of their Kendall tau-b (of any two
predictors of the study: a proxy against the stage supernet too).

Reads the `ground-truth.json` of an `archsearch rank` study whose architectures two
supernets both scored, and for each sample resamples the architectures (the same draw
for both supernets, so their shared truth noise cancels) to give the difference's 95%
interval and the share of resamples where it is not positive (a one-sided bootstrap
p-value).

    python benchmarks/premise_difference.py .bench/ranking/glit-premise-2r/ground-truth.json \
        [--predictor stage] [--against glit-spos:flat] [--metric test_top1]
    python benchmarks/premise_difference.py REPORT --predictor proxy:snip --against stage
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau


def tau_difference(rows: np.ndarray) -> float:
    """Kendall tau-b of one predictor minus the other's, rows (truth, first, second)."""
    truth, first, second = rows.T
    return kendalltau(truth, first).statistic - kendalltau(truth, second).statistic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument(
        "--predictor", default="stage", help="a predictor's name, or stage: the stage supernet"
    )
    parser.add_argument("--against", default="glit-spos:flat", help="the same, to compare with")
    parser.add_argument("--metric", default="test_top1", choices=["test_top1", "val_top1"])
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text())
    pairs: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for arch in report["archs"].values():
        scores = arch["scores"]
        supernets = [name for name in scores if not name.startswith("proxy:")]
        stage = [name for name in supernets if name != "glit-spos:flat"]  # names the sample
        chosen = [stage[0] if name == "stage" else name for name in (args.predictor, args.against)]
        if len(stage) != 1 or not all(name in scores for name in chosen):
            continue
        truth = np.mean([seed[args.metric] for seed in arch["truth"].values()])
        pairs[stage[0]].append((truth, scores[chosen[0]], scores[chosen[1]]))
    rng = np.random.default_rng(args.seed)
    for stage, rows in sorted(pairs.items()):
        data = np.array(rows)
        n = len(data)
        observed = tau_difference(data)
        draws = np.array(
            [tau_difference(data[rng.integers(0, n, n)]) for _ in range(args.resamples)]
        )
        draws = draws[np.isfinite(draws)]
        low, high = np.percentile(draws, [2.5, 97.5])
        p = float(np.mean(draws <= 0))
        print(
            f"{stage}: {args.predictor} - {args.against} ({args.metric}, n = {n}): tau difference "
            f"{observed:+.2f} [{low:+.2f}, {high:+.2f}], bootstrap P(difference <= 0) = {p:.3f}"
        )


if __name__ == "__main__":
    main()
