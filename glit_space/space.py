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

Table 6's other localities (the width's `locality`, paper variant only) swap the local
sub-module's choices, under the same conditions: `conv2d` searches `kernel` (3, 5, 7:
a k x k depthwise kernel; default 5) and `expansion` (1, 2, 4); `local-attention`
searches `area` (the window in tokens, `config.local_areas`: 14, 28, 49 at 196 patch
tokens; default the middle one) and has no expansion. Their spaces are named
"glit-paper-conv2d" and "glit-paper-local-attention".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from itertools import takewhile
from typing import Any

import numpy as np

from archspace import Choice, Genotype, In, Space
from glit_space.config import LOCALITIES, BlockArch, Width, local_areas

HEADS = ((0, 3), (1, 2), (2, 1), (3, 0))
KERNELS = (17, 31, 45)
KERNELS_2D = (3, 5, 7)  # Table 6's Conv2d: 3x3, 5x5, 7x7
EXPANSIONS = (1, 2, 4)
QKV_RATIOS = (0.5, 1.0, 2.0)
FFN_RATIOS = (2, 4, 6)
FIELDS = ("heads", "kernel", "expansion", "qkv", "ffn")
VARIANTS = ("paper", "published", "nlp")

_LOCAL = ((0, 3), (1, 2), (2, 1))
_GLOBAL = ((1, 2), (2, 1), (3, 0))


def glit_space(
    depth: int,
    variant: str = "paper",
    locality: str = "conv1d",
    areas: Sequence[int] = (),
) -> Space:
    """The GLiT space of `depth` blocks; defaults: all-global, kernel 31, E 2, qkv 1, ffn 4.

    `locality` other than conv1d (the paper variant only) swaps the Conv1d kernel for
    the Conv2d kernels or the local-attention `areas` (see the module docstring)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown GLiT variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    if locality not in LOCALITIES:
        raise ValueError(f"unknown GLiT locality {locality!r}; allowed: {', '.join(LOCALITIES)}")
    if locality != "conv1d" and variant != "paper":
        raise ValueError(
            f"locality {locality!r} applies to the 'paper' variant only (Table 6 searched "
            f"the paper's space), not to {variant!r}"
        )
    choices = []
    for i in range(depth):
        if variant == "nlp":
            choices += _nlp_block(f"blocks.{i}.")
        elif locality == "conv1d":
            choices += _conv1d_block(f"blocks.{i}.", variant)
        else:
            choices += _table6_block(f"blocks.{i}.", locality, areas)
    suffix = "" if locality == "conv1d" else f"-{locality}"
    return Space(choices, name=f"glit-{variant}{suffix}")


def _nlp_block(name: str) -> list[Choice]:
    """All global: the local fields are constants."""
    return [
        Choice(name + "heads", ((3, 0),), level="detail"),
        Choice(name + "kernel", (31,), level="detail"),
        Choice(name + "expansion", (1,), level="detail"),  # BlockArch's default
        Choice(name + "qkv", QKV_RATIOS, level="detail", default=1.0),
        Choice(name + "ffn", FFN_RATIOS, level="detail", default=4),
    ]


def _conv1d_block(name: str, variant: str) -> list[Choice]:
    heads = name + "heads"
    if variant == "paper":
        when_kernel = when_expansion = In(heads, _LOCAL)
        when_qkv, when_ffn = In(heads, _GLOBAL), None
    else:
        when_kernel, when_expansion = In(heads, ((0, 3),)), In(heads, _LOCAL)
        when_qkv, when_ffn = In(heads, ((3, 0),)), In(heads, _GLOBAL)
    return [
        Choice(heads, HEADS, level="distribution", default=(3, 0)),
        Choice(name + "kernel", KERNELS, level="detail", when=when_kernel, default=31),
        Choice(name + "expansion", EXPANSIONS, level="detail", when=when_expansion, default=2),
        Choice(name + "qkv", QKV_RATIOS, level="detail", when=when_qkv, default=1.0),
        Choice(name + "ffn", FFN_RATIOS, level="detail", when=when_ffn, default=4),
    ]


def _table6_block(name: str, locality: str, areas: Sequence[int]) -> list[Choice]:
    """The paper variant's block with another local sub-module's choices."""
    heads = name + "heads"
    when = In(heads, _LOCAL)
    if locality == "conv2d":
        local = [
            Choice(name + "kernel", KERNELS_2D, level="detail", when=when, default=5),
            Choice(name + "expansion", EXPANSIONS, level="detail", when=when, default=2),
        ]
    else:  # local attention
        if not areas:
            raise ValueError("local attention needs the width's areas (config.local_areas)")
        areas = tuple(areas)
        middle = areas[len(areas) // 2]
        local = [Choice(name + "area", areas, level="detail", when=when, default=middle)]
    return [
        Choice(heads, HEADS, level="distribution", default=(3, 0)),
        *local,
        Choice(name + "qkv", QKV_RATIOS, level="detail", when=In(heads, _GLOBAL), default=1.0),
        Choice(name + "ffn", FFN_RATIOS, level="detail", default=4),
    ]


#: a block choice's name -> the BlockArch field it sets
ARCH_FIELDS = {
    "heads": "global_thirds",
    "kernel": "kernel",
    "expansion": "expansion",
    "area": "area",
    "qkv": "qkv_ratio",
    "ffn": "ffn_ratio",
}


def block_fields(space: Space) -> tuple[str, ...]:
    """The per-block choice names of a GLiT space (block 0's, without the prefix):
    FIELDS, or the Table 6 localities' own."""
    names = takewhile(lambda n: n.startswith("blocks.0."), space.names)
    return tuple(n.removeprefix("blocks.0.") for n in names)


def _arch_of(values: Mapping[str, Any]) -> BlockArch:
    """The BlockArch of one block's choice values (by choice name)."""
    fields = {ARCH_FIELDS[name]: value for name, value in values.items()}
    fields["global_thirds"] = int(values["heads"][0])
    return BlockArch(**fields)


def blocks_of(genotype: Genotype) -> tuple[BlockArch, ...]:
    """The per-block architecture a GLiT genotype names."""
    fields = block_fields(genotype.space)
    depth = len(genotype.indices) // len(fields)
    return tuple(
        _arch_of({field: genotype[f"blocks.{i}.{field}"] for field in fields}) for i in range(depth)
    )


def _value(arch: BlockArch, field: str) -> Any:
    if field == "heads":
        return (arch.global_thirds, 3 - arch.global_thirds)
    if field == "qkv":
        return float(arch.qkv_ratio)
    if field == "ffn":
        return int(arch.ffn_ratio)
    return getattr(arch, ARCH_FIELDS[field])


def genotype_of(space: Space, blocks: Sequence[BlockArch]) -> Genotype:
    """The genotype of a block list (fields a block does not use are ignored)."""
    fields = block_fields(space)
    depth = len(space) // len(fields)
    if len(blocks) != depth:
        raise ValueError(f"the space has {depth} blocks; got {len(blocks)} block descriptions")
    values = {
        f"blocks.{i}.{field}": _value(arch, field)
        for i, arch in enumerate(blocks)
        for field in fields
    }
    return space.from_values(values, strict=False)


def block_arrays(space: Space, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Population rows -> (n, depth) value arrays per BlockArch field, for the batched
    cost model; a field the space does not hold is BlockArch's default throughout."""
    rows = np.asarray(rows)
    fields = block_fields(space)
    options = {c.name: c.options for c in space.choices[: len(fields)]}  # block 0's
    arrays = {}
    for k, field in enumerate(fields):
        table = np.array(options[f"blocks.0.{field}"])
        if field == "heads":
            table = table[:, 0]  # the global thirds
        arrays[ARCH_FIELDS[field]] = table[rows[:, k :: len(fields)]]
    shape = arrays["global_thirds"].shape
    for absent in dataclasses.fields(BlockArch):
        if absent.name not in arrays:
            arrays[absent.name] = np.full(shape, absent.default)
    return arrays


def check_width(width: Width) -> None:
    """Every block option must give whole channel and head sizes at this width."""
    areas = local_areas(width) if width.locality == "local-attention" else (0,)
    for g, _ in HEADS:
        for qkv in QKV_RATIOS:
            for ffn in FFN_RATIOS:
                for area in areas:
                    BlockArch(g, qkv_ratio=qkv, ffn_ratio=ffn, area=area).validate(width)
