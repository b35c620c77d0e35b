"""Leading-slice weight sharing ("weight entanglement", AutoFormer-style) for supernets.

A supernet layer holds the largest weights; a smaller choice uses the leading block of
them (the first `out` rows and `in` columns of a Linear, the first `d` entries of a
LayerNorm). Forward passes and exports both read the slices through these helpers, so
an exported subnet holds exactly the weights its supernet path used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def linear_slice(
    layer: nn.Linear, out_features: int, in_features: int
) -> tuple[Tensor, Tensor | None]:
    """(weight[:out, :in], bias[:out]) of a Linear; views, so gradients reach the layer."""
    _check_fits(layer, out_features, layer.out_features, "output")
    _check_fits(layer, in_features, layer.in_features, "input")
    bias = None if layer.bias is None else layer.bias[:out_features]
    return layer.weight[:out_features, :in_features], bias


def sliced_linear(x: Tensor, layer: nn.Linear, out_features: int) -> Tensor:
    """`layer` on the leading block that fits x's features and `out_features` outputs."""
    return F.linear(x, *linear_slice(layer, out_features, x.shape[-1]))


def sliced_layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    """LayerNorm over x's last dim with the leading entries of `norm`'s affine weights."""
    d = x.shape[-1]
    _check_fits(norm, d, norm.normalized_shape[-1], "feature")
    return F.layer_norm(x, (d,), norm.weight[:d], norm.bias[:d], norm.eps)


@torch.no_grad()
def copy_params(dst: nn.Module, weight: Tensor, bias: Tensor | None = None) -> None:
    """Copy (sliced) weights into a standalone layer of exactly their shape."""
    if dst.weight.shape != weight.shape:
        raise ValueError(f"cannot copy a {tuple(weight.shape)} slice into {dst}")
    dst.weight.copy_(weight)
    if bias is not None:
        dst.bias.copy_(bias)


def _check_fits(layer: nn.Module, size: int, limit: int, what: str) -> None:
    if not 0 < size <= limit:
        raise ValueError(f"{layer}: {what} size {size} is outside the supernet's 1..{limit}")
