"""The weight-sharing GLiT supernet: one set of largest weights, any path by slicing.

Weight entanglement: every block owns the weights of the largest global path, the
largest local path and the largest FFN over the full embedding; a path uses slices.

Slicing convention (weights are aligned with the residual-stream channel they read or
write, so channel j always meets the same weights whatever the global/local split):
- global path (leading C_g channels): qkv Linear(D, 3 * Qmax) viewed as (3, Qmax, D);
  q, k and v each use rows [:C_g * r] and input columns [:C_g]; proj uses [:C_g, :C_g * r].
- local path (trailing C_l channels, offset g = C_g): first pointwise conv
  Conv1d(D, 2 * Hmax) with Hmax = max_E * D, input columns [g:]; each GLU half (value rows
  [0, Hmax), gate rows [Hmax, 2 Hmax)) uses its first E * C_l rows. The depthwise conv
  (max kernel) uses its first E * C_l channels and the centre K taps; BatchNorm its first
  E * C_l channels; the second pointwise conv output rows [g:] and input columns [:E * C_l].
- FFN: hidden units [:ffn_ratio * D] of fc1 (rows) and fc2 (columns).
Patch embedding, tokens, LayerNorms and head are shared whole.

The Table 6 localities share the same way:
- conv2d: as the local path above, with a max_kernel x max_kernel depthwise Conv2d of
  which a K x K path uses the centre taps; no class token, the head reads the mean.
- local-attention: local_qkv Linear(D, 3D) viewed as (3, D, D) and local_proj Linear(D, D);
  q, k and v each use rows and columns [g:], local_proj [g:, g:]: local head j meets the
  same weights whatever the split, as the channels do. The area selects no weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

from archspace import Genotype
from glit_space.config import DEFAULT_BOUNDS, BlockArch, SupernetBounds, Width, check_blocks
from glit_space.layers import (
    LocalAttention,
    depthwise_conv1d,
    ffn_activation,
    local_attention,
    on_grid,
    pointwise,
)
from glit_space.model import GLiT
from glit_space.space import blocks_of
from oneshot.batchnorm import SlicedBatchNorm1d
from oneshot.vit import (
    PatchEmbed,
    TokensSkipDecay,
    drop_path_rates,
    init_weights,
    multi_head_attention,
    read_out,
    with_class_token,
)


def _whole(value: float, what: str) -> int:
    if not float(value).is_integer():
        raise ValueError(f"{what} = {value} is not a whole number of channels")
    return int(value)


class SupernetBlock(nn.Module):
    """A global-local block holding the largest weights; `forward` takes the path."""

    def __init__(self, width: Width, bounds: SupernetBounds, drop_path: float = 0.0) -> None:
        super().__init__()
        dim = width.embed_dim
        self.width = width
        self.grid = width.grid_size if width.locality == "conv2d" else None
        self.max_kernel = bounds.max_kernel
        self.max_qkv = _whole(dim * bounds.max_qkv_ratio, "embed_dim * max_qkv_ratio")
        self.max_hidden = bounds.max_expansion * dim
        max_ffn = _whole(dim * bounds.max_ffn_ratio, "embed_dim * max_ffn_ratio")

        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * self.max_qkv)
        self.proj = nn.Linear(self.max_qkv, dim)
        if width.locality == "local-attention":
            self.local_qkv = nn.Linear(dim, 3 * dim)
            self.local_proj = nn.Linear(dim, dim)
        else:
            self._conv_weights(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, max_ffn)
        self.act = ffn_activation(width.ffn_act)
        self.fc2 = nn.Linear(max_ffn, dim)
        self.drop_path = StochasticDepth(drop_path, "row")

    def _conv_weights(self, dim: int) -> None:
        """The largest convolution path; a Conv2d depthwise kernel under conv2d."""
        hidden = self.max_hidden
        depthwise = nn.Conv2d if self.width.locality == "conv2d" else nn.Conv1d
        self.pw1 = nn.Conv1d(dim, 2 * hidden, 1)
        self.dw = depthwise(hidden, hidden, self.max_kernel, groups=hidden)
        self.bn = SlicedBatchNorm1d(hidden)
        self.pw2 = nn.Conv1d(hidden, dim, 1)

    # --- slices, shared by forward and export so both see the same weights ---------------
    def qkv_slices(self, arch: BlockArch) -> list[tuple[Tensor, Tensor]]:
        c, q = arch.global_channels(self.width), arch.qkv_channels(self.width)
        weight = self.qkv.weight.view(3, self.max_qkv, -1)
        bias = self.qkv.bias.view(3, self.max_qkv)
        return [(weight[i, :q, :c], bias[i, :q]) for i in range(3)]

    def proj_slice(self, arch: BlockArch) -> tuple[Tensor, Tensor]:
        c, q = arch.global_channels(self.width), arch.qkv_channels(self.width)
        return self.proj.weight[:c, :q], self.proj.bias[:c]

    def pw1_slices(self, arch: BlockArch) -> list[tuple[Tensor, Tensor]]:
        """(value, gate) halves of the GLU input projection."""
        g, h, m = arch.global_channels(self.width), arch.conv_channels(self.width), self.max_hidden
        w, b = self.pw1.weight, self.pw1.bias
        return [(w[:h, g:], b[:h]), (w[m : m + h, g:], b[m : m + h])]

    def dw_slice(self, arch: BlockArch) -> tuple[Tensor, Tensor]:
        h, k = arch.conv_channels(self.width), arch.kernel
        taps = slice((self.max_kernel - k) // 2, (self.max_kernel + k) // 2)
        weight = self.dw.weight[:h, :, taps]
        if self.width.locality == "conv2d":
            weight = weight[..., taps]
        return weight, self.dw.bias[:h]

    def pw2_slice(self, arch: BlockArch) -> tuple[Tensor, Tensor]:
        g, h = arch.global_channels(self.width), arch.conv_channels(self.width)
        return self.pw2.weight[g:, :h], self.pw2.bias[g:]

    def local_qkv_slices(self, arch: BlockArch) -> list[tuple[Tensor, Tensor]]:
        g, d = arch.global_channels(self.width), self.width.embed_dim
        weight, bias = self.local_qkv.weight.view(3, d, d), self.local_qkv.bias.view(3, d)
        return [(weight[i, g:, g:], bias[i, g:]) for i in range(3)]

    def local_proj_slice(self, arch: BlockArch) -> tuple[Tensor, Tensor]:
        g = arch.global_channels(self.width)
        return self.local_proj.weight[g:, g:], self.local_proj.bias[g:]

    def ffn_slices(self, arch: BlockArch) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        h = arch.ffn_hidden(self.width)
        return (self.fc1.weight[:h], self.fc1.bias[:h]), (self.fc2.weight[:, :h], self.fc2.bias)

    # --- forward -------------------------------------------------------------------------
    def global_path(self, x: Tensor, arch: BlockArch) -> Tensor:
        q, k, v = (F.linear(x, w, b) for w, b in self.qkv_slices(arch))
        out = multi_head_attention(q, k, v, arch.global_heads(self.width))
        return F.linear(out, *self.proj_slice(arch))

    def local_path(self, x: Tensor, arch: BlockArch) -> Tensor:
        if self.width.locality == "local-attention":
            q, k, v = (F.linear(x, w, b) for w, b in self.local_qkv_slices(arch))
            out = local_attention(q, k, v, arch.local_heads(self.width), arch.area)
            return F.linear(out, *self.local_proj_slice(arch))
        (wa, ba), (wg, bg) = self.pw1_slices(arch)
        x = pointwise(x, wa, ba) * torch.sigmoid(pointwise(x, wg, bg))  # GLU
        x = on_grid(partial(self._depthwise, arch=arch), x.transpose(1, 2), self.grid)
        return pointwise(F.silu(self.bn(x)).transpose(1, 2), *self.pw2_slice(arch))

    def _depthwise(self, x: Tensor, arch: BlockArch) -> Tensor:
        w, b = self.dw_slice(arch)
        if self.grid:
            return F.conv2d(x, w, b, padding=arch.kernel // 2, groups=w.shape[0])
        return depthwise_conv1d(x, w, b)

    def mixer(self, x: Tensor, arch: BlockArch) -> Tensor:
        if not arch.has_global:
            return self.local_path(x, arch)
        if not arch.has_local:
            return self.global_path(x, arch)
        g = arch.global_channels(self.width)
        return torch.cat(
            [self.global_path(x[..., :g], arch), self.local_path(x[..., g:], arch)], dim=-1
        )

    def mlp(self, x: Tensor, arch: BlockArch) -> Tensor:
        (w1, b1), (w2, b2) = self.ffn_slices(arch)
        return F.linear(self.act(F.linear(x, w1, b1)), w2, b2)

    def forward(self, x: Tensor, arch: BlockArch) -> Tensor:
        x = x + self.drop_path(self.mixer(self.norm1(x), arch))
        return x + self.drop_path(self.mlp(self.norm2(x), arch))


class GLiTSupernet(TokensSkipDecay, nn.Module):
    """SPOS supernet over per-block BlockArch choices; `activate` (a genotype) or
    `set_active` (block descriptions) picks the path."""

    def __init__(
        self,
        width: Width,
        bounds: SupernetBounds = DEFAULT_BOUNDS,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.width = width
        self.bounds = bounds
        self.drop_path_rate = drop_path_rate
        self.active: tuple[BlockArch, ...] | None = None
        dim = width.embed_dim
        self.patch_embed = PatchEmbed(width.img_size, width.patch_size, width.in_chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if width.class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, width.num_tokens, dim))
        self.layers = nn.ModuleList(
            SupernetBlock(width, bounds, rate)
            for rate in drop_path_rates(drop_path_rate, width.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, width.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def check(self, blocks: Sequence[BlockArch]) -> tuple[BlockArch, ...]:
        """Validate a path (depth, whole sizes, supernet bounds); return it as a tuple."""
        blocks = check_blocks(self.width, blocks)
        for i, arch in enumerate(blocks):
            self.bounds.check(arch, where=f"block {i}", locality=self.width.locality)
        return blocks

    def set_active(self, blocks: Sequence[BlockArch]) -> None:
        """Select the path used by `forward`. Only records it: no weights are allocated."""
        self.active = self.check(blocks)

    def activate(self, genotype: Genotype) -> None:
        """Select the path of a GLiT genotype (oneshot's `Supernet` protocol)."""
        self.set_active(blocks_of(genotype))

    def forward_features(self, x: Tensor) -> Tensor:
        if self.active is None:
            raise RuntimeError("GLiTSupernet has no active path: call set_active(blocks) first")
        x = with_class_token(self.patch_embed(x), self.cls_token, self.pos_embed)
        for layer, arch in zip(self.layers, self.active):
            x = layer(x, arch)
        return self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        pool, prefix = not self.width.class_token, int(self.width.class_token)
        return self.head(read_out(self.forward_features(x), pool, prefix))

    @torch.no_grad()
    def export(
        self,
        blocks: Genotype | Sequence[BlockArch] | None = None,
        drop_path_rate: float = 0.0,
    ) -> GLiT:
        """A standalone GLiT with copies of the inherited weights and BatchNorm buffers of
        a genotype or block list (default: the active path). The supernet and its active
        path are unchanged."""
        if isinstance(blocks, Genotype):
            blocks = blocks_of(blocks)
        if blocks is None:
            if self.active is None:
                raise RuntimeError("export() needs blocks or an active path")
            blocks = self.active
        blocks = self.check(blocks)
        ref = self.pos_embed
        model = GLiT(self.width, blocks, drop_path_rate).to(device=ref.device, dtype=ref.dtype)
        model.train(self.training)
        for name in ("patch_embed", "norm", "head"):
            getattr(model, name).load_state_dict(getattr(self, name).state_dict())
        if self.cls_token is not None:
            model.cls_token.copy_(self.cls_token)
        model.pos_embed.copy_(self.pos_embed)
        for src, dst, arch in zip(self.layers, model.layers, blocks):
            _export_block(src, dst, arch)
        return model


def _copy(dst: nn.Module, weight: Tensor, bias: Tensor) -> None:
    dst.weight.copy_(weight.reshape(dst.weight.shape))
    dst.bias.copy_(bias)


def _export_block(src: SupernetBlock, dst: nn.Module, arch: BlockArch) -> None:
    dst.norm1.load_state_dict(src.norm1.state_dict())
    dst.norm2.load_state_dict(src.norm2.state_dict())
    (w1, b1), (w2, b2) = src.ffn_slices(arch)
    _copy(dst.mlp.fc1, w1, b1)
    _copy(dst.mlp.fc2, w2, b2)
    attn, local = dst.mixer.attn, dst.mixer.local
    if attn is not None:
        _copy_attention(attn, src.qkv_slices(arch), src.proj_slice(arch))
    if isinstance(local, LocalAttention):
        _copy_attention(local, src.local_qkv_slices(arch), src.local_proj_slice(arch))
    elif local is not None:
        _export_conv(src, local, arch)


def _copy_attention(dst: nn.Module, qkv: list[tuple[Tensor, Tensor]], proj) -> None:
    _copy(dst.qkv, torch.cat([w for w, _ in qkv]), torch.cat([b for _, b in qkv]))
    _copy(dst.proj, *proj)


def _export_conv(src: SupernetBlock, local: nn.Module, arch: BlockArch) -> None:
    (wa, ba), (wg, bg) = src.pw1_slices(arch)
    _copy(local.pw1, torch.cat([wa, wg]), torch.cat([ba, bg]))
    _copy(local.dw, *src.dw_slice(arch))
    _copy(local.pw2, *src.pw2_slice(arch))
    h = arch.conv_channels(src.width)
    _copy(local.bn, src.bn.weight[:h], src.bn.bias[:h])
    local.bn.running_mean.copy_(src.bn.running_mean[:h])
    local.bn.running_var.copy_(src.bn.running_var[:h])
    local.bn.num_batches_tracked.copy_(src.bn.num_batches_tracked)
    local.bn.momentum = src.bn.momentum
