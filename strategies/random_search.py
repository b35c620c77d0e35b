"""Random search: the baseline every smarter strategy has to beat (GLiT Table 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from archspace import Constraint, Space
from strategies.searcher import (
    Archive,
    Avoid,
    Evaluations,
    FeasibleSampler,
    GenerationRecord,
    Searcher,
    SearchResult,
    fresh_candidates,
    require_at_least,
)


class RandomSearcher(Searcher):
    """Uniform samples under the constraint, evaluated in batches, best kept.

    `samples` defaults to the evolution's budget (1000 candidates) so the two compare at
    equal cost. A sample already drawn is redrawn (up to `retries` times), so the budget
    buys distinct architectures; each batch is one generation of the history. Like
    evolution, the draws depend only on the seed, so a rerun against a preloaded
    `Evaluations` replays the same candidates and pays only for the new ones.
    """

    name: ClassVar[str] = "random"

    def __init__(
        self,
        samples: int = 1000,
        batch_size: int = 50,
        retries: int = 10,
        max_tries: int = 10_000,
        top_k: int = 10,
    ) -> None:
        require_at_least(
            "random", 1, samples=samples, batch_size=batch_size, max_tries=max_tries, top_k=top_k
        )
        require_at_least("random", 0, retries=retries)
        self.samples = samples
        self.batch_size = batch_size
        self.retries = retries
        self.max_tries = max_tries
        self.top_k = top_k

    def search(
        self,
        space: Space,
        evaluations: Evaluations,
        constraint: Constraint | None = None,
        seed: int = 0,
        on_generation: Callable[[GenerationRecord], None] | None = None,
    ) -> SearchResult:
        sample = FeasibleSampler(space, constraint, np.random.default_rng(seed), self.max_tries)
        archive = Archive()
        generation = drawn = 0
        while drawn < self.samples:
            size = min(self.batch_size, self.samples - drawn)
            batch = fresh_candidates(sample.rows, space, size, Avoid(archive), self.retries)
            archive.record(generation, batch, evaluations(batch), on_generation)
            drawn += size
            generation += 1
        return archive.result(self.top_k)
