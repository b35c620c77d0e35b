"""Single-genotype operators: the same rules as `archspace.batch`, on one index list.

Pure Python (a genotype has tens of choices, so numpy per call would cost more than it
saves). `Space.sample`, `mutate` and `crossover` wrap these into genotypes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from archspace.space import Space


def repair(
    space: Space,
    row: list[int],
    source_active: Sequence[bool] | None = None,
    donor: Sequence[int] | None = None,
    donor_active: Sequence[bool] | None = None,
    rng: np.random.Generator | None = None,
) -> list[int]:
    """One ordered pass to canonical form, in place.

    Inactive choices go to their default, pinned ones to their pin. A choice that is
    active now but was inactive where its value came from (`source_active`) gets the
    donor's value when the donor has it active, else a uniform draw: its old value
    was only a placeholder.
    """
    for position, test in enumerate(space.tests):
        if test is not None and not test[0](row):
            row[position] = space.defaults[position]
        elif position in space.pins:
            row[position] = space.pins[position]
        elif source_active is not None and not source_active[position]:
            if donor is not None and donor_active[position]:
                row[position] = donor[position]
            else:
                row[position] = int(rng.integers(space.counts[position]))
    return row


def sample(space: Space, rng: np.random.Generator) -> list[int]:
    """Uniform per-choice sample (as SPOS samples paths), canonical."""
    return repair(space, [int(i) for i in rng.integers(0, space.counts)])


def mutate(
    space: Space, indices: Sequence[int], rng: np.random.Generator, prob: float
) -> list[int]:
    """Each active free choice moves to another option with probability `prob`."""
    row = list(indices)
    active = space.active_mask(row)
    draws = rng.random(len(row))
    for position in space.free:
        if active[position] and draws[position] < prob:
            count = int(space.counts[position])
            row[position] = (row[position] + int(rng.integers(1, count))) % count
    return repair(space, row, active, rng=rng)


def crossover(
    space: Space, a: Sequence[int], b: Sequence[int], rng: np.random.Generator
) -> list[int]:
    """Uniform crossover: each choice from either parent with probability 1/2."""
    active_a, active_b = space.active_mask(a), space.active_mask(b)
    take_a = rng.random(len(a)) < 0.5
    row = [x if t else y for x, y, t in zip(a, b, take_a)]
    source = [p if t else q for p, q, t in zip(active_a, active_b, take_a)]
    donor = [y if t else x for x, y, t in zip(a, b, take_a)]
    donor_active = [q if t else p for p, q, t in zip(active_a, active_b, take_a)]
    return repair(space, row, source, donor, donor_active, rng)
