"""Measured cost of a built model, to check the analytic cost model against torch."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from glit_space.config import Width
from glit_space.cost import Cost


def measure_cost(model: nn.Module, width: Width) -> Cost:
    """MACs per image as FlopCounterMode counts them (its FLOPs / 2) and the parameter count.

    Works on real tensors and on the meta device; the latter is cheap for large widths:
    build the model under `torch.device("meta")` and nothing is computed.
    """
    device = next(model.parameters()).device
    x = torch.zeros(1, width.in_chans, width.img_size, width.img_size, device=device)
    was_training = model.training
    model.eval()
    # On CPU tensors torch dispatches attention to a fused kernel that FlopCounterMode
    # cannot count (it reports 0); the math backend splits it into counted matmuls.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    model.train(was_training)
    flops = counter.get_total_flops()
    return Cost(macs=flops // 2, params=sum(p.numel() for p in model.parameters()))
