"""A standalone GLiT network: the DeiT backbone with one global-local block per BlockArch.

This is what a chosen architecture is retrained and deployed as; the supernet exports
into it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from glit_space.config import GLIT_TINY_BLOCKS, BlockArch, Width, check_blocks, deit_blocks
from glit_space.layers import Block
from oneshot.vit import PatchEmbed, drop_path_rates, init_weights

__all__ = ["GLIT_TINY_BLOCKS", "GLiT", "deit_blocks"]


class GLiT(nn.Module):
    """Patch embedding, class token, absolute position embedding, blocks, norm, head.

    `width` and `blocks` (the BlockArch tuple) describe the network; the block modules
    themselves live in `layers`.
    """

    def __init__(
        self, width: Width, blocks: Sequence[BlockArch], drop_path_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.width = width
        self.blocks = check_blocks(width, blocks)
        dim = width.embed_dim
        self.patch_embed = PatchEmbed(width.img_size, width.patch_size, width.in_chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, width.num_tokens, dim))
        rates = drop_path_rates(drop_path_rate, width.depth)
        self.layers = nn.ModuleList(
            Block(width, arch, rate) for arch, rate in zip(self.blocks, rates)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, width.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x)[:, 0])
