"""A standalone AutoFormer network: what a chosen architecture is retrained and deployed as.

ViT layout as in the official AutoFormer code (microsoft/Cream, AutoFormer/model/
supernet_transformer.py, run with `--gp`): patch conv, class token, learned absolute
position embedding, pre-norm blocks, final LayerNorm, and a linear head on the mean of
the patch tokens (global pooling; the class token takes part in attention but is not
read out).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from autoformer_space.config import Arch, Width
from autoformer_space.layers import Block
from oneshot.vit import PatchEmbed, drop_path_rates, init_weights


def pool(x: Tensor) -> Tensor:
    """Global average of the patch tokens (AutoFormer's `gp`), class token excluded."""
    return x[:, 1:].mean(dim=1)


class AutoFormer(nn.Module):
    """Patch embedding, class token, position embedding, blocks, norm, pooled head."""

    def __init__(self, width: Width, arch: Arch, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.width, self.arch = width, width.check(arch)
        dim = arch.embed_dim
        self.patch_embed = PatchEmbed(width.img_size, width.patch_size, width.in_chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, width.num_tokens, dim))
        rates = drop_path_rates(drop_path_rate, arch.depth)
        self.layers = nn.ModuleList(
            Block(dim, block, width.head_dim, rate) for block, rate in zip(arch.blocks, rates)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, width.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(pool(self.forward_features(x)))
