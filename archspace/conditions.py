"""Declarative activation conditions for conditional choices.

A condition says when a choice matters, e.g. "the kernel size is active only when the
block has local heads". Conditions are plain data (printable, serialisable to dicts),
not opaque lambdas, so spaces can be described, stored and compared. A condition may
only refer to choices declared *before* the choice it guards; that makes
canonicalisation a single ordered pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from archspace.values import from_jsonable, to_jsonable

if TYPE_CHECKING:
    from archspace.space import Space

RowTest = Callable[[tuple[int, ...] | list[int]], bool]
BatchTest = Callable[[np.ndarray], np.ndarray]


class Condition(ABC):
    """A predicate over the values of earlier choices."""

    @abstractmethod
    def references(self) -> frozenset[str]:
        """Names of the choices this condition reads."""

    @abstractmethod
    def bind(self, space: Space) -> tuple[RowTest, BatchTest]:
        """Compile against a space: a test on one index vector and a mask over a batch."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Serialisable form; `condition_from_dict` reads it back."""

    def __and__(self, other: Condition) -> Condition:
        return All((self, other))

    def __or__(self, other: Condition) -> Condition:
        return AnyOf((self, other))

    def __invert__(self) -> Condition:
        return Not(self)


@dataclass(frozen=True)
class In(Condition):
    """True when choice `choice` takes one of `values` (option values, not indices)."""

    choice: str
    values: tuple[Any, ...]

    def __init__(self, choice: str, values: Iterable[Any]) -> None:
        object.__setattr__(self, "choice", choice)
        object.__setattr__(self, "values", tuple(values))

    def references(self) -> frozenset[str]:
        return frozenset((self.choice,))

    def bind(self, space: Space) -> tuple[RowTest, BatchTest]:
        column = space.position(self.choice)
        owner = space.choices[column]
        allowed = frozenset(owner.index_of(v) for v in self.values)
        # a lookup by option index: indices are always in range, and indexing a small mask
        # costs a tenth of np.isin on the short columns of the search's hot loop
        allowed_mask = np.zeros(len(owner), dtype=bool)
        allowed_mask[sorted(allowed)] = True

        def row_test(row: tuple[int, ...] | list[int]) -> bool:
            return row[column] in allowed

        def batch_test(batch: np.ndarray) -> np.ndarray:
            return allowed_mask[batch[:, column]]

        return row_test, batch_test

    def to_dict(self) -> dict[str, Any]:
        return {"in": {"choice": self.choice, "values": [to_jsonable(v) for v in self.values]}}

    def __str__(self) -> str:
        if len(self.values) == 1:
            return f"{self.choice} == {self.values[0]!r}"
        return f"{self.choice} in {{{', '.join(repr(v) for v in self.values)}}}"


@dataclass(frozen=True)
class Not(Condition):
    """True when the inner condition is false."""

    inner: Condition

    def references(self) -> frozenset[str]:
        return self.inner.references()

    def bind(self, space: Space) -> tuple[RowTest, BatchTest]:
        row_test, batch_test = self.inner.bind(space)
        return (lambda row: not row_test(row)), (lambda batch: ~batch_test(batch))

    def to_dict(self) -> dict[str, Any]:
        return {"not": self.inner.to_dict()}

    def __str__(self) -> str:
        return f"not ({self.inner})"


@dataclass(frozen=True)
class _Combined(Condition):
    """Parts combined by one logical operator (the subclass names it)."""

    parts: tuple[Condition, ...]
    _joins: ClassVar[tuple[Callable[[Iterable[bool]], bool], np.ufunc, str, str]]

    def references(self) -> frozenset[str]:
        return frozenset().union(*(p.references() for p in self.parts))

    def bind(self, space: Space) -> tuple[RowTest, BatchTest]:
        bound = [p.bind(space) for p in self.parts]
        join_rows, join_masks = self._joins[0], self._joins[1]

        def row_test(row: tuple[int, ...] | list[int]) -> bool:
            return join_rows(test(row) for test, _ in bound)

        def batch_test(batch: np.ndarray) -> np.ndarray:
            return join_masks.reduce([mask(batch) for _, mask in bound])

        return row_test, batch_test

    def to_dict(self) -> dict[str, Any]:
        return {self._joins[2]: [p.to_dict() for p in self.parts]}

    def __str__(self) -> str:
        return f" {self._joins[3]} ".join(f"({p})" for p in self.parts)


@dataclass(frozen=True)
class All(_Combined):
    """True when every part holds."""

    _joins = (all, np.logical_and, "all", "and")


@dataclass(frozen=True)
class AnyOf(_Combined):
    """True when at least one part holds."""

    _joins = (any, np.logical_or, "any", "or")


def condition_from_dict(data: Mapping[str, Any]) -> Condition:
    """Rebuild a condition from `Condition.to_dict` output."""
    if not isinstance(data, Mapping) or len(data) != 1:
        raise ValueError(
            f"a condition must be a one-key mapping with key in, not, all or any; got {data!r}"
        )
    ((kind, body),) = data.items()
    if kind == "in":
        return In(body["choice"], [from_jsonable(v) for v in body["values"]])
    if kind == "not":
        return Not(condition_from_dict(body))
    if kind == "all":
        return All(tuple(condition_from_dict(p) for p in body))
    if kind == "any":
        return AnyOf(tuple(condition_from_dict(p) for p in body))
    raise ValueError(f"unknown condition kind {kind!r}; allowed: in, not, all, any")
