"""Data-parallel execution through torch.distributed (launch with `torchrun`).

Every rank runs the same search with the same seeds, so all ranks sample the same
SPOS path at each step and propose the same candidates; what is split is the work:
each global batch is divided between the ranks (gradients are averaged by DDP, which
equals one process on the whole batch), and each batch of candidates is evaluated
shard by shard and gathered. Backend: nccl on CUDA, gloo on the CPU. Only rank 0
writes checkpoints (and, at the run level, the store and reports).

While training (`Loop`), BatchNorm normalises with the statistics of the global batch
(`oneshot.batchnorm.synchronised_batchnorm`, also for the supernet's channel-sliced
BatchNorm), and random augmentation is drawn per sample from (seed, epoch, index), so
N ranks train as one process does. BatchNorm recalibration before an evaluation stays
per rank: each rank evaluates its own candidates on the same fixed calibration batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from archspace import EvaluatorError, FailedEvaluation
from archspace.errors import describe_error
from archspace.parallel import launched_world_size, leave_process_group

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of `items`: every world_size-th item from its rank."""
        return list(items[self.rank :: self.world_size])

    def gather(self, local: Sequence[Any], total: int) -> list[Any]:
        """Reassemble `shard` results from all ranks in the original order."""
        if not self.active:
            return list(local)
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, list(local))
        merged: list[Any] = [None] * total
        for rank, part in enumerate(parts):
            merged[rank :: self.world_size] = part
        return merged

    def map(self, function: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """`[function(x) for x in items]`, computed shard by shard and gathered."""
        return self.gather([function(x) for x in self.shard(items)], len(items))

    def map_each(self, function: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """`map` that never leaves the collective on one rank: an item whose `function`
        raises becomes a `FailedEvaluation` on its rank and reaches every rank with the
        other results; out of memory anywhere (the evaluator's fault, not the item's)
        then raises `EvaluatorError` on every rank alike."""

        def guarded(item: T) -> Any:
            try:
                return function(item)
            except (torch.cuda.OutOfMemoryError, MemoryError) as error:
                return FailedEvaluation(f"rank {self.rank}: {describe_error(error)}", fatal=True)
            except Exception as error:
                return FailedEvaluation(describe_error(error))

        results = self.map(guarded, items)
        for result in results:
            if isinstance(result, FailedEvaluation) and result.fatal:
                raise EvaluatorError(f"out of memory: {result.reason}")
        return results

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def check_same(self, value: Any, what: str) -> None:
        """Fail loudly when the ranks disagree on `value` (their searches diverged),
        rather than gather one rank's results for another rank's candidates."""
        if not self.active:
            return
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        differing = [rank for rank, v in enumerate(values) if v != values[0]]
        if differing:
            raise EvaluatorError(
                f"the processes of this job disagree on {what} (rank(s) "
                f"{', '.join(map(str, differing))} differ from rank 0): every rank must run "
                "the same search, from the same run folder, code and config"
            )

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP for training when distributed. Unused parameters are expected: a SPOS path
        without global heads in a block leaves its attention weights out."""
        if not self.active:
            return model
        device_ids = [model_device(model).index] if model_device(model).type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            model, device_ids=device_ids, find_unused_parameters=True
        )


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def check_launched_device(device: str) -> None:
    """Refuse one named GPU for every process of a torchrun job (they would all train on
    it: NCCL's "Duplicate GPU"); each process takes cuda:LOCAL_RANK from a plain "cuda"."""
    world = launched_world_size()
    if world > 1 and device.startswith("cuda:"):
        raise ValueError(
            f"--device {device} names one GPU for all {world} processes of "
            "this torchrun job; use --device cuda (or auto): each process takes the GPU of "
            "its LOCAL_RANK (choose the GPUs with CUDA_VISIBLE_DEVICES)"
        )


def local_device(device: str) -> str:
    """The GPU of this process under torchrun (cuda:LOCAL_RANK) when `device` is a
    plain "cuda" or "auto" with GPUs; otherwise `device` unchanged."""
    check_launched_device(device)
    local_rank = os.environ.get("LOCAL_RANK")
    wants_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if local_rank is None or not wants_cuda:
        return device
    torch.cuda.set_device(int(local_rank))
    return f"cuda:{int(local_rank)}"


def init_from_env(device: torch.device | None = None) -> Ranks:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR...)."""
    if launched_world_size() <= 1:
        return Ranks()
    if not dist.is_initialized():
        cuda = device is not None and device.type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size())


def shutdown() -> None:
    """Leave the process group cleanly (a process that exits without it can abort in
    gloo's teardown, 'terminate called without an active exception')."""
    leave_process_group(finished=True)
