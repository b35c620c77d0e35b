"""What one search found: its generation records, its archive and its result.

`Archive` ranks by fitness, ties broken by who came first, failures last: results are
deterministic whatever the evaluation backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from archspace import Genotype
from strategies.evaluations import TooManyFailures


@dataclass
class GenerationRecord:
    """One generation (or batch) of a search: what a report plots and a run checkpoints.

    `best_fitness` is the best found so far (the incumbent), `mean_fitness` the mean of
    this generation's non-failed candidates; either is None while nothing has succeeded.
    """

    generation: int
    population: list[str]
    fitnesses: list[float | None]
    best_fitness: float | None
    mean_fitness: float | None
    evaluated_so_far: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    """The outcome of a search: the best genotype, the top list and the history."""

    best: Genotype
    best_fitness: float
    evaluated: int
    history: list[GenerationRecord] = field(default_factory=list)
    top: list[tuple[Genotype, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (genotypes as keys and nested dicts)."""
        return {
            "best": self.best.key,
            "best_architecture": self.best.to_dict(),
            "best_fitness": self.best_fitness,
            "evaluated": self.evaluated,
            "top": [{"key": g.key, "fitness": f} for g, f in self.top],
            "history": [r.to_dict() for r in self.history],
        }


class Archive:
    """Every candidate one search has scored, in order of first evaluation.

    Ranking is by fitness, ties broken by who came first, failures (None) last and never
    returned as best: so results are deterministic whatever the evaluation backend.
    """

    def __init__(self) -> None:
        self.genotypes: dict[str, Genotype] = {}
        self.fitness: dict[str, float | None] = {}
        self.history: list[GenerationRecord] = []
        self._best: tuple[Genotype, float] | None = None

    def __contains__(self, key: object) -> bool:
        return key in self.fitness

    def __len__(self) -> int:
        return len(self.fitness)

    def add(self, genotypes: Iterable[Genotype], fitnesses: Iterable[float | None]) -> None:
        for genotype, fitness in zip(genotypes, fitnesses):
            if genotype.key in self.fitness:
                continue
            self.genotypes[genotype.key] = genotype
            self.fitness[genotype.key] = fitness
            if fitness is not None and (self._best is None or fitness > self._best[1]):
                self._best = (genotype, fitness)

    @property
    def best(self) -> tuple[Genotype, float] | None:
        return self._best

    def top(self, k: int) -> list[tuple[Genotype, float]]:
        scored = [(key, f) for key, f in self.fitness.items() if f is not None]
        order = sorted(range(len(scored)), key=lambda i: -scored[i][1])  # stable: first wins
        return [(self.genotypes[scored[i][0]], scored[i][1]) for i in order[:k]]

    def record(
        self,
        generation: int,
        genotypes: Sequence[Genotype],
        fitnesses: Sequence[float | None],
        on_generation: Callable[[GenerationRecord], None] | None = None,
    ) -> GenerationRecord:
        """Add a generation's results, append its record and pass it to `on_generation`."""
        self.add(genotypes, fitnesses)
        good = [f for f in fitnesses if f is not None]
        record = GenerationRecord(
            generation=generation,
            population=[g.key for g in genotypes],
            fitnesses=list(fitnesses),
            best_fitness=None if self._best is None else self._best[1],
            mean_fitness=float(np.mean(good)) if good else None,
            evaluated_so_far=len(self.fitness),
        )
        self.history.append(record)
        if on_generation is not None:
            on_generation(record)
        return record

    def result(self, top_k: int) -> SearchResult:
        if self._best is None:
            raise TooManyFailures(
                f"all {len(self.fitness)} evaluated candidates failed; no architecture to return"
            )
        best, best_fitness = self._best
        return SearchResult(
            best=best,
            best_fitness=best_fitness,
            evaluated=len(self.fitness),
            history=list(self.history),
            top=self.top(top_k),
        )


def fitness_text(value: float) -> str:
    """A search fitness for people: 4 decimals for accuracies, 4 significant digits for
    scores of any size (a zero-cost proxy's synflow reaches 1e40)."""
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"
