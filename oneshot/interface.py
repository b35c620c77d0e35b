"""The torch side of a space plugin: everything the one-shot layer needs, in one place.

A plugin that wants SPOS training, hierarchical evolution with retraining, export and
latency tables supplies, beside archspace's `SpacePlugin` (space and cost model):

- `model_input()`: the `ModelInput` its networks expect (channels, image size, classes);
  the data pipeline resizes and converts the data to it.
- `supernet(drop_path_rate)`: an `nn.Module` holding the largest weights of the space,
  with `activate(genotype)` (pick the path `forward` runs; allocates nothing) and
  `export(genotype)` (a standalone module with copies of the inherited weights).
- `build(genotype, drop_path_rate)`: a fresh standalone `nn.Module` of one genotype,
  the network that is retrained and deployed.
- optionally, for latency tables (`oneshot.latency`): `latency_parts(genotype)` and
  `latency_part_keys()` (archspace's protocol) and `latency_module(key)` (below).

Parameters excluded from weight decay are found by rule (1-D tensors: norms and biases)
plus the names a module lists in its `no_weight_decay()` (timm's convention), so a
space never passes names through the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from archspace import Genotype

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelInput:
    """What a space's networks take and give: images (in_chans, img_size, img_size) and
    `num_classes` logits."""

    in_chans: int
    img_size: int
    num_classes: int


@runtime_checkable
class Supernet(Protocol):
    """A weight-sharing network (an `nn.Module`) whose `forward` runs the active path."""

    def activate(self, genotype: Genotype) -> None:
        """Select the path `forward` runs; validates the genotype, allocates nothing."""

    def export(self, genotype: Genotype | None = None) -> nn.Module:
        """A standalone module of `genotype` (default: the active path) with copies of the
        inherited weights and buffers; its output equals the supernet's on that path."""


@runtime_checkable
class OneShotSpace(Protocol):
    """What `OneShotWorkbench` asks of a plugin beyond archspace's `SpacePlugin`."""

    def model_input(self) -> ModelInput: ...

    def supernet(self, drop_path_rate: float = 0.0) -> nn.Module: ...

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0) -> nn.Module: ...


@runtime_checkable
class LatencyParts(Protocol):
    """Optional: what a latency table measures. Beside archspace's `latency_parts` and
    `latency_part_keys`, the plugin builds each part as a standalone module with the
    input it takes in the whole network (a block: the token sequence of the width), so
    the part can be timed alone. `batch` is the leading dimension of that input."""

    def latency_module(self, key: str) -> tuple[nn.Module, tuple[int, ...]]:
        """(module in eval mode, input shape without the batch dimension) of one part."""
        ...
