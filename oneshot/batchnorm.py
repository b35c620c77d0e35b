"""BatchNorm under weight sharing: a channel-sliced BatchNorm and SPOS-style recalibration.

Every path of the supernet normalises a different number of channels with a different
upstream network, so running statistics accumulated while training the supernet are a
blend over many paths and do not describe any single one. Evaluating a path with them
misranks architectures. Single Path One-Shot therefore recomputes the statistics of each
path before it is evaluated: reset, then average over a few training batches.

Under torchrun, training normalises with the statistics of the whole global batch
(`synchronised_batchnorm`), so N processes train like one process on the global batch.
Recalibration stays local: each process evaluates its own candidates on the same fixed
calibration batches, which gives the same statistics as one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from itertools import islice

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class SlicedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over the largest channel count, applied to the first C channels of a
    (B, C, T) input for any C up to `num_features`.

    Parameters and running buffers are sliced as views, so F.batch_norm updates the
    shared buffers in place; only the active channels' statistics move. The cumulative
    average (momentum None: recalibration) counts its batches on the host since the
    last `reset_running_stats`, so a batch costs no device-to-host read of
    `num_batches_tracked` (torch's BatchNorm reads it, a sync per layer per batch).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__(num_features, eps=eps, momentum=momentum)

    def reset_running_stats(self) -> None:
        super().reset_running_stats()
        self.batches_since_reset = 0

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        if x.dim() not in (2, 3) or c > self.num_features:
            raise ValueError(
                f"SlicedBatchNorm1d({self.num_features}) got input of shape {tuple(x.shape)}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            self.batches_since_reset += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / self.batches_since_reset
        return F.batch_norm(
            x,
            self.running_mean[:c],
            self.running_var[:c],
            self.weight[:c],
            self.bias[:c],
            training=self.training,
            momentum=factor,
            eps=self.eps,
        )


class _GatherRows(torch.autograd.Function):
    """Differentiable all-gather of one row per process -> (world, *row.shape).

    Every process's loss depends on every process's row, so the gradient of this
    process's row is the sum over processes of their gradients for it (as in torch's
    SyncBatchNorm). Done with all_reduce, which every backend supports."""

    @staticmethod
    def forward(ctx, row: Tensor, group) -> Tensor:
        ctx.group, ctx.rank = group, dist.get_rank(group)
        rows = row.new_zeros(dist.get_world_size(group), *row.shape)
        rows[ctx.rank] = row
        dist.all_reduce(rows, group=group)
        return rows

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad[ctx.rank], None


def _synced_forward(bn: _BatchNorm, original, x: Tensor, group=None) -> Tensor:
    """BatchNorm in training mode with the statistics of the batch of all processes.

    Works for plain BatchNorm*d and for SlicedBatchNorm1d (the first C channels of the
    parameters and buffers, C = x.shape[1]). Per process: mean and centred sum of
    squares per channel (two-pass, as precise as F.batch_norm); gathered and combined
    exactly (Chan et al.); the running statistics move as F.batch_norm moves them on the
    global batch (unbiased variance), so they agree with one process, on every rank.
    """
    if not bn.training or x.dim() < 2:
        return original(x)
    c = x.shape[1]
    if c > bn.num_features:
        raise ValueError(
            f"{type(bn).__name__}({bn.num_features}) got input of shape {tuple(x.shape)}"
        )
    dims = [0, *range(2, x.dim())]
    shape = [1, c] + [1] * (x.dim() - 2)
    xf = x.float()
    local_mean = xf.mean(dims)
    local_m2 = (xf - local_mean.view(shape)).square().sum(dims)
    count = xf.new_full((1,), x.numel() // c)
    rows = _GatherRows.apply(torch.cat([local_mean, local_m2, count]), group)
    means, m2s, counts = rows[:, :c], rows[:, c : 2 * c], rows[:, 2 * c :]
    total = counts.sum()
    mean = (counts * means).sum(0) / total
    m2 = (m2s + counts * (means - mean).square()).sum(0)
    var = m2 / total
    if bn.track_running_stats and bn.running_mean is not None:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = bn.momentum
            if factor is None:  # cumulative moving average
                factor = 1.0 / float(bn.num_batches_tracked)
            unbiased = m2 / (total - 1).clamp(min=1)
            bn.running_mean[:c].lerp_(mean.detach().to(bn.running_mean.dtype), factor)
            bn.running_var[:c].lerp_(unbiased.detach().to(bn.running_var.dtype), factor)
    y = (xf - mean.view(shape)) * torch.rsqrt(var + bn.eps).view(shape)
    if bn.weight is not None:
        y = y * bn.weight[:c].float().view(shape) + bn.bias[:c].float().view(shape)
    return y.to(x.dtype)


@contextmanager
def synchronised_batchnorm(model: nn.Module, group=None) -> Iterator[nn.Module]:
    """Within the block, every BatchNorm layer of `model` in training mode normalises with
    the statistics of the batch of all processes of `group` (default: all).

    Why: under DDP each process sees 1/N of the global batch; per-process statistics
    would make N processes train differently from one. torch's nn.SyncBatchNorm does
    this only on GPUs and would replace SlicedBatchNorm1d with a non-sliced layer, so
    the layers' forward is swapped for a synchronised one here (CPU/gloo and GPU/nccl)
    and restored on exit; state_dict, classes and evaluation are unchanged. Layers in
    eval mode, and BatchNorm run outside the block (recalibration, which runs per path
    on each process), stay local. Every process must run the same layers in the same
    order (the same SPOS path), as DDP requires anyway.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) < 2:
        yield model
        return
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for bn in layers:
        if not isinstance(bn, nn.SyncBatchNorm):
            bn.forward = partial(_synced_forward, bn, bn.forward, group=group)
    try:
        yield model
    finally:
        for bn in layers:
            bn.__dict__.pop("forward", None)


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """All BatchNorm layers of a model that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def recalibrate_bn(
    model: nn.Module,
    batches: Iterable[Tensor],
    max_batches: int,
    precision: Callable[[], AbstractContextManager] = nullcontext,
) -> int:
    """Recompute BatchNorm running statistics for the model's current (active) path.

    Why: statistics left over from supernet training mix many paths (see module docs),
    so before a path is evaluated they are reset and re-estimated on its own activations.
    Momentum is set to None (an exact cumulative average over the batches rather than an
    exponential one that would favour the last batch), the forwards run under no_grad,
    and only the BatchNorm layers are put in train mode: drop-path and dropout stay off,
    so the statistics describe the activations the network sees at evaluation time, and
    the result is deterministic for given batches.

    `batches` yields input tensors (or tuples/lists whose first item is the input, as a
    DataLoader does); at most `max_batches` are used. Momentum and every module's
    train/eval flag are restored afterwards. For the supernet the whole max-size buffers
    are reset; only the slices of the active path are re-estimated. The forwards run
    under `precision()` (the runtime's autocast), so the statistics describe the same
    activations as the evaluation that follows. Returns the number of batches used.
    """
    if max_batches < 1:
        raise ValueError(f"max_batches must be >= 1, got {max_batches}")
    layers = batchnorm_layers(model)
    modes = {m: m.training for m in model.modules()}
    momenta = [bn.momentum for bn in layers]
    used = 0
    try:
        model.eval()
        for bn in layers:
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        with torch.no_grad(), precision():
            for batch in islice(batches, max_batches):
                if isinstance(batch, (tuple, list)):
                    batch = batch[0]
                model(batch)
                used += 1
    finally:
        for bn, momentum in zip(layers, momenta):
            bn.momentum = momentum
        for module, training in modes.items():
            module.training = training
    if layers and used == 0:
        raise ValueError("recalibrate_bn got no batches; running statistics are now reset")
    return used
