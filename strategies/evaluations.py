"""The evaluation funnel: every fitness evaluation of a search goes through `Evaluations`.

It caches by genotype key, isolates failures and reports every fresh evaluation to a
hook. That one funnel is what makes runs resumable (a resumed search replays its
proposals against a preloaded cache and pays only for what is new) and what lets a run
store record results as they happen. The search driver (`strategies.driver`) is its
only caller during a search.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from archspace import EvaluatorError, FailedEvaluation, Genotype
from archspace.errors import describe_error

FitnessFn = Callable[[list[Genotype]], Sequence[float]]
"""A batch fitness function: genotypes in, one float per genotype out (higher is better)."""

ResultHook = Callable[[Genotype, float | None, str | None, float], None]
"""`on_result(genotype, fitness_or_None, error_text_or_None, seconds)`."""


class TooManyFailures(RuntimeError):
    """Evaluations keep failing: more likely a broken evaluator than bad architectures."""


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

    * `fn` may report one genotype's failure as a `FailedEvaluation` in its place (the
      one-shot workbench does, so the processes of a job stay in step).

    Only `Exception`s count as failures, and not `EvaluatorError` (out of memory, ranks
    that disagree: the evaluator's fault, which stops the search); `KeyboardInterrupt`
    and other `BaseException`s propagate untouched.
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
        except EvaluatorError:
            raise
        except Exception as error:
            if len(batch) == 1:
                self._record(batch[0], None, describe_error(error), time.perf_counter() - start)
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
    if isinstance(value, FailedEvaluation):
        if value.fatal:
            raise EvaluatorError(value.reason)
        return None, value.reason
    try:
        fitness = float(value)
    except (TypeError, ValueError):
        return None, f"fitness {value!r} is not a number"
    if not math.isfinite(fitness):
        return None, f"fitness is {fitness}"
    return fitness, None
