"""A standalone GLiT network: the DeiT backbone with one global-local block per BlockArch.

This is what a chosen architecture is retrained and deployed as; the supernet exports
into it.
"""

from __future__ import annotations

from collections.abc import Sequence

from glit_space.config import GLIT_TINY_BLOCKS, BlockArch, Width, check_blocks, deit_blocks
from glit_space.layers import Block
from oneshot.vit import VisionTransformer, drop_path_rates

__all__ = ["GLIT_TINY_BLOCKS", "GLiT", "deit_blocks"]


class GLiT(VisionTransformer):
    """The DeiT backbone with one global-local block per BlockArch.

    `width` and `blocks` (the BlockArch tuple) describe the network; the block modules
    themselves live in `layers`. Under the conv2d locality the tokens are the patches
    alone (a square grid) and the head reads their average (the paper's Table 6).
    """

    def __init__(
        self, width: Width, blocks: Sequence[BlockArch], drop_path_rate: float = 0.0
    ) -> None:
        blocks = check_blocks(width, blocks)
        rates = drop_path_rates(drop_path_rate, width.depth)
        super().__init__(
            img_size=width.img_size,
            patch_size=width.patch_size,
            in_chans=width.in_chans,
            dim=width.embed_dim,
            num_classes=width.num_classes,
            layers=(Block(width, arch, rate) for arch, rate in zip(blocks, rates)),
            global_pool=not width.class_token,
            class_token=width.class_token,
        )
        self.width, self.blocks = width, blocks
