"""Regularized (aging) evolution, as ask/tell (Real et al. 2019).

Also the small genotype helpers the other ask/tell searchers share: the one-choice
mutation, batched feasibility and fresh (not yet seen) feasible samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

import numpy as np

from archspace import Genotype, Space
from archspace.batch import active, repair
from strategies.asktell import AskTellSearcher, SearchContext

# ---- shared helpers -----------------------------------------------------------------------


def feasible_rows(context: SearchContext, rows: np.ndarray) -> np.ndarray:
    """Boolean mask: which canonical rows satisfy the context's constraint (one batched
    call when the constraint is a `Budget` with a batched cost)."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(context.space))
    constraint = context.constraint
    if constraint is None or len(rows) == 0:
        return np.ones(len(rows), dtype=bool)
    if getattr(constraint, "cost_batch", None) is not None and hasattr(constraint, "allows_batch"):
        return np.asarray(constraint.allows_batch(rows), dtype=bool)
    return np.array([context.feasible(g) for g in context.space.from_array(rows)], dtype=bool)


def mutate_one_rows(space: Space, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with exactly one active free choice moved to a different option.

    The choice is uniform over the row's active free choices and the new option uniform
    over the others; choices the change activates get uniform draws (as `Space.mutate`
    does) and the result is canonical. A row without an active free choice is returned
    unchanged.
    """
    rows = np.array(rows, dtype=np.int64, copy=True).reshape(-1, len(space))
    if len(rows) == 0:
        return rows
    was_active = active(space, rows)
    free = np.zeros(len(space), dtype=bool)
    free[list(space.free)] = True
    movable = was_active & free
    scores = np.where(movable, rng.random(rows.shape), -1.0)
    column = scores.argmax(axis=1)
    ok = movable[np.arange(len(rows)), column]
    counts = space.counts[column]
    shift = rng.integers(1, np.maximum(counts, 2))
    where = np.arange(len(rows))[ok]
    rows[where, column[ok]] = (rows[where, column[ok]] + shift[ok]) % counts[ok]
    return repair(space, rows, was_active, rng=rng)


def fresh_samples(
    context: SearchContext, n: int, avoid: Collection[str], retries: int = 10
) -> list[Genotype]:
    """Up to `n` distinct feasible samples whose keys are not in `avoid`.

    Fewer (possibly none) come back only when `retries` rounds of draws found nothing
    new: the (feasible part of the) space is nearly exhausted.
    """
    chosen: dict[str, Genotype] = {}
    for _ in range(retries + 1):
        if len(chosen) >= n:
            break
        for genotype in context.sample(max(n - len(chosen), 8)):
            key = genotype.key
            if key not in avoid and key not in chosen and len(chosen) < n:
                chosen[key] = genotype
    return list(chosen.values())


def positive_int(owner: str, **values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner}: option {name} must be a positive int, got {value!r}")


# ---- the searcher -------------------------------------------------------------------------


class RegularizedEvolution(AskTellSearcher):
    """Aging evolution: a queue of `population` evaluated architectures; each step picks the
    best of `tournament` members drawn uniformly (without replacement), mutates exactly
    one of its choices, evaluates the child, appends it and removes the *oldest* member.

    * Generation 0 is `population` feasible uniform samples (asked in one batch).
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

    def __init__(
        self, population: int = 30, tournament: int = 10, batch_size: int = 1, retries: int = 10
    ) -> None:
        positive_int(
            self.name,
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

    @classmethod
    def from_settings(cls, settings: Any, **context: Any) -> RegularizedEvolution:
        """`search.aging_population` and `search.tournament` (NASLib's defaults, 30 and
        10); not `search.population`, which sizes SPOS evolution's generations."""
        return cls(population=settings.aging_population, tournament=settings.tournament)

    def start(self, context: SearchContext) -> None:
        super().start(context)
        self.members: deque[tuple[Genotype, float]] = deque()  # oldest first
        self.seen: set[str] = set()  # every key told (successes and failures)
        self.initial_asked = 0  # generation-0 samples told so far

    def ask(self) -> list[Genotype]:
        if self.initial_asked < self.population:
            batch = fresh_samples(self.context, self.population - self.initial_asked, self.seen)
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
        ok = feasible_rows(self.context, rows)
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
