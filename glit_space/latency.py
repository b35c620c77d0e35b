"""Latency-table parts of GLiT networks: keys, analytic costs and standalone modules.

A GLiT network runs three kinds of parts, in order: "patch_embed" (patch conv, class
token, position embedding), one "block:..." per block, and "head" (final LayerNorm,
class-token read-out, classifier), keyed in the one form of `archspace.latency.part_key`.
A block's key names its canonical `BlockArch`: the fields the block ignores are left out
of the key (and pinned to `BlockArch`'s defaults when the key is read back), so equal
blocks share one table entry:

- all-global (3 thirds global): "block:global_thirds=3,qkv_ratio=Q,ffn_ratio=F" (kernel
  and expansion unused);
- all-local (0 thirds global): "block:global_thirds=0,kernel=K,expansion=E,ffn_ratio=F"
  (qkv unused);
- mixed (1 or 2 thirds): every field, "block:global_thirds=1,kernel=K,expansion=E,
  qkv_ratio=Q,ffn_ratio=F".

The paper space has 9 + 27 + 2 * 81 = 198 distinct blocks (so 200 keys with the stem
and head), the "published" variant 9 + 9 + 2 * 9 = 36 (38 keys), at every width.

The modules (`ViTStem`, the space's `Block`, `ViTHead`) are the very pieces the built
network runs: `vit_parts(model)` slices a built `VisionTransformer` into them, and
`latency_module` builds each part fresh from the width, so chaining the parts of a
network reproduces its forward pass exactly (given the same weights).

This module imports torch; the plugin imports it only when asked for latency parts, so
importing `glit_space` stays torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from torch import nn

from archspace import Space
from archspace.latency import parse_part_key, part_key
from glit_space import cost as cost_model
from glit_space.config import BlockArch, Width, deit_blocks
from glit_space.space import FIELDS, block_arrays
from oneshot.shapes import Cost
from oneshot.vit import vit_parts

STEM, HEAD, BLOCK = "patch_embed", "head", "block"
EXAMPLE = "'block:global_thirds=3,qkv_ratio=1,ffn_ratio=4'"

#: the values an ignored field is pinned to: BlockArch's own defaults
_PINNED = {f.name: f.default for f in dataclasses.fields(BlockArch) if f.name != "global_thirds"}


# ---- keys and costs ----------------------------------------------------------------------


def _number(text: str | float) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def canonical_block(arch: BlockArch) -> BlockArch:
    """`arch` with the fields it ignores pinned: equal blocks give equal results."""
    pinned = {}
    if not arch.has_local:
        pinned.update(kernel=_PINNED["kernel"], expansion=_PINNED["expansion"])
    if not arch.has_global:
        pinned.update(qkv_ratio=_PINNED["qkv_ratio"])
    return dataclasses.replace(arch, **pinned)


def block_key(arch: BlockArch) -> str:
    """The table key of a block (see the module docstring)."""
    fields: dict[str, int | float] = {"global_thirds": arch.global_thirds}
    if arch.has_local:
        fields.update(kernel=arch.kernel, expansion=arch.expansion)
    if arch.has_global:
        fields["qkv_ratio"] = arch.qkv_ratio
    fields["ffn_ratio"] = arch.ffn_ratio
    return part_key(BLOCK, **fields)


def parse_block_key(key: str) -> BlockArch:
    """The canonical BlockArch of a block key; ValueError for anything `block_key` would
    not write."""
    error = ValueError(
        f"{key!r} is not a GLiT block key (e.g. {EXAMPLE}, "
        "'block:global_thirds=0,kernel=31,expansion=2,ffn_ratio=4')"
    )
    try:
        kind, values = parse_part_key(key)
    except ValueError:
        raise error from None
    if kind != BLOCK or not set(values) <= {"global_thirds", *_PINNED}:
        raise error
    if "qkv_ratio" in values:
        values["qkv_ratio"] = float(values["qkv_ratio"])
    try:
        arch = BlockArch(**{**_PINNED, **values})
    except (TypeError, ValueError) as err:
        raise ValueError(f"{key!r}: {err}") from None
    if block_key(arch) != key:
        raise error
    return arch


def part_keys(blocks: Sequence[BlockArch]) -> list[str]:
    """The parts a network of `blocks` runs, in order: stem, one key per block, head."""
    return [STEM, *(block_key(arch) for arch in blocks), HEAD]


def space_blocks(space: Space) -> list[BlockArch]:
    """Every distinct canonical block the GLiT space (or a sub-space of it) can hold, in
    any of its block positions, sorted."""
    depth = len(space) // len(FIELDS)
    found: set[BlockArch] = set()
    for i in range(depth):
        rows = space.enumerate([f"blocks.{i}.{field}" for field in FIELDS])
        arrays = block_arrays(space, rows)
        for g, k, e, q, f in zip(*(arrays[field][:, i] for field in FIELDS)):
            arch = BlockArch(int(g), int(k), int(e), float(q), _number(f))
            found.add(canonical_block(arch))
    return sorted(found, key=dataclasses.astuple)


def space_keys(space: Space) -> list[str]:
    """Every distinct key of the space: the stem, its distinct blocks, the head."""
    return part_keys(space_blocks(space))


def part_cost(width: Width, key: str) -> Cost:
    """Analytic MACs and parameters of one part; a network's parts sum to its cost."""
    if key == STEM:
        return cost_model.patch_embed_cost(width)
    if key == HEAD:
        return cost_model.head_cost(width)
    return cost_model.block_cost(width, parse_block_key(key))


# ---- modules -------------------------------------------------------------------------------


def latency_module(width: Width, key: str) -> tuple[nn.Module, tuple[int, ...]]:
    """(fresh module in eval mode, input shape without the batch dim) of one part.

    The stem and head are sliced from a freshly built DeiT network of the width (the
    same classes and settings as every GLiT network); a block is `layers.Block`.
    """
    from glit_space.layers import Block
    from glit_space.model import GLiT

    tokens = (width.num_tokens, width.embed_dim)
    if key in (STEM, HEAD):
        parts = vit_parts(GLiT(width, deit_blocks(width)))
        if key == STEM:
            return parts[0].eval(), (width.in_chans, width.img_size, width.img_size)
        return parts[-1].eval(), tokens
    if not key.startswith(BLOCK + ":"):
        raise ValueError(
            f"unknown GLiT latency part {key!r}: expected {STEM!r}, {HEAD!r} or "
            f"a block key such as {EXAMPLE}"
        )
    arch = parse_block_key(key)
    try:
        arch.validate(width)
    except ValueError as err:
        raise ValueError(f"{key!r} does not fit this width: {err}") from None
    return Block(width, arch).eval(), tokens


__all__ = [
    "HEAD",
    "STEM",
    "block_key",
    "canonical_block",
    "latency_module",
    "parse_block_key",
    "part_cost",
    "part_keys",
    "space_blocks",
    "space_keys",
]
