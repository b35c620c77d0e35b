"""What a zero-cost proxy costs beside one supernet evaluation (issue 23), in one process.

Loads a finished spos run's workbench (its data, recipe and supernet), then times, on
the same 5 architectures: one supernet evaluation each (BatchNorm recalibration and the
run's search-val images, exactly as the search scores a candidate) and each proxy on
the freshly initialised network (the run's minibatch of training images). Prints
seconds per architecture and the ratio.

    python benchmarks/proxy_cost.py [--run .bench/ranking/glit-spos] [--proxies synflow,snip]
"""

from __future__ import annotations

import argparse
import json
import time

from archspace import load_space
from strategies.run import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=".bench/ranking/glit-spos")
    parser.add_argument("--stage", default="flat")
    parser.add_argument("--proxies", default="synflow,snip,nwot")
    parser.add_argument("--archs", type=int, default=5)
    args = parser.parse_args()
    config = load_config(args.run)
    plugin = load_space(config.space, **config.space_options)
    bench = plugin.workbench(
        {**config.workbench, "run_dir": args.run, "seed": config.seed, "profile": config.profile}
    )
    genotypes = [plugin.space.sample(seed) for seed in range(args.archs + 1)]
    bench.evaluate(genotypes[:1], args.stage)  # the supernet and the data, loaded once
    bench.proxy_scores(genotypes[0], ["synflow"])  # the proxies' minibatch, drawn once
    started = time.perf_counter()
    bench.evaluate(genotypes[1:], args.stage)
    seconds = {"supernet evaluation": (time.perf_counter() - started) / args.archs}
    for name in args.proxies.split(","):
        started = time.perf_counter()
        for genotype in genotypes[1:]:
            bench.proxy_scores(genotype, [name])
        seconds[name] = (time.perf_counter() - started) / args.archs
    evaluation = seconds["supernet evaluation"]
    print(
        json.dumps(
            {k: {"s_per_arch": v, "x_faster": evaluation / v} for k, v in seconds.items()}, indent=1
        )
    )


if __name__ == "__main__":
    main()
