"""BatchNorm under weight sharing: a channel-sliced BatchNorm and SPOS-style recalibration.

Every path of the supernet normalises a different number of channels with a different
upstream network, so running statistics accumulated while training the supernet are a
blend over many paths and do not describe any single one. Evaluating a path with them
misranks architectures. Single Path One-Shot therefore recomputes the statistics of each
path before it is evaluated: reset, then average over a few training batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class SlicedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over the largest channel count, applied to the first C channels of a
    (B, C, T) input for any C up to `num_features`.

    Parameters and running buffers are sliced as views, so F.batch_norm updates the
    shared buffers in place; only the active channels' statistics move.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__(num_features, eps=eps, momentum=momentum)

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        if x.dim() not in (2, 3) or c > self.num_features:
            raise ValueError(
                f"SlicedBatchNorm1d({self.num_features}) got input of shape {tuple(x.shape)}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
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


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """All BatchNorm layers of a model that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor], max_batches: int) -> int:
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
    are reset; only the slices of the active path are re-estimated. Returns the number
    of batches used.
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
        with torch.no_grad():
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
