"""Analytic cost of AutoFormer networks: multiply-accumulates and parameters, no torch.

MACs ("FLOPs" in the AutoFormer and DeiT papers) per image, counted as
torch.utils.flop_counter.FlopCounterMode counts them (its total / 2) on the built
`AutoFormer`: the patch-embedding conv, the qkv, proj, fc1 and fc2 Linears, the two
attention products (Q K^T and A V, each T * T * q whatever the head count, q = heads *
head_dim) and the classifier on the pooled feature. Bias additions, LayerNorm, GELU,
softmax, residuals, the position-embedding addition and the mean pooling are not
counted, by FlopCounterMode nor here.
"""

from __future__ import annotations

import numpy as np

from autoformer_space.config import Arch, BlockArch, Width, hidden_units
from oneshot.shapes import Cost


def _patch_terms(width: Width, d):
    """Patch conv MACs; conv, class token and position embedding parameters."""
    kernel = width.in_chans * width.patch_size**2
    return width.num_patches * d * kernel, (kernel + 1) * d + d + width.num_tokens * d


def _head_terms(width: Width, d):
    """Classifier MACs on the pooled feature; final LayerNorm and classifier parameters."""
    k = width.num_classes
    return d * k, 2 * d + (d + 1) * k


def patch_embed_cost(width: Width, embed_dim: int) -> Cost:
    """Patch conv, plus the class token and position embedding (parameters only)."""
    return Cost(*_patch_terms(width, embed_dim))


def head_cost(width: Width, embed_dim: int) -> Cost:
    """Final LayerNorm (parameters only) and the classifier on the pooled feature."""
    return Cost(*_head_terms(width, embed_dim))


def _block_terms(t, d, q, f):
    """(macs, params) of a block with t tokens, embed d, q/k/v width q and FFN hidden f;
    the same integer arithmetic on ints and on numpy arrays."""
    macs = t * d * 3 * q + 2 * t * t * q + t * q * d + 2 * t * d * f
    params = 4 * d + (d + 1) * 3 * q + (q + 1) * d + (d + 1) * f + (f + 1) * d
    return macs, params


def block_cost(width: Width, embed_dim: int, block: BlockArch) -> Cost:
    """Two LayerNorms, attention (qkv, Q K^T, A V, proj) and the MLP of one block."""
    q, f = block.heads * width.head_dim, hidden_units(embed_dim, block.mlp_ratio)
    return Cost(*_block_terms(width.num_tokens, embed_dim, q, f))


def model_cost_breakdown(width: Width, arch: Arch) -> list[tuple[str, Cost]]:
    """Cost per part, in order: "patch_embed", "block 0".."block N-1", "head"."""
    d = width.check(arch).embed_dim
    parts = [("patch_embed", patch_embed_cost(width, d))]
    parts += [(f"block {i}", block_cost(width, d, b)) for i, b in enumerate(arch.blocks)]
    return [*parts, ("head", head_cost(width, d))]


def model_cost(width: Width, arch: Arch) -> Cost:
    """Total MACs per image and parameters of AutoFormer(width, arch)."""
    return sum((c for _, c in model_cost_breakdown(width, arch)), Cost(0, 0))


def cost_batch(
    width: Width,
    embed_dim: np.ndarray,
    mlp_ratio: np.ndarray,
    heads: np.ndarray,
    active: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(macs, params), int64 of shape (n,), of n networks: `embed_dim` (n,), the other
    arrays (n, max_depth) with `active` marking the blocks that exist.

    The vectorised twin of `model_cost` (same integer arithmetic, identical numbers),
    for scoring whole populations; see `space.decode_batch` for the arrays.
    """
    d = np.asarray(embed_dim, dtype=np.int64)
    f = np.rint(d[:, None] * np.asarray(mlp_ratio, dtype=np.float64)).astype(np.int64)
    q = np.asarray(heads, dtype=np.int64) * width.head_dim
    macs, params = _block_terms(width.num_tokens, d[:, None], q, f)
    on = np.asarray(active, dtype=bool)
    (pm, pp), (hm, hp) = _patch_terms(width, d), _head_terms(width, d)
    return (macs * on).sum(axis=1) + pm + hm, (params * on).sum(axis=1) + pp + hp
