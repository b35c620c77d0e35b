"""Vision-transformer pieces that several spaces share (standalone and supernet forms).

Both the standalone modules and the weight-sharing supernets call these, so a subnet
exported from a supernet runs the same arithmetic as the supernet's path.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def init_weights(module: nn.Module) -> None:
    """DeiT initialisation: truncated normal linears, unit LayerNorms; convs keep defaults."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic-depth probability per block, rising linearly from 0 to `rate`."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {rate}")
    if depth == 1:
        return [rate]
    return [rate * i / (depth - 1) for i in range(depth)]


def multi_head_attention(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    """Attention over (B, T, C) q/k/v split into `heads` heads; returns (B, T, C)."""
    b, t, c = q.shape

    def split(x: Tensor) -> Tensor:
        return x.reshape(b, t, heads, c // heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    return out.transpose(1, 2).reshape(b, t, c)


def check_image_size(x: Tensor, img_size: int) -> None:
    if x.shape[-2:] != (img_size, img_size):
        raise ValueError(f"expected {img_size}x{img_size} images, got {tuple(x.shape[-2:])}")


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens with one strided convolution."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        check_image_size(x, self.img_size)
        return self.proj(x).flatten(2).transpose(1, 2)


def with_class_token(patches: Tensor, cls_token: Tensor | None, pos_embed: Tensor) -> Tensor:
    """(B, N, C) patch tokens -> the class token in front (unless None), plus the
    position embedding."""
    if cls_token is None:
        return patches + pos_embed
    cls = cls_token.expand(patches.shape[0], -1, -1)
    return torch.cat([cls, patches], dim=1) + pos_embed


class TokensSkipDecay:
    """Mixed into a ViT-like module: its class token and position embedding take no
    weight decay (`oneshot.optimisation.param_groups` reads `no_weight_decay`)."""

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}


class VisionTransformer(TokensSkipDecay, nn.Module):
    """The ViT skeleton a space fills with its own blocks: patch embedding, class token,
    learned absolute position embedding, `layers`, final LayerNorm, linear head on the
    class token (or, with `global_pool`, on the mean of the patch tokens). Without
    `class_token` (as timm's `class_token=False`) the tokens are the patches alone and
    the head reads their mean."""

    def __init__(
        self,
        *,
        img_size: int,
        patch_size: int,
        in_chans: int,
        dim: int,
        num_classes: int,
        layers: Iterable[nn.Module],
        norm_eps: float = 1e-6,
        global_pool: bool = False,
        class_token: bool = True,
    ) -> None:
        super().__init__()
        if not (class_token or global_pool):
            raise ValueError("a ViT without a class token reads out the mean: global_pool=True")
        self.global_pool = global_pool
        self.num_prefix_tokens = int(class_token)
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if class_token else None
        tokens = self.patch_embed.num_patches + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def forward_features(self, x: Tensor) -> Tensor:
        x = with_class_token(self.patch_embed(x), self.cls_token, self.pos_embed)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.forward_features(x)
        return self.head(read_out(tokens, self.global_pool, self.num_prefix_tokens))


def read_out(tokens: Tensor, global_pool: bool, prefix_tokens: int = 1) -> Tensor:
    """The head's input: the class token, or the mean of the patch tokens (those after
    the `prefix_tokens` class token, if any)."""
    return tokens[:, prefix_tokens:].mean(dim=1) if global_pool else tokens[:, 0]


class ViTStem(nn.Module):
    """What a `VisionTransformer` runs before its blocks: patch conv, class token (if
    any) in front, position embedding added. Shares the network's modules and parameters."""

    def __init__(self, vit: VisionTransformer) -> None:
        super().__init__()
        self.patch_embed = vit.patch_embed
        self.cls_token = vit.cls_token
        self.pos_embed = vit.pos_embed

    def forward(self, x: Tensor) -> Tensor:
        return with_class_token(self.patch_embed(x), self.cls_token, self.pos_embed)


class ViTHead(nn.Module):
    """What a `VisionTransformer` runs after its blocks: final norm, read-out (class
    token or mean of the patch tokens), classifier. Shares the network's modules."""

    def __init__(self, vit: VisionTransformer) -> None:
        super().__init__()
        self.norm = vit.norm
        self.head = vit.head
        self.global_pool = vit.global_pool
        self.prefix_tokens = vit.num_prefix_tokens

    def forward(self, x: Tensor) -> Tensor:
        return self.head(read_out(self.norm(x), self.global_pool, self.prefix_tokens))


def vit_parts(vit: VisionTransformer) -> list[nn.Module]:
    """A built network as its parts [stem, *blocks, head], sharing its weights: running
    them in sequence is exactly `vit(x)`."""
    return [ViTStem(vit), *vit.layers, ViTHead(vit)]


def number_text(value: float) -> str:
    """An exact, short spelling of a number: 4 -> "4", 4.0 -> "4", 0.5 -> "0.5"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
