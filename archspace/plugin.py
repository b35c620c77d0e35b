"""The space-plugin protocol: what a search space must provide to the toolkit.

Strategies see a plugin only through this interface (never its module), so a new space
is one class registered under the `archsearch.spaces` entry point. The encoding and cost
parts are required; the training hooks (`workbench`) are what weight-sharing pipelines
call and may be left out by spaces that are only searched, not trained.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from archspace.constraints import Budget
from archspace.genotype import Genotype
from archspace.space import Space


class Workbench(Protocol):
    """Training hooks of a plugin: supernet training, fitness evaluation, retraining.

    A workbench that runs as several processes (torchrun) also has a `ranks` attribute
    (an `archspace.RankGroup`): every process then runs the same search in step, only
    the main one writes, and `evaluate` receives `world_size` genotypes at a time.
    """

    def train_supernet(self, space: Space, stage: str) -> None:
        """Train the weight-sharing supernet over (sub-)space `space`, one path per step."""

    def evaluate(self, genotypes: Sequence[Genotype], stage: str) -> list[float]:
        """Fitness (higher is better, e.g. search-validation top-1) with supernet weights."""

    def retrain(self, genotype: Genotype, stage: str) -> dict[str, float]:
        """Train the standalone architecture from scratch; metrics incl. the test top-1."""

    # Optional: `data_summary() -> str`, one line on what the train, search-validation
    # and test splits hold; a run prints it before any training.


class SpacePlugin(ABC):
    """A search space with its cost model (and optionally its training backend)."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    #: cost metrics reported by `cost`, the first being the default budget metric
    metrics: ClassVar[tuple[str, ...]] = ("cost",)

    @property
    @abstractmethod
    def space(self) -> Space:
        """The full search space."""

    @abstractmethod
    def cost(self, genotype: Genotype) -> dict[str, float]:
        """Analytic cost metrics of one genotype, e.g. {"macs": ..., "params": ...}."""

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Costs of a population array; override with a vectorised version when possible."""
        costs = [self.cost(g) for g in self.space.from_array(rows)]
        return {m: np.array([c[m] for c in costs]) for m in self.metrics}

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float] | None:
        """Exact (cheapest, dearest) cost over `space`, when the plugin can tell; else None."""
        return None

    def budget(self, maximum: float, metric: str | None = None) -> Budget:
        """A `Budget` constraint `metric <= maximum` with the plugin's cost functions."""
        metric = metric or self.metrics[0]
        if metric not in self.metrics:
            raise ValueError(
                f"space {self.name!r} has no cost metric {metric!r}; metrics: "
                + ", ".join(self.metrics)
            )
        return Budget(
            cost=lambda g: self.cost(g)[metric],
            maximum=maximum,
            metric=metric,
            cost_batch=lambda rows: self.cost_batch(rows)[metric],
        )

    def presets(self) -> Mapping[str, Genotype]:
        """Named architectures of the space (e.g. published models)."""
        return {}

    def block_layout(self, genotype: Genotype) -> list[dict[str, Any]] | None:
        """Per block, what a drawing of the architecture shows (e.g. {"global": 1,
        "local": 2, ...} head counts); None when the space has no block structure."""
        return None

    def options(self) -> dict[str, Any]:
        """The resolved plugin options, for the run's saved config."""
        return {}

    def workbench(self, config: Mapping[str, Any]) -> Workbench:
        raise NotImplementedError(f"space {self.name!r} provides no training backend")

    def describe(self) -> dict[str, Any]:
        """A summary for listings: levels, choice counts and exact sizes."""
        space = self.space
        return {
            "name": self.name,
            "summary": self.summary,
            "choices": len(space),
            "levels": {
                level: sum(1 for c in space.choices if c.level == level) for level in space.levels
            },
            "size": space.size,
            "log10_size": space.log10_size,
            "nominal_size": space.nominal_size,
            "metrics": list(self.metrics),
            "presets": sorted(self.presets()),
        }
