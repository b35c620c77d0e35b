"""Latency-table parts of AutoFormer networks: keys, analytic costs and standalone modules.

An AutoFormer network of embedding dim d runs "patch_embed:embed_dim=d" (patch conv,
class token, position embedding), one "block:embed_dim=d,heads=H,mlp_ratio=M" per block
(depth enters as the number of block parts) and "head:embed_dim=d" (final LayerNorm,
mean of the patch tokens, classifier), in the one key form of
`archspace.latency.part_key`. A width's table has, per embed dim, one stem, one head and
heads x MLP-ratio blocks: 3 * (2 + 2 * 3) = 24 keys for both "tiny" and "cpu".

The modules are the pieces a built `AutoFormer` runs (`vit_parts` slices one), so
chaining a network's parts reproduces its forward pass exactly, given its weights.
This module imports torch; the plugin imports it only when asked for latency parts.
"""

from __future__ import annotations

from torch import nn

from archspace.latency import parse_part_key, part_key
from autoformer_space import cost as cost_model
from autoformer_space.config import Arch, BlockArch, Width
from oneshot.shapes import Cost
from oneshot.vit import vit_parts

EXAMPLES = (
    "'patch_embed:embed_dim=192', 'block:embed_dim=192,heads=3,mlp_ratio=3.5', 'head:embed_dim=192'"
)


# ---- keys ----------------------------------------------------------------------------------


def stem_key(embed_dim: int) -> str:
    return part_key("patch_embed", embed_dim=embed_dim)


def head_key(embed_dim: int) -> str:
    return part_key("head", embed_dim=embed_dim)


def block_key(embed_dim: int, block: BlockArch) -> str:
    """E.g. "block:embed_dim=192,heads=3,mlp_ratio=3.5"."""
    return part_key("block", embed_dim=embed_dim, heads=block.heads, mlp_ratio=block.mlp_ratio)


def part_keys(arch: Arch) -> list[str]:
    """The parts a network runs, in order: stem, one key per block, head."""
    d = arch.embed_dim
    return [stem_key(d), *(block_key(d, b) for b in arch.blocks), head_key(d)]


def width_keys(width: Width) -> list[str]:
    """Every key of the width: per embed dim, stem, every heads x MLP ratio block, head."""
    keys = []
    for d in width.embed_dims:
        keys.append(stem_key(d))
        keys += [block_key(d, BlockArch(r, h)) for h in width.heads for r in width.mlp_ratios]
        keys.append(head_key(d))
    return keys


def parse_key(width: Width, key: str) -> tuple[str, int, BlockArch | None]:
    """("patch_embed" | "block" | "head", embed dim, the block or None) of a key of this
    width; ValueError for a key `width_keys(width)` does not hold."""
    error = ValueError(f"{key!r} is not an AutoFormer latency key (e.g. {EXAMPLES})")
    try:
        kind, fields = parse_part_key(key)
    except ValueError:
        raise error from None
    names = ("embed_dim", "heads", "mlp_ratio") if kind == "block" else ("embed_dim",)
    if kind not in ("patch_embed", "block", "head") or tuple(fields) != names:
        raise error
    d, block = fields["embed_dim"], None
    if kind == "block":
        heads, ratio = fields["heads"], fields["mlp_ratio"]
        if not isinstance(heads, int) or isinstance(ratio, str):
            raise error
        block = BlockArch(float(ratio), heads)
    if not isinstance(d, int):
        raise error
    probe = block or BlockArch(width.mlp_ratios[0], width.heads[0])
    try:
        width.check(Arch(d, (probe,) * width.depths[0]))
    except ValueError as err:
        raise ValueError(f"{key!r} is not a part of this width: {err}") from None
    return kind, d, block


def part_cost(width: Width, key: str) -> Cost:
    """Analytic MACs and parameters of one part; a network's parts sum to its cost."""
    kind, d, block = parse_key(width, key)
    if kind == "patch_embed":
        return cost_model.patch_embed_cost(width, d)
    if kind == "head":
        return cost_model.head_cost(width, d)
    return cost_model.block_cost(width, d, block)


# ---- modules -------------------------------------------------------------------------------


def latency_module(width: Width, key: str) -> tuple[nn.Module, tuple[int, ...]]:
    """(fresh module in eval mode, input shape without the batch dim) of one part.

    The stem and head are sliced from a freshly built `AutoFormer` of that embed dim (its
    shallowest, cheapest network); a block is `layers.Block`.
    """
    from autoformer_space.layers import Block
    from autoformer_space.model import AutoFormer

    kind, d, block = parse_key(width, key)
    tokens = (width.num_tokens, d)
    if kind == "block":
        return Block(d, block, width.head_dim).eval(), tokens
    smallest = BlockArch(width.mlp_ratios[0], width.heads[0])
    parts = vit_parts(AutoFormer(width, Arch(d, (smallest,) * width.depths[0])))
    if kind == "patch_embed":
        return parts[0].eval(), (width.in_chans, width.img_size, width.img_size)
    return parts[-1].eval(), tokens
