"""Supernet vs standalone training step for any one-shot space (issues 3, 4 and 14).

1. For random subnets (and, with --presets, the space's published networks at this
   width) the supernet with that path active and the same subnet built standalone take
   SGD steps on the same batches, alternating step by step so that other load on the
   machine hits both alike. Figures: the ratio of their median step times (target
   <= 1.10; above 1 the supernet is slower) and images/s. AMP on CUDA, float32 on CPU.
2. The cost model: batched `cost_batch` genotypes/s vs FlopCounterMode on a
   meta-device build, one genotype at a time.

Only the plugin interface is used (`supernet().activate`, `build`, `model_input`,
`space`, `cost_batch`), so any registered space works:

    python benchmarks/step_ratio.py --space glit|autoformer [--width cpu] [--subnets 5]
        [--steps 20] [--batch 128] [--data builtin|synthetic] [--device auto|cpu|cuda]
        [--presets] [--cost-width tiny] [--skip-cost]

The last line it prints starts with "summary:" (for scripts such as gpu_check.sh).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from archspace import Genotype
from archspace.registry import load_space
from oneshot.datasets import DEFAULT_DATA, load_data, make_loader
from oneshot.profiling import measure_cost
from oneshot.recipes import get_recipe
from oneshot.runtime import Runtime, select_runtime

Batch = tuple[Tensor, Tensor]


def make_step(model: nn.Module, runtime: Runtime) -> Callable[[Tensor, Tensor], None]:
    """One SGD training step (forward under the runtime's autocast, backward, update)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = runtime.grad_scaler()
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step(x: Tensor, y: Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with runtime.autocast():
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def fixed_batches(plugin, data: str, batch: int, count: int, runtime: Runtime) -> list[Batch]:
    """`count` batches on the device: the built-in data through the quick recipe's
    training pipeline (the space's input must be 10-class, as at the cpu widths), or
    random images and labels of the space's input shape."""
    model_input = plugin.model_input()
    if data == "builtin":
        recipe = get_recipe("quick")
        splits = load_data(DEFAULT_DATA, model_input, val_size=recipe.val_size, augment="light")
        loader = make_loader(splits.train, batch, shuffle=True, seed=0, drop_last=True)
        batches = [b for b, _ in zip(loader, range(count))]
        if len(batches) < count:
            raise ValueError(f"the built-in data has fewer than {count} batches of {batch}")
    else:
        generator = torch.Generator().manual_seed(0)
        shape = (batch, model_input.in_chans, model_input.img_size, model_input.img_size)
        batches = [
            (
                torch.randn(shape, generator=generator),
                torch.randint(0, model_input.num_classes, (batch,), generator=generator),
            )
            for _ in range(count)
        ]
    return [(x.to(runtime.device), y.to(runtime.device)) for x, y in batches]


def step_times(
    models: dict[str, nn.Module], batches: list[Batch], runtime: Runtime
) -> dict[str, float]:
    """Median seconds of a training step of each model, on the same batches, taking turns
    (who goes first rotates, so that other load on the machine hits all alike); the first
    two steps of each warm up and are dropped."""
    steps = {name: make_step(model, runtime) for name, model in models.items()}
    names = sorted(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    sync = torch.cuda.synchronize if runtime.device.type == "cuda" else lambda: None
    warm_up = [batches[0], batches[0]]
    for i, (x, y) in enumerate(warm_up + batches):
        first = i % len(names)
        for name in names[first:] + names[:first]:
            sync()
            start = time.perf_counter()
            steps[name](x, y)
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(times[name][len(warm_up) :]) for name in names}


def paired_step_times(
    supernet: nn.Module, standalone: nn.Module, batches: list[Batch], runtime: Runtime
) -> tuple[float, float]:
    """`step_times` of the supernet and the standalone subnet: (supernet s, standalone s)."""
    times = step_times({"super": supernet, "standalone": standalone}, batches, runtime)
    return times["super"], times["standalone"]


def subnets(plugin, count: int, seed: int, presets: bool) -> list[tuple[str, Genotype]]:
    """(label, genotype): the published networks at this width if asked, then samples."""
    chosen = list(plugin.presets().items()) if presets else []
    rng = np.random.default_rng(seed)
    for _ in range(count):
        genotype = plugin.space.sample(rng)
        chosen.append((genotype.key, genotype))
    return chosen


def cost_throughput(plugin, batch: int = 100_000, counted: int = 20) -> tuple[float, float]:
    """(genotypes/s of the batched analytic cost model, genotypes/s of FlopCounterMode on
    meta-device builds, which compute nothing)."""
    rows = plugin.space.sample_batch(batch, 1)
    start = time.perf_counter()
    plugin.cost_batch(rows)
    batched = len(rows) / (time.perf_counter() - start)
    model_input = plugin.model_input()
    genotypes = plugin.space.from_array(rows[:counted])
    start = time.perf_counter()
    for genotype in genotypes:
        with torch.device("meta"):
            model = plugin.build(genotype)
        measure_cost(model, model_input.in_chans, model_input.img_size)
    return batched, len(genotypes) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="glit", help="registered space, e.g. glit, autoformer")
    parser.add_argument("--width", default="cpu")
    parser.add_argument("--subnets", type=int, default=5, help="random subnets (after presets)")
    parser.add_argument("--steps", type=int, default=20, help="measured steps per model/subnet")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--data", choices=("builtin", "synthetic"), default="builtin")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--presets", action="store_true", help="also the published networks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cost-width", default="tiny", help="width for the cost-model figures")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    runtime = select_runtime(args.device)
    torch.manual_seed(args.seed)
    plugin = load_space(args.space, width=args.width)
    batches = fixed_batches(plugin, args.data, args.batch, args.steps, runtime)
    supernet = runtime.prepare(plugin.supernet())
    precision = str(runtime.amp_dtype).removeprefix("torch.") if runtime.amp else "float32"
    device = torch.cuda.get_device_name(runtime.device) if runtime.device.type == "cuda" else "cpu"
    print(
        f"{args.space} {args.width} width, {device}, {torch.get_num_threads()} threads, "
        f"{precision}, batch {args.batch} ({args.data} data), {args.steps} steps per model"
    )
    ratios, super_rates, sub_rates = [], [], []
    for label, genotype in subnets(plugin, args.subnets, args.seed, args.presets):
        supernet.activate(genotype)
        standalone = runtime.prepare(plugin.build(genotype))
        t_super, t_sub = paired_step_times(supernet, standalone, batches, runtime)
        ratios.append(t_super / t_sub)
        super_rates.append(args.batch / t_super)
        sub_rates.append(args.batch / t_sub)
        print(
            f"  {label:>16}: supernet {t_super * 1e3:8.1f} ms ({super_rates[-1]:7.0f} img/s)  "
            f"standalone {t_sub * 1e3:8.1f} ms ({sub_rates[-1]:7.0f} img/s)  "
            f"ratio {ratios[-1]:.3f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"supernet step / standalone step, median of {len(ratios)}: {ratio:.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target <= 1.10)"
    )
    summary = (
        f"summary: {args.space} {args.width} {device} {precision} batch {args.batch}: "
        f"step ratio {ratio:.3f}, supernet {statistics.median(super_rates):.0f} img/s, "
        f"standalone {statistics.median(sub_rates):.0f} img/s"
    )
    if not args.skip_cost:
        costed = load_space(args.space, width=args.cost_width)
        batched, counted = cost_throughput(costed)
        print(
            f"cost model, {args.cost_width} width: {batched:,.0f} genotypes/s batched; "
            f"FlopCounterMode on a meta-device build: {counted:.1f} genotypes/s; "
            f"ratio {batched / counted:,.0f}x"
        )
        summary += f"; cost model {batched:,.0f} vs {counted:.1f} genotypes/s"
    print(summary)


if __name__ == "__main__":
    main()
