"""Published architectures by name: DeiT Tiny/Small/Base and the searched GLiT-Tiny."""

from __future__ import annotations

from archspace.registry import lookup
from glit_space.config import GLIT_TINY_BLOCKS, BlockArch, Width, deit_blocks

#: preset name -> the width it was published at
PRESETS = {
    "deit-tiny": "tiny",
    "deit-small": "small",
    "deit-base": "base",
    "glit-tiny": "tiny",
}


def preset_blocks(name: str, width: Width) -> tuple[BlockArch, ...]:
    """The blocks of preset `name`; DeiT presets are all-global (qkv 1, ffn 4) at any width."""
    return GLIT_TINY_BLOCKS if name == "glit-tiny" else deit_blocks(width)


def preset_width(name: str) -> str:
    """The width a preset was published at; the error names the closest preset."""
    return lookup(PRESETS, name, "GLiT preset")
