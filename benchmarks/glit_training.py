"""GLiT training benchmarks (issue 4) on the built-in data and the small CPU width.

1. Training throughput (images/s) of the supernet on a fixed path vs the same subnet
   standalone, with the real data pipeline, median over a few random subnets, and
   the share of step time spent waiting for data.
2. Evaluation throughput: search-validation images/s of a supernet path (including
   its BatchNorm recalibration) and of a standalone model.
3. The `quick` recipe end to end: supernet training time, three sampled subnets'
   top-1 through the supernet, and one subnet retrained from scratch (test top-1).

    python benchmarks/glit_training.py [--subnets 5] [--steps 30] [--skip-quick]

The step ratio on fixed batches, without the data pipeline, for any space (GLiT,
AutoFormer) and width, is benchmarks/step_ratio.py, whose training step this uses.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
from step_ratio import make_step  # benchmarks/step_ratio.py, beside this script
from torch import nn

from glit_space import GlitPlugin
from oneshot.datasets import DEFAULT_DATA, load_data, make_loader
from oneshot.evaluation import supernet_top1, top1
from oneshot.recipes import get_recipe
from oneshot.runtime import Runtime, select_runtime
from oneshot.workbench import OneShotWorkbench


def throughput(model: nn.Module, loader, steps: int, runtime: Runtime) -> tuple[float, float]:
    """(images/s, fraction of wall time spent fetching batches) over `steps` SGD steps."""
    step = make_step(model, runtime)
    waiting = images = 0.0
    batches = iter(loader)
    start = time.perf_counter()
    for _ in range(steps):
        fetch = time.perf_counter()
        x, y = next(batches)
        waiting += time.perf_counter() - fetch
        step(x, y)
        images += len(y)
    total = time.perf_counter() - start
    return images / total, waiting / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip-quick", action="store_true")
    args = parser.parse_args()
    runtime = select_runtime("cpu")
    torch.manual_seed(0)
    plugin = GlitPlugin(width="cpu")
    recipe = get_recipe("quick")
    data = load_data(DEFAULT_DATA, plugin.width, val_size=recipe.val_size, augment="light")
    batch = recipe.supernet.batch_size
    loader = make_loader(data.train, batch, shuffle=True, seed=0, drop_last=True)
    supernet = plugin.supernet()
    ratios, waits = [], []
    rng = np.random.default_rng(0)
    print(f"threads {torch.get_num_threads()}, batch {batch}, {args.steps} steps per figure")
    for _ in range(args.subnets):
        genotype = plugin.space.sample(rng)
        supernet.activate(genotype)
        super_rate, super_wait = throughput(supernet, loader, args.steps, runtime)
        sub_rate, sub_wait = throughput(plugin.build(genotype), loader, args.steps, runtime)
        ratios.append(super_rate / sub_rate)
        waits += [super_wait, sub_wait]
        print(
            f"  supernet {super_rate:7.1f} img/s  standalone {sub_rate:7.1f} img/s  "
            f"ratio {super_rate / sub_rate:.3f}"
        )
    print(
        f"supernet / standalone training throughput, median of {args.subnets}: "
        f"{statistics.median(ratios):.3f}"
    )
    print(
        f"data loading share of step time: median {statistics.median(waits):.1%} "
        f"(max {max(waits):.1%})"
    )

    val = make_loader(data.val, recipe.eval.batch_size, shuffle=False, seed=0)
    calibration = [
        x for x, _ in make_loader(data.train, recipe.eval.bn_batch_size, shuffle=False, seed=0)
    ][: recipe.eval.bn_batches]
    start = time.perf_counter()
    supernet_top1(supernet, genotype, val, calibration, runtime)
    elapsed = time.perf_counter() - start
    print(
        f"evaluation through the supernet ({len(data.val)} val images + "
        f"{len(calibration)} BN batches of {recipe.eval.bn_batch_size}): {elapsed:.2f} s, "
        f"{len(data.val) / elapsed:.0f} val img/s"
    )
    start = time.perf_counter()
    top1(plugin.build(plugin.space.sample(1)), val, runtime)
    elapsed = time.perf_counter() - start
    print(f"evaluation of a standalone model: {len(data.val) / elapsed:.0f} img/s")

    if args.skip_quick:
        return
    with tempfile.TemporaryDirectory() as run_dir:
        bench = OneShotWorkbench(plugin, recipe, run_dir, runtime=runtime)
        result = bench.train_supernet(plugin.space, "flat")
        print(
            f"quick supernet training: {result.epochs} epochs, {result.steps} steps, "
            f"{result.seconds:.1f} s ({result.images_per_s:.0f} img/s), final epoch loss "
            f"{result.loss:.3f}, train top-1 {result.accuracy:.3f}"
        )
        genotypes = [plugin.space.sample(seed) for seed in range(3)]
        start = time.perf_counter()
        scores = bench.evaluate(genotypes, "flat")
        each = (time.perf_counter() - start) / 3
        for genotype, score in zip(genotypes, scores):
            cost = plugin.cost(genotype)
            print(
                f"  subnet {genotype.key}: search-val top-1 {score:.3f} via supernet "
                f"({cost['macs'] / 1e6:.1f}M MACs, {cost['params']:,} params)"
            )
        print(f"  {each:.2f} s per supernet evaluation")
        metrics = bench.retrain(genotypes[0], "final")
        print(
            f"retrained {genotypes[0].key} from scratch ({recipe.retrain.epochs} epochs): "
            f"test top-1 {metrics['test_top1']:.4f} in {metrics['train_seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
