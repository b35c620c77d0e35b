"""What the optimiser sees: the parameter groups (which tensors decay) and the
learning-rate schedule, shared by supernet training and retraining."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters a module excludes from weight decay by listing them
    in its `no_weight_decay()` (timm's convention: names relative to that module)."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        listed = getattr(module, "no_weight_decay", None)
        if callable(listed):
            names.update(f"{prefix}.{name}" if prefix else name for name in listed())
    return names


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices and kernels only: as in timm, not 1-D parameters (norms), biases
    or what the model's `no_weight_decay()` names (position embedding, class token)."""
    excluded = no_weight_decay_names(model)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.endswith(".bias") or name in excluded
        (no_decay if skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> Callable:
    """LR multiplier: linear warm-up, then cosine from 1 down to `min_ratio`."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor
