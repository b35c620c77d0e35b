"""Helpers for searchers: feasible uniform samples in batches, novelty, the one-choice
moves (mutation and neighbourhood) on canonical rows, option checks."""

from __future__ import annotations

from collections.abc import Callable, Collection, Container
from typing import TYPE_CHECKING

import numpy as np

from archspace import Constraint, Genotype, InfeasibleError, Space
from archspace.batch import active, repair
from archspace.constraints import describe_cost_range

if TYPE_CHECKING:
    from strategies.asktell import SearchContext


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


def fresh_samples(
    context: SearchContext, n: int, avoid: Collection[str], retries: int = 10
) -> list[Genotype]:
    """Up to `n` distinct feasible samples whose keys are not in `avoid` (for ask/tell
    searchers; unlike `fresh_candidates`, never pads with seen ones).

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


def neighbour_rows(space: Space, genotype: Genotype) -> np.ndarray:
    """Canonical rows of every genotype one choice away from `genotype`, deduplicated.

    One active free (unpinned, more than one option) choice moves to each of its other
    options; choices the move activates keep their default (so the neighbourhood is
    deterministic) and choices it deactivates drop to theirs. Sorted, without
    `genotype` itself; feasibility is not checked.
    """
    row = np.array(genotype.indices, dtype=np.int64)
    is_active = active(space, row[None, :])[0]
    moves = []
    for position in space.free:
        if not is_active[position]:
            continue
        for option in range(int(space.counts[position])):
            if option != row[position]:
                moved = row.copy()
                moved[position] = option
                moves.append(moved)
    if not moves:
        return np.empty((0, len(space)), dtype=np.int64)
    rows = np.unique(space.canonicalize_batch(np.stack(moves)), axis=0)
    return rows[(rows != row).any(axis=1)]


def require_at_least(owner: str, minimum: int, **values: int) -> None:
    """Raise a ValueError naming the option unless each option is an int >= `minimum`."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{owner}: option {name} must be an int >= {minimum}, got {value!r}")
