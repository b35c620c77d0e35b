"""The weight-entangled AutoFormer supernet: the largest weights, any network by slicing.

Every choice uses the leading slice of the largest weight (AutoFormer's weight
entanglement): with embedding dim d, q/k/v width q = heads * head_dim and FFN hidden f,
- patch conv out-channels [:d], class token and position embedding [..., :d];
- LayerNorms [:d]; qkv viewed as (3, Qmax, Dmax) and sliced [:, :q, :d], so q, k and v
  each use their leading rows (the official code interleaves q/k/v rows instead, a
  fixed relabelling of the same weights); proj [:d, :q]; fc1 [:f, :d]; fc2 [:d, :f];
- the first `depth` blocks; the head's input features [:d].
Nothing else is allocated, so the supernet has exactly the largest network's parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

from archspace import Genotype, GenotypeError
from autoformer_space.config import Arch, BlockArch, Width, hidden_units
from autoformer_space.model import AutoFormer
from autoformer_space.space import arch_of, autoformer_space
from oneshot.sliced import copy_params, linear_slice, sliced_layer_norm, sliced_linear
from oneshot.vit import (
    PatchEmbed,
    TokensSkipDecay,
    check_image_size,
    drop_path_rates,
    init_weights,
    multi_head_attention,
    read_out,
)

Slice = tuple[Tensor, Tensor]


class SupernetBlock(nn.Module):
    """A block holding the largest weights; `forward` runs the slices of one BlockArch."""

    def __init__(self, width: Width, drop_path: float = 0.0) -> None:
        super().__init__()
        dim, self.max_qkv, self.head_dim = width.max_embed_dim, width.max_qkv, width.head_dim
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * self.max_qkv)
        self.proj = nn.Linear(self.max_qkv, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, width.max_hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(width.max_hidden, dim)
        self.drop_path = StochasticDepth(drop_path, "row")

    def qkv_slice(self, d: int, block: BlockArch) -> Slice:
        """Leading rows of each of q, k and v (in that order) and leading d columns."""
        q = block.heads * self.head_dim
        weight = self.qkv.weight.view(3, self.max_qkv, -1)[:, :q, :d]
        bias = self.qkv.bias.view(3, self.max_qkv)[:, :q]
        return weight.reshape(3 * q, d), bias.reshape(3 * q)

    def attention(self, x: Tensor, block: BlockArch) -> Tensor:
        qkv = F.linear(x, *self.qkv_slice(x.shape[-1], block))
        out = multi_head_attention(*qkv.chunk(3, dim=-1), block.heads)
        return sliced_linear(out, self.proj, x.shape[-1])

    def mlp(self, x: Tensor, block: BlockArch) -> Tensor:
        hidden = self.act(sliced_linear(x, self.fc1, hidden_units(x.shape[-1], block.mlp_ratio)))
        return sliced_linear(hidden, self.fc2, x.shape[-1])

    def forward(self, x: Tensor, block: BlockArch) -> Tensor:
        x = x + self.drop_path(self.attention(sliced_layer_norm(x, self.norm1), block))
        return x + self.drop_path(self.mlp(sliced_layer_norm(x, self.norm2), block))


class AutoFormerSupernet(TokensSkipDecay, nn.Module):
    """SPOS supernet over one AutoFormer width; `activate` picks the network `forward` runs."""

    def __init__(self, width: Width, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.width, self.space = width, autoformer_space(width)
        self.active: Arch | None = None
        dim = width.max_embed_dim
        self.patch_embed = PatchEmbed(width.img_size, width.patch_size, width.in_chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, width.num_tokens, dim))
        self.layers = nn.ModuleList(
            SupernetBlock(width, rate) for rate in drop_path_rates(drop_path_rate, width.max_depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, width.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def resolve(self, genotype: Genotype | Arch) -> Arch:
        """The network of a genotype of this supernet's space (or of a sub-space of it)."""
        if isinstance(genotype, Arch):
            return self.width.check(genotype)
        if not isinstance(genotype, Genotype):
            raise GenotypeError(f"expected a Genotype or an Arch, got {type(genotype).__name__}")
        if genotype.space.fingerprint != self.space.fingerprint:
            raise GenotypeError(
                f"the genotype belongs to space {genotype.space.name!r}, whose choices differ "
                f"from this AutoFormer supernet's (embed dims {self.width.embed_dims}, depths "
                f"{self.width.depths}, mlp ratios {self.width.mlp_ratios}, heads "
                f"{self.width.heads})"
            )
        return arch_of(genotype)

    def activate(self, genotype: Genotype | Arch) -> None:
        """Select the network `forward` runs. Only records it: nothing is allocated."""
        self.active = self.resolve(genotype)

    def forward(self, x: Tensor) -> Tensor:
        if self.active is None:
            raise RuntimeError("AutoFormerSupernet has no active network: call activate() first")
        d = self.active.embed_dim
        check_image_size(x, self.width.img_size)
        conv = self.patch_embed.proj
        x = F.conv2d(x, conv.weight[:d], conv.bias[:d], stride=conv.stride)
        x = x.flatten(2).transpose(1, 2)
        cls = self.cls_token[..., :d].expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed[..., :d]
        for layer, block in zip(self.layers, self.active.blocks):
            x = layer(x, block)
        return sliced_linear(
            read_out(sliced_layer_norm(x, self.norm), global_pool=True),
            self.head,
            self.width.num_classes,
        )

    @torch.no_grad()
    def export(self, genotype: Genotype | Arch | None = None, drop_path_rate: float = 0.0):
        """A standalone `AutoFormer` with copies of the inherited weights (default: the
        active network); its output equals the supernet's on that network."""
        if genotype is None and self.active is None:
            raise RuntimeError("export() needs a genotype or an active network")
        arch = self.active if genotype is None else self.resolve(genotype)
        d = arch.embed_dim
        ref = self.pos_embed
        model = AutoFormer(self.width, arch, drop_path_rate).to(ref.device, ref.dtype)
        model.train(self.training)
        conv = self.patch_embed.proj
        copy_params(model.patch_embed.proj, conv.weight[:d], conv.bias[:d])
        model.cls_token.copy_(self.cls_token[..., :d])
        model.pos_embed.copy_(self.pos_embed[..., :d])
        for src, dst, block in zip(self.layers, model.layers, arch.blocks):
            copy_params(dst.norm1, src.norm1.weight[:d], src.norm1.bias[:d])
            copy_params(dst.norm2, src.norm2.weight[:d], src.norm2.bias[:d])
            copy_params(dst.attn.qkv, *src.qkv_slice(d, block))
            copy_params(dst.attn.proj, *linear_slice(src.proj, d, dst.attn.proj.in_features))
            copy_params(dst.mlp.fc1, *linear_slice(src.fc1, dst.mlp.fc1.out_features, d))
            copy_params(dst.mlp.fc2, *linear_slice(src.fc2, d, dst.mlp.fc2.in_features))
        copy_params(model.norm, self.norm.weight[:d], self.norm.bias[:d])
        copy_params(model.head, *linear_slice(self.head, self.width.num_classes, d))
        return model
