"""`KnownResultsWorkbench`: the workbench of a space whose results are known without
training (a table, a formula): no supernet to train, evaluation asks the subclass's
`estimates`, and "retraining" reports the plugin's true `fitness` as both val and test
top-1. The synthetic space and the tabular spaces share it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archspace.genotype import Genotype
from archspace.plugin import Workbench
from archspace.space import Space


class KnownResultsWorkbench(Workbench):
    """A `Workbench` over `plugin`, which has `fitness(genotype) -> float`; subclasses
    give `estimates`."""

    def __init__(self, plugin: Any) -> None:
        self.plugin = plugin

    def estimates(self, genotypes: Sequence[Genotype]) -> list[float]:
        """The fitness evaluation reports for each genotype (NaN: a failure)."""
        raise NotImplementedError

    def train_supernet(self, space: Space, stage: str) -> None:
        self._record("train_supernet", stage)

    def evaluate(self, genotypes: Sequence[Genotype], stage: str) -> list[float]:
        self._record("evaluate", stage)
        return self.estimates(genotypes) if genotypes else []

    def retrain(
        self, genotype: Genotype, stage: str, *, seed: int | None = None, alone: bool = False
    ) -> dict[str, float]:
        self._record("retrain", stage)
        value = self.plugin.fitness(genotype)
        return {"val_top1": value, "test_top1": value}

    def _record(self, hook: str, stage: str) -> None:
        """Called on every hook; nothing by default (a test double records calls)."""
