"""NAS-Bench-201's CIFAR network ("TinyNetwork" of "InferCell"s) as a torch module.

The network the `nb201` table's accuracies were measured on: a 3x3 stem, three stages
of `cells_per_stage` cells at C, 2C and 4C channels joined by two ResNet basic blocks
of stride 2, then BatchNorm-ReLU, global average pooling and a linear classifier. A
cell is a DAG on nodes 0..3: node 0 is the cell's input, node j the sum of op_(i,j)
applied to every node i < j, node 3 the output; the 6 operations come in the edge
order `EDGES` (NAS-Bench-201's arch-string order).

Submodules carry NAS-Bench-201's attribute names (`stem`, `cells`, `layers`, `op`,
`conv_a`, `conv_b`, `downsample`, `lastact`, `classifier`), so the state dict's keys
read like its own. Nothing here fixes a dtype: `model.double()` runs in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tabular_space.nb201_data import EDGES, OPS

NUM_NODES = 4  # node 0 (input) .. node 3 (output)


class ReLUConvBN(nn.Module):
    """ReLU, bias-free convolution, affine BatchNorm: the `nor_conv_kxk` operations and
    the two convolutions of the ResNet block. The ReLU is a module (not functional) so
    activation hooks (zero-cost proxies) see it, and never in place: a node feeds
    several edges."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The `none` operation: zeros of the input's shape. Computed as `x * 0` (as
    NAS-Bench-201 does) rather than a fresh tensor, so the result stays in the autograd
    graph: activations fed only by `none` edges still carry (zero) gradients."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """One edge's operation at `channels` channels (stride 1, shape-preserving)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}; allowed: {', '.join(OPS)}")


class InferCell(nn.Module):
    """A NAS-Bench-201 cell: node j = sum over i < j of op_(i,j)(node i); returns node 3.

    `layers[e]` is the operation of edge `EDGES[e]`."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        if len(ops) != len(EDGES):
            raise ValueError(f"a NAS-Bench-201 cell has {len(EDGES)} operations, got {len(ops)}")
        self.ops = tuple(ops)
        self.layers = nn.ModuleList(make_op(op, channels) for op in self.ops)
        # per node 1..3: (edge index, source node) of its incoming edges
        self.inputs = tuple(
            tuple((e, i) for e, (i, j) in enumerate(EDGES) if j == node)
            for node in range(1, NUM_NODES)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for incoming in self.inputs:
            terms = [self.layers[e](nodes[i]) for e, i in incoming]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[-1]

    def extra_repr(self) -> str:
        return " ".join(f"{i}->{j}:{op}" for (i, j), op in zip(EDGES, self.ops))


class ResNetBasicblock(nn.Module):
    """The reduction between stages: halves the feature map, changes the width.

    Main path ReLU-Conv3x3(stride 2)-BN then ReLU-Conv3x3-BN; shortcut AvgPool(2) then a
    1x1 convolution without BatchNorm; the output is their sum."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class NasBench201Network(nn.Module):
    """NAS-Bench-201's CIFAR network of one cell (6 operations in `EDGES` order).

    The defaults (C=16, N=5, 10 classes) are the network of the benchmark's CIFAR-10
    table, whose parameter and MAC counts `tabular_space.nb201` computes analytically.
    `forward` takes (N, 3, H, W) images and returns (N, num_classes) logits."""

    def __init__(
        self,
        ops: Sequence[str],
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.ops = tuple(ops)
        unknown = [op for op in self.ops if op not in OPS]
        if len(self.ops) != len(EDGES) or unknown:
            raise ValueError(
                f"a NAS-Bench-201 cell is {len(EDGES)} operations out of {', '.join(OPS)}; "
                f"got {self.ops!r}"
            )
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        cells: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                cells.append(ResNetBasicblock(width, 2 * width))
                width *= 2
            cells.extend(InferCell(self.ops, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(x).flatten(1))
