"""Building blocks of a standalone AutoFormer network (no search machinery).

A plain pre-norm ViT block whose attention width is decoupled from the embedding:
q, k and v are `heads * head_dim` wide (64 per head in AutoFormer), and the MLP is
`mlp_ratio * embed_dim` wide. LayerNorms use torch's default eps (1e-5), as the
official AutoFormer code does.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.ops import StochasticDepth

from autoformer_space.config import BlockArch, hidden_units
from oneshot.vit import multi_head_attention


class Attention(nn.Module):
    """Multi-head self-attention: Linear(dim, 3 * inner) -> q, k, v; Linear(inner, dim)."""

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(multi_head_attention(q, k, v, self.heads))


class Mlp(nn.Module):
    """Linear, GELU, Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with residuals and optional stochastic depth."""

    def __init__(self, dim: int, arch: BlockArch, head_dim: int, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, arch.heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_units(dim, arch.mlp_ratio))
        self.drop_path = StochasticDepth(drop_path, "row")

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))
