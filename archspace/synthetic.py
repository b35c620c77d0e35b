"""A cheap synthetic space plugin with a known optimum (no torch, no training).

Its space mirrors GLiT's shape: per block a "distribution" choice `mix` (how many of 3
head slots are global) and conditional "detail" choices (kernel and expansion only when
there are local slots, qkv only when there are global ones, ffn always). Cost and
fitness are sums of per-option tables over the active choices, so the exact optimum
under a cost budget is a small knapsack, solved by dynamic programming. Strategies and
pipelines are tested against it in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from archspace.batch import active
from archspace.choice import Choice
from archspace.conditions import In
from archspace.genotype import Genotype
from archspace.known import KnownResultsWorkbench
from archspace.plugin import SpacePlugin
from archspace.space import Space

DETAIL_OPTIONS = {
    "kernel": (3, 5, 7),
    "expansion": (1, 2, 4),
    "qkv": (0.5, 1.0, 2.0),
    "ffn": (2, 4, 6),
}
DETAIL_COSTS = {"kernel": (1, 2, 3), "expansion": (1, 2, 4), "qkv": (1, 2, 4), "ffn": (2, 4, 6)}
MIX_COSTS = (1, 3, 5, 7)


def synthetic_space(depth: int = 6) -> Space:
    """Per block: mix in 0..3 (distribution) and four detail choices with conditions."""
    choices = []
    for i in range(depth):
        mix = f"blocks.{i}.mix"
        has_local, has_global = In(mix, (0, 1, 2)), In(mix, (1, 2, 3))
        choices.append(Choice(mix, (0, 1, 2, 3), level="distribution"))
        choices.append(Choice(f"blocks.{i}.kernel", (3, 5, 7), level="detail", when=has_local))
        choices.append(Choice(f"blocks.{i}.expansion", (1, 2, 4), level="detail", when=has_local))
        choices.append(Choice(f"blocks.{i}.qkv", (0.5, 1.0, 2.0), level="detail", when=has_global))
        choices.append(Choice(f"blocks.{i}.ffn", (2, 4, 6), level="detail"))
    return Space(choices, name="synthetic")


class SyntheticPlugin(SpacePlugin):
    """Analytic fitness and cost over a GLiT-shaped space; `optimum(budget)` is exact."""

    name: ClassVar[str] = "synthetic"
    summary: ClassVar[str] = "GLiT-shaped toy space with analytic fitness (for tests, demos)"
    metrics: ClassVar[tuple[str, ...]] = ("cost",)

    def __init__(self, depth: int = 6, seed: int = 0, noise: float = 0.02) -> None:
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"synthetic space: depth must be a positive integer, got {depth!r}")
        self.depth, self.seed, self.noise = depth, seed, noise
        self._space = synthetic_space(depth)
        rng = np.random.default_rng(seed)
        costs, scores = [], []
        for choice in self._space.choices:
            kind = choice.name.rsplit(".", 1)[1]
            if kind == "mix":
                costs.append(MIX_COSTS)
                scores.append(tuple(rng.uniform(0.0, 1.0, size=4)))
            else:
                costs.append(DETAIL_COSTS[kind])
                ramp = 0.08 * np.arange(3)  # dearer options are better on average
                scores.append(tuple(ramp + rng.uniform(0.0, 0.12, size=3)))
        width = max(len(c) for c in costs)
        self._cost_table = np.zeros((len(costs), width), dtype=np.int64)
        self._score_table = np.zeros((len(scores), width))
        for j, (c, s) in enumerate(zip(costs, scores)):
            self._cost_table[j, : len(c)] = c
            self._score_table[j, : len(s)] = s
        self._scale = 1.0 / sum(s.max() for _, s in self._per_block)

    @property
    def space(self) -> Space:
        return self._space

    def options(self) -> dict[str, Any]:
        return {"depth": self.depth, "seed": self.seed, "noise": self.noise}

    def block_layout(self, genotype: Genotype) -> list[dict[str, Any]]:
        blocks = genotype.to_dict()["blocks"]
        return [
            {
                "global": b["mix"],
                "local": 3 - b["mix"],
                **{k: v for k, v in b.items() if k != "mix"},
            }
            for b in blocks
        ]

    def workbench(self, config: Mapping[str, Any] | None = None) -> SyntheticWorkbench:
        return SyntheticWorkbench(self)

    def cost(self, genotype: Genotype) -> dict[str, float]:
        return {"cost": float(self.cost_batch(self._space.to_array([genotype]))["cost"][0])}

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"cost": self._table_sum(self._cost_table, np.asarray(rows))}

    def fitness(self, genotype: Genotype) -> float:
        """True fitness in [0, 1] (the 'retrained accuracy')."""
        rows = self._space.to_array([genotype])
        return float(self._table_sum(self._score_table, rows)[0] * self._scale)

    def estimate(self, genotype: Genotype) -> float:
        """Noisy fitness (the 'supernet estimate'): deterministic per genotype and seed."""
        noise_rng = np.random.default_rng([self.seed, *genotype.indices])
        return self.fitness(genotype) + float(noise_rng.normal(0.0, self.noise))

    def _table_sum(self, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per row: the sum of `table[choice, option]` over the row's active choices."""
        picked = np.take_along_axis(table[None, :, :], rows[:, :, None], axis=2)[:, :, 0]
        return (picked * active(self._space, rows)).sum(axis=1)

    def _blocks(self, space: Space) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block: cost and score of each canonical configuration of its choices alone
        (blocks are independent, so totals are sums over blocks)."""
        per_block = len(space) // self.depth
        result = []
        for b in range(self.depth):
            columns = list(range(b * per_block, (b + 1) * per_block))
            rows = space.enumerate([space.names[c] for c in columns])
            keep = np.zeros_like(self._cost_table)
            keep[columns] = 1
            result.append(
                (
                    self._table_sum(self._cost_table * keep, rows),
                    self._table_sum(self._score_table * keep, rows),
                )
            )
        return result

    @cached_property
    def _per_block(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._blocks(self._space)

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float]:
        """Exact cheapest and dearest cost over `space` (default: the whole space)."""
        blocks = self._per_block if space is None else self._blocks(space)
        return float(sum(c.min() for c, _ in blocks)), float(sum(c.max() for c, _ in blocks))

    def optimum(self, budgets: Mapping[str, float] | float | None = None) -> float:
        """Best true fitness of any genotype with cost <= budget (exact knapsack DP);
        `budgets` is a bound on the cost or {"cost": bound}."""
        if budgets is None:
            budget = self.cost_range("cost")[1]
        elif isinstance(budgets, Mapping):
            budget = budgets.get("cost", self.cost_range("cost")[1])
        else:
            budget = budgets
        best = {0: 0.0}
        for costs, scores in self._per_block:
            step: dict[int, float] = {}
            for spent, value in best.items():
                for c, s in zip(costs.tolist(), scores.tolist()):
                    total = spent + int(c)
                    if total <= budget and value + s > step.get(total, -np.inf):
                        step[total] = value + s
            best = step
        if not best:
            raise ValueError(f"no genotype of the synthetic space costs <= {budget}")
        return max(best.values()) * self._scale


class SyntheticWorkbench(KnownResultsWorkbench):
    """The synthetic plugin's `Workbench`: no training; the supernet estimate is the noisy
    fitness and retraining reveals the true one. Records the calls, for tests."""

    def __init__(self, plugin: SyntheticPlugin) -> None:
        super().__init__(plugin)
        self.calls: list[tuple[str, str]] = []

    def estimates(self, genotypes: Sequence[Genotype]) -> list[float]:
        return [self.plugin.estimate(g) for g in genotypes]

    def _record(self, hook: str, stage: str) -> None:
        self.calls.append((hook, stage))
