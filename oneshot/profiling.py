"""Measured cost of a built model, to check a space's analytic cost model against torch."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def measure_cost(model: nn.Module, in_chans: int, img_size: int) -> tuple[int, int]:
    """(MACs per image as FlopCounterMode counts them (its FLOPs / 2), parameter count).

    Works on real tensors and on the meta device; the latter is cheap for large widths:
    build the model under `torch.device("meta")` and nothing is computed.
    """
    device = next(model.parameters()).device
    x = torch.zeros(1, in_chans, img_size, img_size, device=device)
    was_training = model.training
    model.eval()
    # On CPU tensors torch dispatches attention to a fused kernel that FlopCounterMode
    # cannot count (it reports 0); the math backend splits it into counted matmuls.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2, sum(p.numel() for p in model.parameters())
