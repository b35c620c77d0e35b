"""Building blocks of a standalone GLiT network (no search machinery).

A global-local block splits its channels: the leading C_g channels go through
multi-head self-attention (global), the trailing C_l through the width's local
sub-module: a Conformer-style 1-D convolution over the token sequence (conv1d), the same
with a k x k depthwise convolution on the token grid (conv2d), or self-attention inside
windows of consecutive patch tokens (local-attention); the two outputs are concatenated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode
from torchvision.ops import StochasticDepth

from glit_space.config import BlockArch, Width
from oneshot.vit import multi_head_attention


def ffn_activation(name: str) -> nn.Module:
    """The FFN nonlinearity: GELU as in the published code, Swish (SiLU) as in the paper."""
    if name == "gelu":
        return nn.GELU()
    if name == "swish":
        return nn.SiLU()
    raise ValueError(f"ffn activation must be 'gelu' or 'swish', got {name!r}")


class GlobalAttention(nn.Module):
    """Self-attention on C_g channels with G heads and q/k/v of width C_g * qkv_ratio."""

    def __init__(self, channels: int, heads: int, qkv_ratio: float = 1.0) -> None:
        super().__init__()
        inner = channels * qkv_ratio
        if not float(inner).is_integer() or int(inner) % heads:
            raise ValueError(
                f"channels * qkv_ratio = {inner} must be a whole multiple of heads={heads}"
            )
        self.heads = heads
        self.inner = int(inner)
        self.qkv = nn.Linear(channels, 3 * self.inner)
        self.proj = nn.Linear(self.inner, channels)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(multi_head_attention(q, k, v, self.heads))


class LocalAttention(GlobalAttention):
    """Self-attention on C_l channels with L heads inside windows of `area` consecutive
    patch tokens (Table 6's "self-attention in a local area"); q/k/v as wide as the
    input, as in a DeiT head."""

    def __init__(self, channels: int, heads: int, area: int) -> None:
        super().__init__(channels, heads)
        self.area = area

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(local_attention(q, k, v, self.heads, self.area))


def local_attention(q: Tensor, k: Tensor, v: Tensor, heads: int, area: int) -> Tensor:
    """Attention over (B, 1 + N, C) q/k/v within windows of `area` consecutive patch
    tokens (row-major). The class token, first, is a window of its own: attending to
    itself alone, its output is its value (exactly, so it is not computed)."""
    b, t, c = q.shape

    def windows(x: Tensor) -> Tensor:
        return x[:, 1:].reshape(-1, area, c)

    out = multi_head_attention(windows(q), windows(k), windows(v), heads)
    return torch.cat([v[:, :1], out.reshape(b, t - 1, c)], dim=1)


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A 1x1 Conv1d's weights (C_out, C_in, 1) applied to (B, T, C_in) tokens as the
    linear map it is: twice as fast as the convolution on the CPU, no transposes."""
    return F.linear(x, weight[:, :, 0], bias)


def depthwise_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Depthwise 'same' convolution of (B, C, T) by (C, 1, K) weights, K odd.

    On the CPU with short sequences (T <= 3K: the cpu width's 50 tokens) it is one
    batched matmul with each channel's banded T x T (Toeplitz) matrix, 1.7x (K = 17) to
    5.6x (K = 45) faster there than torch's depthwise kernel, forward and backward
    (`benchmarks/depthwise_conv.py`); elsewhere, and under a dispatch mode
    (FlopCounterMode counting MACs, fake tensors), the convolution itself, so counters
    see the convolution's multiply-accumulates."""
    channels, _, k = weight.shape
    t = x.shape[-1]
    if x.device.type != "cpu" or t > 3 * k or is_in_torch_dispatch_mode():
        return F.conv1d(x, weight, bias, padding=k // 2, groups=channels)
    taps, inside = _band(t, k, x.device)
    band = weight[:, 0][:, taps] * inside  # (C, T_out, T_in): out[t] = sum_s w[s - t + K//2] x[s]
    out = torch.bmm(x.transpose(0, 1), band.transpose(1, 2)).transpose(0, 1)
    return out if bias is None else out + bias[:, None]


@functools.lru_cache(maxsize=64)
def _band(t: int, k: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """The tap each (output, input) position pair uses, and whether it lies in the kernel.
    Made as normal tensors even when first asked under inference mode (an evaluation):
    training saves them for backward, which inference tensors cannot be."""
    with torch.inference_mode(False):
        position = torch.arange(t, device=device)
        offset = position[None, :] - position[:, None] + k // 2
        inside = (offset >= 0) & (offset < k)
        return offset.clamp(0, k - 1), inside


class LocalConv(nn.Module):
    """The convolution head: pointwise+GLU, depthwise K, BatchNorm, Swish, pointwise.

    Runs over the whole token sequence including the class token (channels-first).
    With `grid` (Table 6's Conv2d: the tokens are a `grid` x `grid` square of patches,
    no class token) the depthwise convolution is K x K on that grid; the pointwise
    convolutions and the BatchNorm are the same either way (per token, per channel).
    The weights are Conv1d/Conv2d modules (their checkpoints and MACs); the forward
    uses the fast equivalents above.
    """

    def __init__(
        self, channels: int, expansion: int = 1, kernel: int = 31, grid: int | None = None
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd for 'same' padding, got {kernel}")
        hidden = expansion * channels
        self.grid = grid
        depthwise = nn.Conv1d if grid is None else nn.Conv2d
        self.pw1 = nn.Conv1d(channels, 2 * hidden, 1)
        self.dw = depthwise(hidden, hidden, kernel, padding=kernel // 2, groups=hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.act = nn.SiLU()
        self.pw2 = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.glu(pointwise(x, self.pw1.weight, self.pw1.bias), dim=-1).transpose(1, 2)
        x = self.act(self.bn(on_grid(self._depthwise, x, self.grid))).transpose(1, 2)
        return pointwise(x, self.pw2.weight, self.pw2.bias)

    def _depthwise(self, x: Tensor) -> Tensor:
        if self.grid is not None:
            return self.dw(x)
        return depthwise_conv1d(x, self.dw.weight, self.dw.bias)


def on_grid(conv: Callable[[Tensor], Tensor], x: Tensor, grid: int | None) -> Tensor:
    """`conv` on (B, C, T) tokens, or, with `grid`, on them as a (B, C, grid, grid) image."""
    if grid is None:
        return conv(x)
    return conv(x.unflatten(2, (grid, grid))).flatten(2)


def local_module(width: Width, arch: BlockArch) -> nn.Module:
    """The width's local sub-module for the trailing C_l channels of `arch`."""
    channels = arch.local_channels(width)
    if width.locality == "local-attention":
        return LocalAttention(channels, arch.local_heads(width), arch.area)
    grid = width.grid_size if width.locality == "conv2d" else None
    return LocalConv(channels, arch.expansion, arch.kernel, grid)


class GlobalLocalMixer(nn.Module):
    """Token mixer: attention on the leading channels, the local sub-module on the
    trailing ones."""

    def __init__(self, width: Width, arch: BlockArch) -> None:
        super().__init__()
        arch.validate(width)
        self.split = arch.global_channels(width)
        self.attn = (
            GlobalAttention(self.split, arch.global_heads(width), arch.qkv_ratio)
            if arch.has_global
            else None
        )
        self.local = local_module(width, arch) if arch.has_local else None

    def forward(self, x: Tensor) -> Tensor:
        if self.attn is None:
            return self.local(x)
        if self.local is None:
            return self.attn(x)
        g = self.split
        return torch.cat([self.attn(x[..., :g]), self.local(x[..., g:])], dim=-1)


class Mlp(nn.Module):
    """Feed-forward module: Linear, activation, Linear."""

    def __init__(self, dim: int, hidden: int, act: str = "gelu") -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = ffn_activation(act)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm global-local block with residuals and optional stochastic depth."""

    def __init__(self, width: Width, arch: BlockArch, drop_path: float = 0.0) -> None:
        super().__init__()
        dim = width.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mixer = GlobalLocalMixer(width, arch)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, arch.ffn_hidden(width), width.ffn_act)
        self.drop_path = StochasticDepth(drop_path, "row")

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))
