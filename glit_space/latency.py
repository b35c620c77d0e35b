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

Under a Table 6 locality every key names it first, so no key of one locality is read as
another's: "patch_embed:locality=conv2d", "head:locality=conv2d",
"block:locality=local-attention,global_thirds=0,area=14,ffn_ratio=4" (local attention
keys its area in place of kernel and expansion). A latency table is tied to the space
options it was built for anyway, the locality included.

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
from glit_space.config import BlockArch, Width, canonical_block, deit_blocks
from glit_space.space import block_arrays, block_fields
from oneshot.shapes import Cost
from oneshot.vit import vit_parts

STEM, HEAD, BLOCK = "patch_embed", "head", "block"

# ---- keys and costs ----------------------------------------------------------------------


def _locality(locality: str) -> dict[str, str]:
    """The field a key of a Table 6 locality starts with (none for conv1d)."""
    return {} if locality == "conv1d" else {"locality": locality}


def stem_key(locality: str = "conv1d") -> str:
    return part_key(STEM, **_locality(locality))


def head_key(locality: str = "conv1d") -> str:
    return part_key(HEAD, **_locality(locality))


def block_key(arch: BlockArch, locality: str = "conv1d") -> str:
    """The table key of a block (see the module docstring)."""
    fields = {name: getattr(arch, name) for name in arch.used_fields(locality)}
    return part_key(BLOCK, **_locality(locality), **fields)


def parse_block_key(key: str, locality: str = "conv1d") -> BlockArch:
    """The canonical BlockArch of a block key of `locality`; ValueError for anything
    `block_key` would not write for it."""
    examples = (block_key(a, locality) for a in (BlockArch(3), BlockArch(0, 31, 2, area=14)))
    error = ValueError(
        f"{key!r} is not a GLiT block key of locality {locality} (e.g. "
        + ", ".join(map(repr, examples))
        + ")"
    )
    try:
        kind, values = parse_part_key(key)
    except ValueError:
        raise error from None
    if kind != BLOCK or values.pop("locality", "conv1d") != locality:
        raise error
    if not set(values) <= {f.name for f in dataclasses.fields(BlockArch)}:
        raise error
    if "qkv_ratio" in values:
        values["qkv_ratio"] = float(values["qkv_ratio"])
    try:
        arch = BlockArch(**values)  # the fields a key leaves out: BlockArch's defaults
    except (TypeError, ValueError) as err:
        raise ValueError(f"{key!r}: {err}") from None
    if block_key(arch, locality) != key:
        raise error
    return arch


def part_keys(blocks: Sequence[BlockArch], locality: str = "conv1d") -> list[str]:
    """The parts a network of `blocks` runs, in order: stem, one key per block, head."""
    return [stem_key(locality), *(block_key(a, locality) for a in blocks), head_key(locality)]


def space_blocks(space: Space, locality: str = "conv1d") -> list[BlockArch]:
    """Every distinct canonical block the GLiT space (or a sub-space of it) can hold, in
    any of its block positions, sorted."""
    fields = block_fields(space)
    found: set[BlockArch] = set()
    for i in range(len(space) // len(fields)):
        rows = space.enumerate([f"blocks.{i}.{field}" for field in fields])
        arrays = block_arrays(space, rows)
        for values in zip(*(a[:, i].tolist() for a in arrays.values())):
            found.add(canonical_block(BlockArch(**dict(zip(arrays, values))), locality))
    return sorted(found, key=dataclasses.astuple)


def space_keys(space: Space, locality: str = "conv1d") -> list[str]:
    """Every distinct key of the space: the stem, its distinct blocks, the head."""
    return part_keys(space_blocks(space, locality), locality)


def part_cost(width: Width, key: str) -> Cost:
    """Analytic MACs and parameters of one part; a network's parts sum to its cost."""
    if key == stem_key(width.locality):
        return cost_model.patch_embed_cost(width)
    if key == head_key(width.locality):
        return cost_model.head_cost(width)
    return cost_model.block_cost(width, parse_block_key(key, width.locality))


# ---- modules -------------------------------------------------------------------------------


def latency_module(width: Width, key: str) -> tuple[nn.Module, tuple[int, ...]]:
    """(fresh module in eval mode, input shape without the batch dim) of one part.

    The stem and head are sliced from a freshly built DeiT network of the width (the
    same classes and settings as every GLiT network); a block is `layers.Block`.
    """
    from glit_space.layers import Block
    from glit_space.model import GLiT

    tokens = (width.num_tokens, width.embed_dim)
    stem, head = stem_key(width.locality), head_key(width.locality)
    if key in (stem, head):
        parts = vit_parts(GLiT(width, deit_blocks(width)))
        if key == stem:
            return parts[0].eval(), (width.in_chans, width.img_size, width.img_size)
        return parts[-1].eval(), tokens
    if not key.startswith(BLOCK + ":"):
        raise ValueError(
            f"unknown GLiT latency part {key!r}: expected {stem!r}, {head!r} or "
            f"a block key such as {block_key(BlockArch(3), width.locality)!r}"
        )
    arch = parse_block_key(key, width.locality)
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
    "head_key",
    "latency_module",
    "parse_block_key",
    "part_cost",
    "part_keys",
    "space_blocks",
    "space_keys",
    "stem_key",
]
