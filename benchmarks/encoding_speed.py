"""Genotype throughput of the encoding: sample + mutate + canonicalise, per second.

Space: 12 blocks x 5 conditional choices (the synthetic GLiT-shaped space). Runs the
single-genotype path and the batched numpy path side by side in one process and
prints both rates and their ratio. Pin to one core with `taskset -c 0` for the
"per core" figure.

    python benchmarks/encoding_speed.py [--batch 10000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from archspace.synthetic import synthetic_space


def rate(step, per_call: int, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        done += per_call
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    space = synthetic_space(12)
    rng = np.random.default_rng(0)

    def single() -> None:
        genotype = space.mutate(space.sample(rng), rng, prob=0.1)
        space.canonical(genotype.indices)

    def batched() -> None:
        rows = space.mutate_batch(space.sample_batch(args.batch, rng), rng, prob=0.1)
        space.canonicalize_batch(rows)

    single_rate = rate(single, 1, args.seconds)
    batch_rate = rate(batched, args.batch, args.seconds)
    cores = len(os.sched_getaffinity(0))
    print(f"space: {len(space)} choices, {space.size:.3e} canonical genotypes; cores: {cores}")
    print(f"single-genotype path: {single_rate:12,.0f} genotypes/s")
    print(f"batched path (n={args.batch}): {batch_rate:12,.0f} genotypes/s")
    print(f"batched / single: {batch_rate / single_rate:.1f}x")


if __name__ == "__main__":
    main()
