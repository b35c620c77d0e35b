"""Local search (best-improvement hill climbing with restarts), as ask/tell.

White et al. 2020, "Local Search is State of the Art for Neural Architecture Search
Benchmarks": evaluate every architecture one choice away from the current one, move to
the best if it improves, restart from a random architecture at a local optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from archspace import Genotype, Space
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.options import Option
from strategies.sampling import feasible_mask, neighbour_rows, require_at_least


def neighbours(space: Space, genotype: Genotype) -> list[Genotype]:
    """The genotypes of `neighbour_rows`."""
    return space.from_array(neighbour_rows(space, genotype))


class LocalSearch(AskTellSearcher):
    """Hill climbing over one-choice neighbourhoods, with random restarts.

    * Start: the best of `initial` feasible samples (one batch; uniform, or the
      warm-up's best, restarts continuing down its ranking).
    * Step: ask for every feasible, not yet evaluated neighbour of the current
      architecture (one batch, in random order, so a budget cut mid-batch leaves a
      uniform subset); neighbours evaluated earlier in the search count with their known
      fitness. Move to the best neighbour if it beats the current one, else (a local
      optimum) restart from one fresh feasible sample.
    * Failures (None) are never moved to; a start whose samples all failed is redrawn.
    * `ask` returns [] only when no unseen feasible architecture can be found.
    """

    name: ClassVar[str] = "local"
    summary: ClassVar[str] = (
        "best-improvement local search over one-choice neighbours with random restarts "
        "(White et al. 2020, 'Local Search is State of the Art for NAS Benchmarks')"
    )
    default_evaluations: int = 1000

    options: ClassVar[tuple[Option, ...]] = (
        Option("initial", int, 10, "random samples of the first start", low=1),
        Option("restart", int, 1, "random samples of each restart", low=1),
    )

    def __init__(self, initial: int = 10, restart: int = 1) -> None:
        require_at_least(self.name, 1, initial=initial, restart=restart)
        self.initial = initial
        self.restart = restart

    def start(self, context: SearchContext) -> None:
        super().start(context)
        self.fitness: dict[str, float | None] = {}  # everything told
        self.current: tuple[Genotype, float] | None = None
        self.pool: list[str] = []  # keys of the current start's samples, as told
        self.pool_size = self.initial
        self.neighbourhood: list[Genotype] | None = None  # of `current`, feasible
        self.optima: list[tuple[Genotype, float]] = []  # local optima reached

    def ask(self) -> list[Genotype]:
        while True:
            if self.current is None:
                missing = self.pool_size - len(self.pool)
                if missing > 0:
                    batch = self.context.initial_population(missing, self.fitness)
                    if batch or not self.pool:
                        return batch  # [] only when nothing new is left
                scored = [(k, self.fitness[k]) for k in self.pool if self.fitness[k] is not None]
                self.pool = []
                if not scored:
                    continue  # every start sample failed: draw new ones
                key, value = max(scored, key=lambda item: item[1])
                self._move(self.context.space.from_key(key), value)
            assert self.current is not None and self.neighbourhood is not None
            todo = [g for g in self.neighbourhood if g.key not in self.fitness]
            if todo:
                return todo
            known = [
                (g, self.fitness[g.key])
                for g in self.neighbourhood
                if self.fitness[g.key] is not None
            ]
            best = max(known, key=lambda item: item[1], default=None)  # ties: first asked
            if best is not None and best[1] > self.current[1]:
                self._move(*best)
            else:
                self.optima.append(self.current)
                self.current, self.neighbourhood = None, None
                self.pool_size = self.restart

    def _move(self, genotype: Genotype, fitness: float) -> None:
        rows = neighbour_rows(self.context.space, genotype)
        rows = rows[feasible_mask(self.context.space, self.context.constraint, rows)]
        rows = rows[self.context.rng.permutation(len(rows))]
        self.current = (genotype, fitness)
        self.neighbourhood = self.context.space.from_array(rows)

    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        for genotype, fitness in zip(genotypes, fitnesses):
            if self.current is None and genotype.key not in self.fitness:
                self.pool.append(genotype.key)
            self.fitness[genotype.key] = None if fitness is None else float(fitness)
