"""Published architectures by name: DeiT Tiny/Small/Base, the searched GLiT-Tiny, and
the paper's Table 1 (every block's heads split the same way between global and local
sub-modules) at every width."""

from __future__ import annotations

import re

from archspace.registry import lookup
from glit_space.config import GLIT_TINY_BLOCKS, WIDTHS, BlockArch, Width, deit_blocks

#: Table 1's splits of the heads, as (global, local) thirds: at the tiny and cpu widths
#: (3 heads) these are head counts, 3-0 (DeiT) to 0-3 (all Conv1d)
HEAD_SPLITS = ((3, 0), (2, 1), (1, 2), (0, 3))
#: the local sub-module of Table 1's networks. The paper does not give its kernel size
#: or expansion; these are the search space's defaults (its middle kernel, 31, and
#: expansion 2). Query/key/value and FFN ratios are DeiT's (1 and 4).
TABLE1_LOCAL = {"kernel": 31, "expansion": 2}
_SPLIT = re.compile(r"split-(\d)-(\d)-(\w+)")


def split_name(global_thirds: int, width: str) -> str:
    """The Table 1 preset of a split at a width, e.g. "split-1-2-tiny"."""
    return f"split-{global_thirds}-{3 - global_thirds}-{width}"


#: preset name -> the width it was published at (Table 1's splits: at every width)
PRESETS = {
    "deit-tiny": "tiny",
    "deit-small": "small",
    "deit-base": "base",
    "glit-tiny": "tiny",
    **{split_name(g, width): width for width in WIDTHS for g, _ in HEAD_SPLITS},
}


def split_blocks(global_thirds: int, width: Width) -> tuple[BlockArch, ...]:
    """Every block with `global_thirds` of its heads global, the rest Conv1d heads."""
    block = BlockArch(global_thirds, qkv_ratio=1.0, ffn_ratio=4, **TABLE1_LOCAL)
    return (block,) * width.depth


def preset_blocks(name: str, width: Width) -> tuple[BlockArch, ...]:
    """The blocks of preset `name`; DeiT presets are all-global (qkv 1, ffn 4) at any width."""
    if name == "glit-tiny":
        return GLIT_TINY_BLOCKS
    split = _SPLIT.fullmatch(name)
    if split:
        return split_blocks(int(split[1]), width)
    return deit_blocks(width)


def preset_width(name: str) -> str:
    """The width a preset was published at; the error names the closest preset."""
    return lookup(PRESETS, name, "GLiT preset")
