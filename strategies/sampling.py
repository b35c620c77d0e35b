"""Helpers for searchers: feasible uniform samples in batches, novelty, option checks."""

from __future__ import annotations

from collections.abc import Callable, Container

import numpy as np

from archspace import Constraint, Genotype, InfeasibleError, Space
from archspace.constraints import describe_cost_range


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

    def check(self) -> None:
        """Raise InfeasibleError (with the cost range seen) unless a feasible row exists;
        the row found stays buffered, so the stream of samples is unchanged."""
        self._fill(1)

    def rows(self, n: int) -> np.ndarray:
        """`n` feasible canonical rows."""
        self._fill(n)
        taken, self._buffer = self._buffer[:n], self._buffer[n:]
        return taken

    def _fill(self, n: int) -> None:
        misses: list[np.ndarray] = []  # consecutive chunks without a feasible row
        while len(self._buffer) < n:
            size = min(self.chunk, self.max_tries - sum(len(m) for m in misses))
            rows = self.space.sample_batch(size, self.rng)
            good = rows[feasible_mask(self.space, self.constraint, rows)]
            misses = [] if len(good) else [*misses, rows]
            self._buffer = np.concatenate([self._buffer, good])
            if sum(len(m) for m in misses) >= self.max_tries:
                self._infeasible(np.concatenate(misses))

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
