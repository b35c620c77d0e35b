"""The GLiT search space (paper Table 2) in the archspace encoding, two variants.

Per block, five choices in this order:

- `heads` (level "distribution"): (global, local) in thirds of the block's heads,
  one of (0, 3), (1, 2), (2, 1), (3, 0). For DeiT-Tiny's 3 heads a third is one head.
- `kernel` (17, 31, 45), `expansion` E (1, 2, 4), `qkv` ratio r_qkv (0.5, 1, 2: d_k of
  96, 192, 384 at Tiny), `ffn` ratio (2, 4, 6): level "detail", each conditional.

Variants differ only in the conditions:

- `paper`: kernel and expansion matter when the block has local heads, qkv when it
  has global heads, ffn always: per block 27 + 81 + 81 + 9 = 198 distinct blocks (the
  paper counts the naive 4 * 3^4 = 324, our `nominal_size`).
- `published`: the published GLiT-Tiny code's 9 detail options per distribution:
  all-global searches qkv x ffn, all-local kernel x E (ffn 4), mixed E x ffn (kernel
  31, qkv 1). The inactive choices' canonical defaults (kernel 31, qkv 1, ffn 4) are
  exactly those fixed values, so one decoding serves both variants.
- `nlp`: the space of the NLP one-shot NAS the paper compares in Table 4 (its [29]):
  every head global (no locality), per block the qkv expansion ratio and the MLP (FFN)
  ratio: 9 blocks, 9^depth networks, one level ("detail"; search it with spos). Its
  networks are GLiT networks of all-global blocks, so cost, supernet and export are
  the GLiT space's own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archspace import Choice, Genotype, In, Space
from glit_space.config import BlockArch, Width

HEADS = ((0, 3), (1, 2), (2, 1), (3, 0))
KERNELS = (17, 31, 45)
EXPANSIONS = (1, 2, 4)
QKV_RATIOS = (0.5, 1.0, 2.0)
FFN_RATIOS = (2, 4, 6)
FIELDS = ("heads", "kernel", "expansion", "qkv", "ffn")
VARIANTS = ("paper", "published", "nlp")

_LOCAL = ((0, 3), (1, 2), (2, 1))
_GLOBAL = ((1, 2), (2, 1), (3, 0))


def glit_space(depth: int, variant: str = "paper") -> Space:
    """The GLiT space of `depth` blocks; defaults: all-global, kernel 31, E 2, qkv 1, ffn 4."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown GLiT variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    choices = []
    for i in range(depth):
        name = f"blocks.{i}."
        heads = name + "heads"
        if variant == "nlp":  # all global: the local fields are constants
            choices += [
                Choice(heads, ((3, 0),), level="detail"),
                Choice(name + "kernel", (31,), level="detail"),
                Choice(name + "expansion", (1,), level="detail"),  # BlockArch's default
                Choice(name + "qkv", QKV_RATIOS, level="detail", default=1.0),
                Choice(name + "ffn", FFN_RATIOS, level="detail", default=4),
            ]
            continue
        if variant == "paper":
            when_kernel = when_expansion = In(heads, _LOCAL)
            when_qkv, when_ffn = In(heads, _GLOBAL), None
        else:
            when_kernel, when_expansion = In(heads, ((0, 3),)), In(heads, _LOCAL)
            when_qkv, when_ffn = In(heads, ((3, 0),)), In(heads, _GLOBAL)
        choices += [
            Choice(heads, HEADS, level="distribution", default=(3, 0)),
            Choice(name + "kernel", KERNELS, level="detail", when=when_kernel, default=31),
            Choice(name + "expansion", EXPANSIONS, level="detail", when=when_expansion, default=2),
            Choice(name + "qkv", QKV_RATIOS, level="detail", when=when_qkv, default=1.0),
            Choice(name + "ffn", FFN_RATIOS, level="detail", when=when_ffn, default=4),
        ]
    return Space(choices, name=f"glit-{variant}")


def blocks_of(genotype: Genotype) -> tuple[BlockArch, ...]:
    """The per-block architecture a GLiT genotype names."""
    depth = len(genotype.indices) // len(FIELDS)
    return tuple(
        BlockArch(
            global_thirds=genotype[f"blocks.{i}.heads"][0],
            kernel=genotype[f"blocks.{i}.kernel"],
            expansion=genotype[f"blocks.{i}.expansion"],
            qkv_ratio=genotype[f"blocks.{i}.qkv"],
            ffn_ratio=genotype[f"blocks.{i}.ffn"],
        )
        for i in range(depth)
    )


def genotype_of(space: Space, blocks: Sequence[BlockArch]) -> Genotype:
    """The genotype of a block list (fields a block does not use are ignored)."""
    depth = len(space) // len(FIELDS)
    if len(blocks) != depth:
        raise ValueError(f"the space has {depth} blocks; got {len(blocks)} block descriptions")
    values = {}
    for i, arch in enumerate(blocks):
        values[f"blocks.{i}.heads"] = (arch.global_thirds, 3 - arch.global_thirds)
        values[f"blocks.{i}.kernel"] = arch.kernel
        values[f"blocks.{i}.expansion"] = arch.expansion
        values[f"blocks.{i}.qkv"] = float(arch.qkv_ratio)
        values[f"blocks.{i}.ffn"] = int(arch.ffn_ratio)
    return space.from_values(values, strict=False)


def block_arrays(space: Space, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Population rows -> (n, depth) value arrays per field, for the batched cost model."""
    rows = np.asarray(rows)
    options = {c.name: c.options for c in space.choices[: len(FIELDS)]}  # block 0's
    tables = {field: np.array(options[f"blocks.0.{field}"]) for field in FIELDS}
    tables["heads"] = tables["heads"][:, 0]  # the global thirds
    return {field: tables[field][rows[:, k :: len(FIELDS)]] for k, field in enumerate(FIELDS)}


def check_width(width: Width) -> None:
    """Every block option must give whole channel and head sizes at this width."""
    for g, _ in HEADS:
        for qkv in QKV_RATIOS:
            for ffn in FFN_RATIOS:
                BlockArch(g, qkv_ratio=qkv, ffn_ratio=ffn).validate(width)
