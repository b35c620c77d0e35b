"""The AutoFormer search space in the archspace encoding.

Choices, in order:

- `depth` and `embed_dim`, level "macro": the network's shape;
- per block slot i < max depth, `blocks.{i}.mlp_ratio` and `blocks.{i}.heads`, level
  "block". Slots past the smallest depth are active only when `depth > i`, so a block
  that does not exist is pinned to its default and equal networks get equal genotypes.

Hierarchical search therefore settles the macro shape first, then the blocks.
"""

from __future__ import annotations

import numpy as np

from archspace import Choice, Genotype, GenotypeError, In, Space
from autoformer_space.config import Arch, BlockArch, Width

MACRO, BLOCK = "macro", "block"
#: columns of the two macro choices; block i has columns 2 + 2i (mlp ratio), 3 + 2i (heads)
DEPTH, EMBED = 0, 1


def autoformer_space(width: Width, name: str = "autoformer") -> Space:
    """The space of `width`; defaults are the smallest options (the cheapest network)."""
    choices = [
        Choice("depth", width.depths, level=MACRO),
        Choice("embed_dim", width.embed_dims, level=MACRO),
    ]
    for i in range(width.max_depth):
        deeper = [d for d in width.depths if d > i]
        when = None if len(deeper) == len(width.depths) else In("depth", deeper)
        choices += [
            Choice(f"blocks.{i}.mlp_ratio", width.mlp_ratios, level=BLOCK, when=when),
            Choice(f"blocks.{i}.heads", width.heads, level=BLOCK, when=when),
        ]
    return Space(choices, name=name)


def arch_of(genotype: Genotype) -> Arch:
    """The network a genotype names (blocks past its depth are dropped)."""
    depth = genotype["depth"]
    blocks = tuple(
        BlockArch(genotype[f"blocks.{i}.mlp_ratio"], genotype[f"blocks.{i}.heads"])
        for i in range(depth)
    )
    return Arch(genotype["embed_dim"], blocks)


def genotype_of(space: Space, arch: Arch) -> Genotype:
    """The genotype of a network; a GenotypeError names any value the space lacks."""
    if not isinstance(arch, Arch):
        raise GenotypeError(f"expected an Arch, got {type(arch).__name__}")
    values = {"depth": arch.depth, "embed_dim": arch.embed_dim}
    for i, block in enumerate(arch.blocks):
        values[f"blocks.{i}.mlp_ratio"] = block.mlp_ratio
        values[f"blocks.{i}.heads"] = block.heads
    return space.from_values(values)


def decode_batch(width: Width, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Population rows -> value arrays for the batched cost model.

    `depth` and `embed_dim` of shape (n,); `mlp_ratio`, `heads` and `active` (the block
    exists) of shape (n, max_depth). Inactive slots keep their canonical defaults.
    """
    rows = np.asarray(rows, dtype=np.int64)
    columns = 2 + 2 * width.max_depth
    if rows.ndim != 2 or rows.shape[1] != columns:
        raise ValueError(f"expected population rows of shape (n, {columns}), got {rows.shape}")
    depth = np.array(width.depths)[rows[:, DEPTH]]
    return {
        "depth": depth,
        "embed_dim": np.array(width.embed_dims)[rows[:, EMBED]],
        "mlp_ratio": np.array(width.mlp_ratios)[rows[:, 2::2]],
        "heads": np.array(width.heads)[rows[:, 3::2]],
        "active": np.arange(width.max_depth) < depth[:, None],
    }
