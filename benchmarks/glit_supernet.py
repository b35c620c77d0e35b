"""GLiT supernet benchmarks (issue 3), each figure measured in this one run.

1. Training-step time of the supernet on a path / of the same standalone subnet,
   median over 20 random subnets of the small CPU width (same batch, same process).
2. Analytic cost model throughput (genotypes/s, batched numpy) vs FlopCounterMode on
   a built model (meta device, no arithmetic), and their ratio.
3. Training memory of one step (weights, gradients, momentum, saved activations): the
   supernet with its largest path active vs that largest subnet standalone.

    python benchmarks/glit_supernet.py [--subnets 20] [--steps 10] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from glit_space import GlitPlugin
from glit_space.space import FIELDS
from oneshot.profiling import measure_cost


def step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Median seconds of one SGD training step (forward, backward, update)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])  # the first two warm up allocators and caches


def largest(plugin: GlitPlugin):
    """The dearest genotype in MACs: blocks cost independently, so pick each block's max."""
    space = plugin.space
    values = {}
    for i in range(plugin.width.depth):
        rows = space.enumerate([f"blocks.{i}.{field}" for field in FIELDS])
        best = space.canonical(rows[np.argmax(plugin.cost_batch(rows)["macs"])])
        values.update({k: v for k, v in best.values.items() if k.startswith(f"blocks.{i}.")})
    return space.from_values(values)


def training_memory(model: nn.Module, x: torch.Tensor) -> dict:
    """Bytes a training step holds: weights, gradients, SGD momentum, saved activations.

    Activations are the tensors autograd saves for backward (counted once per storage),
    measured with saved_tensors_hooks during a real forward pass.
    """
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    params = {id(p): p for p in model.parameters()}.values()
    activations = sum(storages.values()) - sum(
        p.untyped_storage().nbytes() for p in params if p.untyped_storage().data_ptr() in storages
    )
    return {"weights": weights, "activations": activations, "total": 3 * weights + activations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    plugin = GlitPlugin(width="cpu")
    supernet = plugin.supernet()
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(args.subnets):
        genotype = plugin.space.sample(rng)
        supernet.set_active(plugin.blocks(genotype))
        t_super = step_time(supernet, x, y, args.steps)
        t_sub = step_time(plugin.build(genotype), x, y, args.steps)
        ratios.append(t_super / t_sub)
    print(f"threads: {torch.get_num_threads()}, cpu width, batch {args.batch}")
    print(
        f"supernet step / standalone step, median of {args.subnets}: "
        f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
    )

    tiny = GlitPlugin(width="tiny")
    rows = tiny.space.sample_batch(100_000, 1)
    start = time.perf_counter()
    tiny.cost_batch(rows)
    batched = len(rows) / (time.perf_counter() - start)
    genotypes = tiny.space.from_array(rows[:20])
    start = time.perf_counter()
    for genotype in genotypes:
        with torch.device("meta"):
            model = tiny.build(genotype)
        measure_cost(model, tiny.width.in_chans, tiny.width.img_size)
    counted = len(genotypes) / (time.perf_counter() - start)
    print(
        f"cost model, tiny width: {batched:,.0f} genotypes/s batched; FlopCounterMode on a "
        f"meta-device build: {counted:.1f} genotypes/s; ratio {batched / counted:,.0f}x"
    )

    genotype = largest(plugin)
    supernet.set_active(plugin.blocks(genotype))
    sup = training_memory(supernet, x)
    sub = training_memory(plugin.build(genotype), x)
    mib = 2**20
    print(
        f"training memory, largest subnet active (batch {args.batch}; weights x3 for grads and "
        f"momentum + saved activations): supernet {sup['total'] / mib:.1f} MiB "
        f"(weights {sup['weights'] / mib:.1f}, activations {sup['activations'] / mib:.1f}) vs "
        f"standalone {sub['total'] / mib:.1f} MiB (weights {sub['weights'] / mib:.1f}, "
        f"activations {sub['activations'] / mib:.1f}); ratio {sup['total'] / sub['total']:.2f}"
    )


if __name__ == "__main__":
    main()
