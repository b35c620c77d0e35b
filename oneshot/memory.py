"""Memory planned before training, not discovered by an out-of-memory error mid-run.

Before a training run, one forward and backward step of the network's largest path is
measured at two small batches on a copy of the model (the run's own weights, RNG and
BatchNorm statistics are left untouched); the peak grows linearly with the batch, so
two points give the need at the configured batch. On CUDA the measure is the
allocator's peak; elsewhere the bytes autograd saves for the backward pass (the
activations) plus the gradients. Weights and the optimiser state (at most two
tensors per parameter: AdamW's moments) are counted on top.

If this process's share of the batch does not fit the memory it may use, it runs as k
micro-batches whose gradients add up before the optimiser step (gradient
accumulation): the global batch and hence the recipe's learning rate are kept. Only
BatchNorm then sees micro-batches. With accumulation off, or when even one image does
not fit, the run is refused (`MemoryBudgetError`, exit 2) naming the batch that fits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from archspace import Genotype, Space

GIB = 1 << 30
#: the share of the device's free memory a plan may fill (allocator fragmentation,
#: cuDNN workspaces and the loader's pinned buffers take the rest)
HEADROOM = 0.9
#: the largest batch measured; the need at larger ones is extrapolated
PROBE_BATCH = 16
ACCUMULATION = ("auto", "off")


def _size(size: float) -> str:
    return f"{size / GIB:.2f} GiB" if size >= GIB else f"{size / 2**20:.1f} MiB"


class MemoryBudgetError(ValueError):
    """The configured batch cannot fit the device's memory as asked."""


@dataclass(frozen=True)
class MemoryPlan:
    """The need of one training step against the memory this process may use."""

    label: str
    batch: int  # this process's share of the global batch
    accumulation: int
    fixed_bytes: float  # weights, gradients, optimiser state, whatever the device holds
    per_image_bytes: float
    budget_bytes: float
    measured_by: str

    @property
    def micro_batch(self) -> int:
        return self.batch // self.accumulation

    def need(self, batch: int) -> float:
        return self.fixed_bytes + self.per_image_bytes * batch

    def describe(self) -> str:
        head = (
            f"{self.label}: about {_size(self.need(self.micro_batch))} of "
            f"{_size(self.budget_bytes)} ({_size(self.per_image_bytes)} per image, "
            f"{self.measured_by})"
        )
        if self.accumulation == 1:
            return f"{head} at batch {self.batch} per process"
        return (
            f"{head}: batch {self.batch} per process runs as {self.accumulation} "
            f"micro-batches of {self.micro_batch} (gradient accumulation; the learning rate "
            "is the recipe's, BatchNorm normalises each micro-batch)"
        )


def plan_memory(
    label: str,
    batch: int,
    budget_bytes: float,
    need_at: Callable[[int], float],
    *,
    accumulation: str = "auto",
    measured_by: str = "measured",
) -> MemoryPlan:
    """The fewest equal micro-batches of `batch` whose step fits `budget_bytes`;
    `need_at(b)` is the measured need of one step at batch b (called twice, at small
    batches). Raises `MemoryBudgetError` naming the batch that fits when none does, or
    when the whole batch does not fit and `accumulation` is "off"."""
    if accumulation not in ACCUMULATION:
        raise ValueError(
            f"workbench.accumulation must be one of {', '.join(ACCUMULATION)}, got {accumulation!r}"
        )
    high = min(batch, PROBE_BATCH)
    low = max(1, high // 2)
    at_high = float(need_at(high))
    at_low = float(need_at(low)) if low < high else at_high
    per_image = max((at_high - at_low) / (high - low), 0.0) if low < high else at_high / high
    fixed = max(at_high - per_image * high, 0.0)
    plan = MemoryPlan(label, batch, 1, fixed, per_image, budget_bytes, measured_by)
    if plan.need(batch) <= budget_bytes:
        return plan
    fitting = int((budget_bytes - fixed) // per_image)  # per_image > 0 here
    if fitting < 1:
        raise MemoryBudgetError(
            f"{plan.describe()}: even one image per step does not fit (the weights, "
            f"gradients and optimiser state alone take about {_size(fixed)}); "
            "choose a smaller width or a device with more memory"
        )
    if accumulation == "off":
        raise MemoryBudgetError(
            f"{plan.describe()}: batch {batch} per process does not fit; the largest that "
            f"fits is {fitting}. Lower the recipe's batch_size, or allow gradient "
            "accumulation (workbench.accumulation=auto)"
        )
    k = next(k for k in range(2, batch + 1) if batch % k == 0 and batch // k <= fitting)
    return MemoryPlan(label, batch, k, fixed, per_image, budget_bytes, measured_by)


def device_budget(device: torch.device, memory_gib: float | None) -> float | None:
    """Bytes this process may fill: `memory_gib` when given; on CUDA the free memory
    (with what torch holds in its cache) times HEADROOM; else None (no plan: the CPU
    swaps, it does not fail)."""
    if memory_gib is not None:
        return memory_gib * GIB
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return (free + cached) * HEADROOM


def largest_path(
    space: Space, cost: Callable[[Genotype], Mapping[str, float]], seed: int = 0, samples: int = 64
) -> Genotype:
    """The costliest path to be found by MACs (the first cost metric where a space has
    none): the best of `samples` seeded draws, then each free choice set in turn to the
    option that adds the most, until no change adds any. The path a memory plan
    measures: activations grow with the MACs."""

    def size(genotype: Genotype) -> float:
        costs = cost(genotype)
        return costs["macs"] if "macs" in costs else next(iter(costs.values()))

    draws = [space.sample(np.random.default_rng([seed, i])) for i in range(samples)]
    best = max(draws, key=size)
    best_size, improved = size(best), True
    while improved:
        improved = False
        for position in space.free:
            for index in range(space.counts[position]):
                row = list(best.indices)
                row[position] = index
                candidate = space.canonical(row)
                if (candidate_size := size(candidate)) > best_size:
                    best, best_size, improved = candidate, candidate_size, True
    return best


def step_need(
    model: nn.Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    autocast: Callable[[], object],
    optimizer_states: int = 2,
) -> tuple[Callable[[int], float], str]:
    """(need_at, how it is measured) for one training step of `model` on random
    inputs, run on a copy so that the model's statistics and gradients stay as they
    were, with the RNG restored after."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())

    def need_at(batch: int) -> float:
        probe = copy.deepcopy(model).train()
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            x = torch.randn(batch, *input_shape, device=device)
            y = torch.randint(num_classes, (batch,), device=device)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
                _step(probe, x, y, autocast)
                torch.cuda.synchronize(device)
                step = torch.cuda.max_memory_allocated(device) - before  # grads, activations
                resident = before - weights  # the copy's weights are not the run's
            else:
                step = _saved_bytes(probe, x, y, autocast) + weights  # activations, grads
                resident = weights
        del probe
        return resident + step + weights * optimizer_states

    how = "allocator peak" if device.type == "cuda" else "saved activations"
    return need_at, how


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, autocast) -> None:
    with autocast():
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()


def _saved_bytes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, autocast) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass, weights not
    counted (they are resident anyway): the activations a step holds at its peak."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        _step(model, x, y, autocast)
    return sum(saved.values())
