"""The searcher protocol: one small abstract interface, many search strategies.

A `Searcher` explores a (sub-)space of an `archspace.Space` under an optional constraint
and returns a `SearchResult`. It never calls a fitness function directly: it goes
through `Evaluations`, which caches by genotype key, isolates failures and reports every
fresh evaluation to a hook. That one funnel is what makes runs resumable (a resumed
search replays its trajectory against a preloaded cache and pays only for what is new)
and what lets a run store record results as they happen.

Nothing here imports torch or any space plugin: strategies see spaces only through
`archspace`.
"""

from __future__ import annotations

import inspect
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from archspace import Constraint, Genotype, InfeasibleError, Space
from archspace.constraints import describe_cost_range

FitnessFn = Callable[[list[Genotype]], Sequence[float]]
"""A batch fitness function: genotypes in, one float per genotype out (higher is better)."""

ResultHook = Callable[[Genotype, float | None, str | None, float], None]
"""`on_result(genotype, fitness_or_None, error_text_or_None, seconds)`."""


class TooManyFailures(RuntimeError):
    """Evaluations keep failing: more likely a broken evaluator than bad architectures."""


# ---- evaluations --------------------------------------------------------------------------


class Evaluations:
    """The cached, failure-tolerant fitness funnel every searcher calls.

    * Each genotype is evaluated at most once (cache by `genotype.key`); `preload` fills
      the cache from a previous run, so resuming costs nothing for what is known.
    * The uncached genotypes of a call go to `fn` in one batch (a GPU evaluates batches),
      or in chunks of `chunk_size`, each recorded as it returns (a kill then loses at most
      one chunk of work).
    * A genotype whose evaluation raises, or returns NaN/inf, gets fitness None and its
      error text; when `fn` raises for a whole batch, the batch is retried one genotype
      at a time so that only the culprit is marked.
    * More than `max_consecutive_failures` failures in a row raise `TooManyFailures`
      (None disables the limit): a systematic error should stop the run, not be searched.
    * `on_result(genotype, fitness, error, seconds)` is called for every fresh result as it
      is known, so a run store loses nothing on a crash.

    Only `Exception`s count as failures; `KeyboardInterrupt` and other `BaseException`s
    propagate untouched.
    """

    def __init__(
        self,
        fn: FitnessFn,
        *,
        max_consecutive_failures: int | None = 10,
        on_result: ResultHook | None = None,
        chunk_size: int | None = None,
    ) -> None:
        if max_consecutive_failures is not None and max_consecutive_failures < 0:
            raise ValueError(
                f"max_consecutive_failures must be >= 0 or None, got {max_consecutive_failures}"
            )
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
        self.fn = fn
        self.max_consecutive_failures = max_consecutive_failures
        self.on_result = on_result
        self.chunk_size = chunk_size
        self._fitness: dict[str, float | None] = {}
        self._errors: dict[str, str] = {}
        self._fresh = 0
        self._failed = 0
        self._consecutive = 0
        self._last_error: str | None = None

    # ---- the cache -------------------------------------------------------------------

    def preload(self, results: Mapping[str, float | None]) -> int:
        """Add known results {key: fitness or None (a failure)}; returns how many were new.

        Entries already in the cache win (they are what this process measured); NaN and
        infinite values are stored as failures.
        """
        added = 0
        for key, value in results.items():
            if key in self._fitness:
                continue
            self._fitness[key] = _finite_or_none(value)
            added += 1
        return added

    def __contains__(self, item: Genotype | str) -> bool:
        return _key(item) in self._fitness

    def __len__(self) -> int:
        return len(self._fitness)

    def get(self, item: Genotype | str) -> float | None:
        """Cached fitness (None for a failure); KeyError when never evaluated."""
        return self._fitness[_key(item)]

    def error(self, item: Genotype | str) -> str | None:
        """Error text of a failed fresh evaluation, else None."""
        return self._errors.get(_key(item))

    @property
    def results(self) -> Mapping[str, float | None]:
        """Read-only view {key: fitness or None} of everything known."""
        return MappingProxyType(self._fitness)

    @property
    def count(self) -> int:
        """Distinct genotypes with a result: fresh evaluations plus preloaded ones."""
        return len(self._fitness)

    @property
    def fresh(self) -> int:
        """Fitness evaluations actually made by this object (cache misses)."""
        return self._fresh

    @property
    def failures(self) -> int:
        """Fresh evaluations that failed."""
        return self._failed

    # ---- evaluating ------------------------------------------------------------------

    def __call__(self, genotypes: Sequence[Genotype]) -> list[float | None]:
        """Fitness of each genotype (None for a failure), evaluating only the uncached."""
        pending: list[Genotype] = []
        queued: set[str] = set()
        for genotype in genotypes:
            key = genotype.key
            if key not in self._fitness and key not in queued:
                queued.add(key)
                pending.append(genotype)
        step = self.chunk_size or len(pending) or 1
        for start in range(0, len(pending), step):  # each chunk is recorded as it finishes
            self._evaluate(pending[start : start + step])
        return [self._fitness[g.key] for g in genotypes]

    evaluate = __call__

    def _evaluate(self, batch: list[Genotype]) -> None:
        start = time.perf_counter()
        try:
            values = list(self.fn(list(batch)))
        except Exception as error:
            if len(batch) == 1:
                self._record(batch[0], None, _describe(error), time.perf_counter() - start)
                self._check_failures()
                return
            for genotype in batch:  # isolate the culprit(s), stopping early if systematic
                self._evaluate([genotype])
            return
        seconds = (time.perf_counter() - start) / len(batch)
        if len(values) != len(batch):
            raise ValueError(
                f"the fitness function returned {len(values)} values for {len(batch)} genotypes"
            )
        exceeded = None
        for genotype, value in zip(batch, values):
            fitness, error = _parse_fitness(value)
            self._record(genotype, fitness, error, seconds)
            if exceeded is None and self._over_limit():
                exceeded = self._failure_message()
        if exceeded is not None:  # everything measured is recorded first
            raise TooManyFailures(exceeded)

    def _record(
        self, genotype: Genotype, fitness: float | None, error: str | None, seconds: float
    ) -> None:
        key = genotype.key
        self._fitness[key] = fitness
        self._fresh += 1
        if fitness is None:
            self._errors[key] = error or "failed"
            self._failed += 1
            self._consecutive += 1
            self._last_error = f"{key}: {self._errors[key]}"
        else:
            self._consecutive = 0
        if self.on_result is not None:
            self.on_result(genotype, fitness, error, seconds)

    def _over_limit(self) -> bool:
        limit = self.max_consecutive_failures
        return limit is not None and self._consecutive > limit

    def _failure_message(self) -> str:
        return (
            f"{self._consecutive} evaluations failed in a row (max_consecutive_failures="
            f"{self.max_consecutive_failures}); last error: {self._last_error}"
        )

    def _check_failures(self) -> None:
        if self._over_limit():
            raise TooManyFailures(self._failure_message())


def _key(item: Genotype | str) -> str:
    return item if isinstance(item, str) else item.key


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _parse_fitness(value: Any) -> tuple[float | None, str | None]:
    try:
        fitness = float(value)
    except (TypeError, ValueError):
        return None, f"fitness {value!r} is not a number"
    if not math.isfinite(fitness):
        return None, f"fitness is {fitness}"
    return fitness, None


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# ---- results ------------------------------------------------------------------------------


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


# ---- the protocol -------------------------------------------------------------------------


class Searcher(ABC):
    """A search strategy: options in the constructor, one `search` call per (sub-)space.

    Contract for implementations:

    * every candidate evaluated satisfies `constraint` (an `archspace.InfeasibleError`
      propagates when nothing does);
    * failed evaluations (None) rank below every real fitness and are never the best;
    * all randomness comes from `seed`, so the same seed gives the same result and the
      same evaluation sequence.
    """

    name: ClassVar[str]

    @abstractmethod
    def search(
        self,
        space: Space,
        evaluations: Evaluations,
        constraint: Constraint | None = None,
        seed: int = 0,
        on_generation: Callable[[GenerationRecord], None] | None = None,
    ) -> SearchResult:
        """Search `space` (which may be a sub-space with pins) and return the best found."""

    def options(self) -> dict[str, Any]:
        """The constructor options, for a run's saved config."""
        return {
            name: getattr(self, name)
            for name in inspect.signature(type(self).__init__).parameters
            if name != "self" and hasattr(self, name)
        }

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({options})"


# ---- helpers for implementations ----------------------------------------------------------


class Avoid:
    """Keys a search steers away from: those in any of `seen`, plus the ones `add`ed."""

    def __init__(self, *seen: Container[str]) -> None:
        self.seen = seen
        self.taken: set[str] = set()

    def add(self, key: str) -> None:
        self.taken.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self.taken or any(key in container for container in self.seen)


def feasible_mask(space: Space, constraint: Constraint | None, rows: np.ndarray) -> np.ndarray:
    """Which rows satisfy `constraint`: one batched call for a `Budget` with a batched
    cost, else one call per genotype."""
    if constraint is None:
        return np.ones(len(rows), dtype=bool)
    if getattr(constraint, "cost_batch", None) is not None and hasattr(constraint, "allows_batch"):
        return np.asarray(constraint.allows_batch(rows), dtype=bool)
    return np.array([bool(constraint(g)) for g in space.from_array(rows)], dtype=bool)


class FeasibleSampler:
    """Uniform samples that satisfy a constraint, drawn and checked in batches.

    Rejection sampling like `Space.sample_feasible`, but a chunk of rows at a time, with
    the feasible leftovers kept for the next call (so the stream stays deterministic).
    After `max_tries` draws in a row without a feasible one it raises InfeasibleError
    with the cost range seen.
    """

    def __init__(
        self,
        space: Space,
        constraint: Constraint | None,
        rng: np.random.Generator,
        max_tries: int = 10_000,
        chunk: int = 256,
    ) -> None:
        self.space, self.constraint, self.rng = space, constraint, rng
        self.max_tries, self.chunk = max_tries, chunk
        self._buffer = np.empty((0, len(space)), dtype=np.int64)

    def rows(self, n: int) -> np.ndarray:
        """`n` feasible canonical rows."""
        misses: list[np.ndarray] = []  # consecutive chunks without a feasible row
        while len(self._buffer) < n:
            size = min(self.chunk, self.max_tries - sum(len(m) for m in misses))
            rows = self.space.sample_batch(size, self.rng)
            good = rows[feasible_mask(self.space, self.constraint, rows)]
            misses = [] if len(good) else [*misses, rows]
            self._buffer = np.concatenate([self._buffer, good])
            if sum(len(m) for m in misses) >= self.max_tries:
                self._infeasible(np.concatenate(misses))
        taken, self._buffer = self._buffer[:n], self._buffer[n:]
        return taken

    def __call__(self) -> Genotype:
        return self.space.from_array(self.rows(1))[0]

    def _infeasible(self, rows: np.ndarray) -> None:
        seen: list[float] = []
        cost_batch = getattr(self.constraint, "cost_batch", None)
        if cost_batch is not None:
            seen = [float(c) for c in cost_batch(rows)]
        raise InfeasibleError(
            f"no genotype of space {self.space.name!r} satisfied {self.constraint} in "
            f"{self.max_tries} tries" + describe_cost_range(self.constraint, seen)
        )


def fresh_candidates(
    sample: Callable[[int], np.ndarray],
    space: Space,
    n: int,
    avoid: Avoid,
    retries: int,
) -> list[Genotype]:
    """`n` fresh samples not in `avoid` (redrawn up to `retries` times), added to it.

    In a space smaller than the budget novelty runs out; the last draws are then kept
    even if seen before: duplicates cost nothing, the cache answers them.
    """
    chosen: list[Genotype] = []
    for _ in range(retries + 1):
        if len(chosen) == n:
            return chosen
        for genotype in space.from_array(sample(n - len(chosen))):
            if genotype.key not in avoid:
                avoid.add(genotype.key)
                chosen.append(genotype)
    if len(chosen) < n:
        chosen.extend(space.from_array(sample(n - len(chosen))))
    return chosen


def require_at_least(owner: str, minimum: float, **values: float) -> None:
    """Raise a ValueError naming the option when an option is below `minimum`."""
    for name, value in values.items():
        if not isinstance(value, (int, float)) or value < minimum:
            raise ValueError(f"{owner}: option {name} must be >= {minimum}, got {value!r}")
