"""A standalone AutoFormer network: what a chosen architecture is retrained and deployed as.

ViT layout as in the official AutoFormer code (microsoft/Cream, AutoFormer/model/
supernet_transformer.py, run with `--gp`): patch conv, class token, learned absolute
position embedding, pre-norm blocks, final LayerNorm, and a linear head on the mean of
the patch tokens (global pooling; the class token takes part in attention but is not
read out).
"""

from __future__ import annotations

from autoformer_space.config import Arch, Width
from autoformer_space.layers import Block
from oneshot.vit import VisionTransformer, drop_path_rates


class AutoFormer(VisionTransformer):
    """The ViT skeleton with per-block heads and MLP ratio, read out by global pooling."""

    def __init__(self, width: Width, arch: Arch, drop_path_rate: float = 0.0) -> None:
        arch = width.check(arch)
        dim = arch.embed_dim
        rates = drop_path_rates(drop_path_rate, arch.depth)
        super().__init__(
            img_size=width.img_size,
            patch_size=width.patch_size,
            in_chans=width.in_chans,
            dim=dim,
            num_classes=width.num_classes,
            layers=(Block(dim, b, width.head_dim, rate) for b, rate in zip(arch.blocks, rates)),
            norm_eps=1e-5,
            global_pool=True,
        )
        self.width, self.arch = width, arch
