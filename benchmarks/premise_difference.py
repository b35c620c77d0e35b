"""Does one predictor rank better than another on the same architectures? The paired
bootstrap of `studies.rank_stats.paired_difference` over a finished study's records.

The study's own report (`ground-truth.md`) already pairs every two supernets at 1,000
resamples; this takes any two predictors (a zero-cost proxy against the stage supernet
too) and as many resamples as asked, from the `ground-truth.json` of `archsearch rank`.

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

from studies.rank_stats import paired_difference


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
    for stage, rows in sorted(pairs.items()):
        truth, first, second = zip(*rows)
        found = paired_difference(first, second, truth, resamples=args.resamples, seed=args.seed)
        print(
            f"{stage}: {args.predictor} - {args.against} ({args.metric}, n = {len(rows)}): "
            f"tau difference {found.value:+.2f} [{found.low:+.2f}, {found.high:+.2f}], "
            f"bootstrap P(difference <= 0) = {found.p_not_better:.3f}"
        )


if __name__ == "__main__":
    main()
