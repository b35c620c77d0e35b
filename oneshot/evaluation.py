"""Top-1 evaluation of standalone models and of supernet paths (SPOS-style)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from archspace import Genotype
from oneshot.batchnorm import recalibrate_bn
from oneshot.runtime import Runtime


@torch.inference_mode()
def top1(model: nn.Module, loader: DataLoader | Iterable, runtime: Runtime) -> float:
    """Fraction of correctly classified images, batched, without gradients; the count
    stays on the device until the end (one host read per evaluation, not per batch)."""
    was_training = model.training
    model.eval()
    correct: Tensor | int = 0
    total = 0
    for x, y in loader:
        x, y = x.to(runtime.device), y.to(runtime.device)
        with runtime.autocast():
            logits = model(x)
        correct = correct + (logits.argmax(dim=1) == y).sum()
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluation got an empty data loader")
    return int(correct) / total


def supernet_top1(
    supernet: nn.Module,
    genotype: Genotype,
    loader: DataLoader | Iterable,
    calibration: Sequence[Tensor],
    runtime: Runtime,
) -> float:
    """Top-1 of one path with inherited weights.

    BatchNorm statistics gathered during supernet training mix every sampled path, so
    they are re-estimated for this path on fixed training batches first (SPOS's
    recalibration), under the same autocast as the evaluation; with the same batches
    the result is deterministic.
    """
    supernet.activate(genotype)
    if calibration:
        batches = [x.to(runtime.device) for x in calibration]
        recalibrate_bn(supernet, batches, len(batches), precision=runtime.autocast)
    return top1(supernet, loader, runtime)
