"""Exact size of a conditional space, counted over canonical genotypes.

The naive product of option counts over-counts: a choice that is inactive contributes
one value, not all of them. Choices linked by conditions form independent groups
(connected components); the size is the product of the groups' counts, and within a
group we enumerate the canonical assignments of the choices that conditions read
("controllers") and multiply in the free choices that only get read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archspace.space import Space

ENUMERATION_LIMIT = 10_000_000


def count_canonical(space: Space) -> int:
    effective = [
        (space.pins[p],) if p in space.pins else tuple(range(int(k)))
        for p, k in enumerate(space.counts)
    ]
    total = 1
    for group in _groups(space):
        total *= _count_group(space, group, effective)
    return total


def _groups(space: Space) -> list[list[int]]:
    parent = list(range(len(space.choices)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for position, choice in enumerate(space.choices):
        if choice.when is not None:
            for ref in choice.when.references():
                parent[find(space.position(ref))] = find(position)
    groups: dict[int, list[int]] = {}
    for position in range(len(space.choices)):
        groups.setdefault(find(position), []).append(position)
    return list(groups.values())


def _count_group(space: Space, group: list[int], effective: list[tuple[int, ...]]) -> int:
    if len(group) == 1:
        return len(effective[group[0]])
    controllers = sorted(
        {
            space.position(ref)
            for p in group
            if space.choices[p].when is not None
            for ref in space.choices[p].when.references()
        }
    )
    leaves = [p for p in group if p not in set(controllers)]
    work = math.prod(len(effective[p]) for p in controllers)
    if work > ENUMERATION_LIMIT:
        raise ValueError(
            f"space {space.name!r}: counting exactly would enumerate {work} assignments of "
            f"{len(controllers)} linked choices (limit {ENUMERATION_LIMIT})"
        )
    row = list(space.defaults)

    def is_active(position: int) -> bool:
        test = space.tests[position]
        return test is None or test[0](row)

    def walk(k: int) -> int:
        if k == len(controllers):
            return math.prod(len(effective[p]) if is_active(p) else 1 for p in leaves)
        position = controllers[k]
        if not is_active(position):
            row[position] = space.defaults[position]
            return walk(k + 1)
        total = 0
        for index in effective[position]:
            row[position] = index
            total += walk(k + 1)
        return total

    return walk(0)
