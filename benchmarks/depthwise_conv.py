"""The GLiT local path on the CPU: torch's depthwise Conv1d against the banded-matmul
form `glit_space.layers.depthwise_conv1d` takes for short sequences, and a whole
training step of a cpu-width GLiT network with each (ratios measured in one run).

    OMP_NUM_THREADS=1 python benchmarks/depthwise_conv.py

Reported: median milliseconds of forward + backward (torch.utils.benchmark) for the
cpu width's shapes (batch 128, 50 tokens, 48 or 96 channels, kernels 17/31/45) and a
tiny-width shape (197 tokens, where the convolution is kept), then one training step
(batch 128, forward, backward, SGD) of an all-local and a mixed cpu-width network with
the reference layers (1x1 and depthwise Conv1d) and with the fast ones.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from unittest import mock

import torch
import torch.nn.functional as F
from torch.utils import benchmark

import glit_space.layers as layers
import glit_space.supernet as supernet
from glit_space.config import WIDTHS, BlockArch
from glit_space.model import GLiT


def reference_depthwise(x, weight, bias):
    return F.conv1d(x, weight, bias, padding=weight.shape[-1] // 2, groups=weight.shape[0])


def reference_pointwise(x, weight, bias):
    return F.conv1d(x.transpose(1, 2), weight, bias).transpose(1, 2)


@contextmanager
def reference_layers():
    """The convolutions as torch runs them (what the layers did before)."""
    with mock.patch.multiple(layers, depthwise_conv1d=reference_depthwise,
                             pointwise=reference_pointwise), \
         mock.patch.multiple(supernet, depthwise_conv1d=reference_depthwise,
                             pointwise=reference_pointwise):  # fmt: skip
        yield


def median_ms(function) -> float:
    timer = benchmark.Timer("function()", globals={"function": function})
    return timer.blocked_autorange(min_run_time=2).median * 1e3


def forward_backward(function, *inputs) -> None:
    function(*inputs).sum().backward()


def conv_shapes() -> None:
    print("| tokens | channels | kernel | Conv1d ms | banded ms | ratio |")
    print("|---|---|---|---|---|---|")
    for batch, tokens, channels, kernel in [(128, 50, 48, 17), (128, 50, 48, 31),
                                            (128, 50, 48, 45), (128, 50, 96, 31),
                                            (32, 197, 96, 31)]:  # fmt: skip
        x = torch.randn(batch, channels, tokens, requires_grad=True)
        w = torch.randn(channels, 1, kernel, requires_grad=True)
        b = torch.randn(channels, requires_grad=True)
        times = [median_ms(partial(forward_backward, f, x, w, b))
                 for f in (reference_depthwise, layers.depthwise_conv1d)]  # fmt: skip
        print(f"| {tokens} | {channels} | {kernel} | {times[0]:.1f} | {times[1]:.1f} | "
              f"{times[0] / times[1]:.2f} |")  # fmt: skip


def training_step_of(width, blocks):
    """One SGD step of a fresh network on a fixed random batch of 128."""
    torch.manual_seed(0)
    model = GLiT(width, blocks).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images = torch.randn(128, width.in_chans, width.img_size, width.img_size)
    labels = torch.randint(0, width.num_classes, (128,))

    def step() -> None:
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return step


def training_step() -> None:
    width = WIDTHS["cpu"]
    networks = {
        "all local, K=31, E=2": [BlockArch(0, 31, 2, 1.0, 4.0)] * width.depth,
        "mixed (1 of 3 global), K=17, E=1": [BlockArch(1, 17, 1, 1.0, 4.0)] * width.depth,
    }
    print("\n| network | reference step ms | fast step ms | ratio |")
    print("|---|---|---|---|")
    for label, blocks in networks.items():
        step = training_step_of(width, blocks)
        with reference_layers():
            before = median_ms(step)
        after = median_ms(step)
        print(f"| {label} | {before:.0f} | {after:.0f} | {before / after:.2f} |")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)\n")
    conv_shapes()
    training_step()
