"""`LookupWorkbench`: the training backend of a tabular space, where every result is
already known: no supernet, and evaluation and "retraining" read the same number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from archspace.genotype import Genotype
from archspace.known import KnownResultsWorkbench


class LookupWorkbench(KnownResultsWorkbench):
    """Look-ups only: `lookup(rows)` gives the fitness per population row (NaN for an
    architecture the table lacks: recorded as a failure); the plugin's
    `fitness(genotype)` is what retraining reports."""

    def __init__(self, plugin: Any, lookup: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__(plugin)
        self.lookup = lookup

    def estimates(self, genotypes: Sequence[Genotype]) -> list[float]:
        rows = np.array([g.indices for g in genotypes], dtype=np.int64)
        return [float(v) for v in self.lookup(rows)]
