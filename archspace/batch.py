"""Vectorised genotype operators for the hot loop of evolutionary search.

Rows of an int64 array are genotypes (option indices in the space's choice order).
The same rules as the single-genotype operators of `Space`, column by column, so a
population of thousands is sampled, mutated and canonicalised in a few numpy calls
per choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from archspace.space import Space


def active(space: Space, rows: np.ndarray) -> np.ndarray:
    """Boolean (n, d): which choices are active in each (canonical) row."""
    mask = np.ones(rows.shape, dtype=bool)
    for position, test in enumerate(space.tests):
        if test is not None:
            mask[:, position] = test[1](rows)
    return mask


def repair(
    space: Space,
    rows: np.ndarray,
    source_active: np.ndarray | None = None,
    donor: np.ndarray | None = None,
    donor_active: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Canonicalise `rows` in place (see `operators.repair` for the rules) and return them."""
    if rows.ndim != 2 or rows.shape[1] != len(space.choices):
        raise ValueError(
            f"expected an array of shape (n, {len(space.choices)}) for space {space.name!r}, "
            f"got {rows.shape}"
        )
    for position, test in enumerate(space.tests):
        column = rows[:, position]
        is_active = np.ones(len(rows), dtype=bool) if test is None else test[1](rows)
        column[~is_active] = space.defaults[position]
        if position in space.pins:
            column[is_active] = space.pins[position]
        elif source_active is not None:
            fresh = is_active & ~source_active[:, position]
            if fresh.any():
                drawn = rng.integers(0, space.counts[position], size=int(fresh.sum()))
                if donor is not None:
                    from_donor = donor_active[fresh, position]
                    drawn = np.where(from_donor, donor[fresh, position], drawn)
                column[fresh] = drawn
    return rows


def sample(space: Space, n: int, rng: np.random.Generator) -> np.ndarray:
    rows = rng.integers(0, space.counts, size=(n, len(space.choices)))
    return repair(space, rows)


def mutate(space: Space, rows: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """Each active free choice moves to another option with probability `prob`."""
    rows = np.array(rows, dtype=np.int64, copy=True)
    was_active = active(space, rows)
    free = np.zeros(len(space.choices), dtype=bool)
    free[list(space.free)] = True
    hit = (rng.random(rows.shape) < prob) & was_active & free
    shift = rng.integers(1, np.maximum(space.counts, 2), size=rows.shape)
    rows = np.where(hit, (rows + shift) % space.counts, rows)
    return repair(space, rows, was_active, rng=rng)


def crossover(
    space: Space, first: np.ndarray, second: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Row-wise uniform crossover of two equally shaped parent arrays."""
    active_a, active_b = active(space, first), active(space, second)
    take_a = rng.random(first.shape) < 0.5
    rows = np.where(take_a, first, second)
    source = np.where(take_a, active_a, active_b)
    donor = np.where(take_a, second, first)
    donor_active = np.where(take_a, active_b, active_a)
    return repair(space, rows, source, donor, donor_active, rng)
