"""Analytic cost model of GLiT networks: multiply-accumulates and parameters, no torch.

"FLOPs" in the DeiT and GLiT papers are multiply-accumulates (MACs); this module counts
MACs and says so. The count equals torch.utils.flop_counter.FlopCounterMode's total / 2
on the built `GLiT` (for batch 1), i.e. it covers exactly the matrix products:
- the patch-embedding Conv2d, the qkv and output Linears, the FFN Linears, the head
  (applied to the class token only, or under conv2d to the mean of the tokens);
- the two attention products inside scaled_dot_product_attention (Q K^T and A V, each
  T * T * C_g * qkv_ratio MACs whatever the head count);
- the local path, by locality (T tokens: the patches, plus the class token except under
  conv2d; h = E * C_l):
  - conv1d: the two pointwise Conv1d (T * C_l * 2h and T * h * C_l) and the depthwise
    Conv1d (T * h * K);
  - conv2d: the same with a K x K depthwise Conv2d (T * h * K^2);
  - local-attention: q/k/v and output Linears (T * C_l * 3 C_l and T * C_l * C_l) and,
    inside the windows of `area` patch tokens, Q K^T and A V (each (T - 1) * area * C_l;
    the class token attends to itself alone: nothing to multiply).
Not counted, as FlopCounterMode does not count them either: bias additions, LayerNorm,
GLU, BatchNorm, GELU/Swish, softmax and its scaling, residual additions, the
position-embedding addition, the average pooling.

Caveat for measuring: with real CPU tensors, PyTorch dispatches scaled_dot_product_attention
to a fused CPU kernel that FlopCounterMode has no formula for (it reports 0 for it); on
the meta device the same call decomposes into two counted batched matmuls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from glit_space.config import BlockArch, Width, check_blocks
from oneshot.shapes import Cost

__all__ = [
    "Cost",
    "block_cost",
    "cost_batch",
    "head_cost",
    "model_cost",
    "model_cost_breakdown",
    "patch_embed_cost",
]


def patch_embed_cost(width: Width) -> Cost:
    """Patch-embedding conv plus the class token (if any) and position embedding (params
    only)."""
    d, p = width.embed_dim, width.patch_size
    kernel_in = width.in_chans * p * p
    return Cost(
        macs=width.num_patches * d * kernel_in,
        params=d * kernel_in + d + d * width.class_token + width.num_tokens * d,
    )


def head_cost(width: Width) -> Cost:
    """Final LayerNorm (params only) and the classifier on the class token."""
    d, k = width.embed_dim, width.num_classes
    return Cost(macs=d * k, params=2 * d + d * k + k)


def _block_terms(t, d, cg, cl, q, h, k, f, locality="conv1d"):
    """(macs, params) of a block from its sizes; works on ints and numpy arrays alike.

    t tokens, d embed dim, cg/cl global/local channels, q = C_g * qkv_ratio, h = E * C_l,
    k the local size (kernel, or area under local attention), f FFN hidden. Every term of
    a path carries its channel count as a factor, so an absent path (C_g = 0 or C_l = 0)
    contributes exactly zero without masking.
    """
    attn_macs = t * cg * 3 * q + 2 * t * t * q + t * q * cg  # qkv, Q K^T and A V, proj
    local_macs, local_params = _local_terms(t, cl, h, k, locality)
    ffn_macs = 2 * t * d * f
    attn_params = (cg + 1) * 3 * q + (q + 1) * cg
    other_params = 4 * d + (d + 1) * f + (f + 1) * d  # two LayerNorms, FFN
    return attn_macs + local_macs + ffn_macs, attn_params + local_params + other_params


def _local_terms(t, cl, h, k, locality):
    """(macs, params) of the local path (see the module docstring)."""
    if locality == "local-attention":  # qkv and proj Linears, Q K^T and A V in windows
        return 4 * t * cl * cl + 2 * (t - 1) * k * cl, 4 * (cl + 1) * cl
    taps = k * k if locality == "conv2d" else k
    macs = t * cl * 2 * h + t * h * taps + t * h * cl  # pointwise, depthwise, pointwise
    params = (cl + 1) * 2 * h + (taps + 1) * h + 2 * h + (h + 1) * cl  # 2 h: BN affine
    return macs, params


def _local_size(width: Width, arch: BlockArch) -> int:
    """The local sub-module's size: its kernel, or its area under local attention."""
    return arch.area if width.locality == "local-attention" else arch.kernel


def block_cost(width: Width, arch: BlockArch) -> Cost:
    """One global-local block: LayerNorms, attention path, local path, FFN."""
    arch.validate(width)
    macs, params = _block_terms(
        width.num_tokens,
        width.embed_dim,
        arch.global_channels(width),
        arch.local_channels(width),
        arch.qkv_channels(width),
        arch.conv_channels(width),
        _local_size(width, arch),
        arch.ffn_hidden(width),
        width.locality,
    )
    return Cost(macs, params)


def model_cost_breakdown(width: Width, blocks: Sequence[BlockArch]) -> list[tuple[str, Cost]]:
    """Cost per part, in order: "patch_embed", "block 0".."block M-1", "head"."""
    blocks = check_blocks(width, blocks)
    parts = [("patch_embed", patch_embed_cost(width))]
    parts += [(f"block {i}", block_cost(width, arch)) for i, arch in enumerate(blocks)]
    parts.append(("head", head_cost(width)))
    return parts


def model_cost(width: Width, blocks: Sequence[BlockArch]) -> Cost:
    """Total MACs per image and parameters of GLiT(width, blocks)."""
    total = Cost(0, 0)
    for _, cost in model_cost_breakdown(width, blocks):
        total = total + cost
    return total


def _whole(values: np.ndarray, what: str) -> np.ndarray:
    rounded = np.rint(values)
    if not np.array_equal(rounded, values):
        raise ValueError(f"{what} is not a whole number of channels for some entries")
    return rounded.astype(np.int64)


def cost_batch(
    width: Width,
    global_thirds: np.ndarray,
    kernel: np.ndarray,
    expansion: np.ndarray,
    qkv_ratio: np.ndarray,
    ffn_ratio: np.ndarray,
    area: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(macs, params), each int64 of shape (n,), for n networks given as (n, depth) arrays.

    The vectorised twin of `model_cost` for scoring whole populations at once; it
    performs the same integer arithmetic and gives identical numbers. Checks ranges and
    whole channel counts but not divisibility of q/k/v by the head count, nor that areas
    tile the tokens (see BlockArch.validate). `area` is needed under local attention
    (where it replaces the kernel) and ignored otherwise.
    """
    if width.locality == "local-attention":
        if area is None:
            raise ValueError("local attention needs the area array")
        kernel = area
    arrays = [np.asarray(a) for a in (global_thirds, kernel, expansion, qkv_ratio, ffn_ratio)]
    shape = arrays[0].shape
    if len(shape) != 2 or shape[1] != width.depth:
        raise ValueError(f"expected arrays of shape (n, {width.depth}), got {shape}")
    if any(a.shape != shape for a in arrays):
        shapes = [a.shape for a in arrays]
        raise ValueError(f"all arrays must share the shape {shape}, got {shapes}")
    g3, kern, exp_, qkv_r, ffn_r = arrays
    if g3.min(initial=0) < 0 or g3.max(initial=0) > 3:
        raise ValueError("global_thirds must be in 0..3")
    if min(a.min(initial=1) for a in (kern, exp_, qkv_r, ffn_r)) <= 0:
        raise ValueError("kernel (area), expansion, qkv_ratio and ffn_ratio must be positive")

    t, d = np.int64(width.num_tokens), np.int64(width.embed_dim)
    cg = d * g3.astype(np.int64) // 3
    cl = d - cg
    q = _whole(cg * qkv_r.astype(np.float64), "C_g * qkv_ratio")
    h = exp_.astype(np.int64) * cl
    k = kern.astype(np.int64)
    f = _whole(d * ffn_r.astype(np.float64), "embed_dim * ffn_ratio")

    macs, params = _block_terms(t, d, cg, cl, q, h, k, f, width.locality)
    fixed = patch_embed_cost(width) + head_cost(width)
    return macs.sum(axis=1) + fixed.macs, params.sum(axis=1) + fixed.params
