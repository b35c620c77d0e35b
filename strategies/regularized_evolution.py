"""Regularized (aging) evolution, as ask/tell (Real et al. 2019)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from archspace import Genotype, Space
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.options import Option
from strategies.sampling import feasible_mask, fresh_samples, mutate_one_rows, require_at_least

# ---- the searcher -------------------------------------------------------------------------


class RegularizedEvolution(AskTellSearcher):
    """Aging evolution: a queue of `population` evaluated architectures; each step picks the
    best of `tournament` members drawn uniformly (without replacement), mutates exactly
    one of its choices, evaluates the child, appends it and removes the *oldest* member.

    * Generation 0 is `population` feasible samples (asked in one batch): uniform, or
      the warm-up's best (`context.initial_population`).
    * A child that is infeasible or already evaluated is remade (up to `retries` times),
      then replaced by a fresh feasible sample.
    * `batch_size` children per `ask` (default 1, the paper's sequential algorithm). With
      a larger batch each child comes from its own tournament over the same population,
      and on `tell` they join (and the oldest leave) in order: the asynchronous variant of
      the paper's parallel workers, for evaluators that prefer batches.
    * A failed evaluation (None) joins nothing; the population ages only with successes.
    * `ask` returns [] only when no unseen feasible architecture can be found.
    """

    name: ClassVar[str] = "regularized-evolution"
    summary: ClassVar[str] = (
        "aging evolution: tournament + one-choice mutation, oldest dies (Real et al. 2019, "
        "AAAI, 'Regularized Evolution for Image Classifier Architecture Search')"
    )
    default_evaluations: int = 1000

    options: ClassVar[tuple[Option, ...]] = (
        Option("population", int, 30, "the aging population (NASLib's default)", low=1),
        Option("tournament", int, 10, "tournament size (NASLib's default)", low=1),
        Option("batch_size", int, 1, "children per ask", low=1),
        Option("retries", int, 10, "redraws of a child already seen", low=1),
    )

    def __init__(
        self, population: int = 30, tournament: int = 10, batch_size: int = 1, retries: int = 10
    ) -> None:
        require_at_least(
            self.name,
            1,
            population=population,
            tournament=tournament,
            batch_size=batch_size,
            retries=retries,
        )
        if tournament > population:
            raise ValueError(
                f"{self.name}: tournament ({tournament}) cannot exceed population ({population})"
            )
        self.population = population
        self.tournament = tournament
        self.batch_size = batch_size
        self.retries = retries

    def start(self, context: SearchContext) -> None:
        super().start(context)
        self.members: deque[tuple[Genotype, float]] = deque()  # oldest first
        self.seen: set[str] = set()  # every key told (successes and failures)
        self.initial_asked = 0  # generation-0 samples told so far

    def ask(self) -> list[Genotype]:
        if self.initial_asked < self.population:
            batch = self.context.initial_population(self.population - self.initial_asked, self.seen)
            if batch or not self.members:
                return batch
            self.initial_asked = self.population  # nothing new left: evolve what we have
        if not self.members:  # every evaluation so far failed: keep sampling
            return fresh_samples(self.context, self.batch_size, self.seen)
        rng, space = self.context.rng, self.context.space
        batch: dict[str, Genotype] = {}
        for _ in range(self.batch_size):
            parent = self._select(rng)
            child = self._child(parent, batch, rng, space)
            if child is not None:
                batch[child.key] = child
        return list(batch.values())

    def _select(self, rng: np.random.Generator) -> Genotype:
        size = min(self.tournament, len(self.members))
        drawn = rng.choice(len(self.members), size=size, replace=False)
        best = max(drawn, key=lambda i: self.members[i][1])  # ties: first drawn
        return self.members[best][0]

    def _child(
        self, parent: Genotype, taken: dict[str, Genotype], rng: np.random.Generator, space: Space
    ) -> Genotype | None:
        # the `retries` tries are drawn at once (one batched call) and taken in order
        rows = mutate_one_rows(space, np.tile(parent.indices, (self.retries, 1)), rng)
        ok = feasible_mask(space, self.context.constraint, rows)
        for child, feasible in zip(space.from_array(rows), ok):
            if feasible and child.key not in self.seen and child.key not in taken:
                return child
        fresh = fresh_samples(self.context, 1, self.seen | taken.keys())
        return fresh[0] if fresh else None

    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        for genotype, fitness in zip(genotypes, fitnesses):
            if self.initial_asked < self.population and genotype.key not in self.seen:
                self.initial_asked += 1
            self.seen.add(genotype.key)
            if fitness is None:
                continue
            self.members.append((genotype, float(fitness)))
            if len(self.members) > self.population:
                self.members.popleft()  # aging: the oldest dies, however good
