"""`Genotype`: an immutable, canonical vector of option indices of a space."""

from __future__ import annotations

import json
from functools import total_ordering
from typing import TYPE_CHECKING, Any

from archspace.nesting import nest
from archspace.values import to_jsonable

if TYPE_CHECKING:
    from archspace.space import Space

#: one character per option index in compact keys (spaces with <= 62 options per choice)
KEY_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@total_ordering
class Genotype:
    """One architecture of a space: option indices in the space's choice order.

    Always canonical (inactive choices hold their default), so equal networks have equal
    genotypes, equal hashes and equal `key`s. Build one through the space
    (`space.sample`, `space.from_dict`, `space.from_key`...), not directly.
    """

    __slots__ = ("_hash", "indices", "space")

    def __init__(self, space: Space, indices: tuple[int, ...]) -> None:
        self.space = space
        self.indices = indices
        self._hash = hash(indices)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Genotype):
            return NotImplemented
        return self.indices == other.indices and self.space.fingerprint == other.space.fingerprint

    def __lt__(self, other: Genotype) -> bool:
        return self.indices < other.indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, name: str) -> Any:
        """The option value of choice `name` (its default when the choice is inactive)."""
        position = self.space.position(name)
        return self.space.choices[position].options[self.indices[position]]

    def is_active(self, name: str) -> bool:
        return self.space.active_mask(self.indices)[self.space.position(name)]

    @property
    def key(self) -> str:
        """A short stable string for storage and caching; `space.from_key` reads it back."""
        if self.space.compact_keys:
            return "".join(KEY_DIGITS[i] for i in self.indices)
        return ".".join(map(str, self.indices))

    @property
    def values(self) -> dict[str, Any]:
        """Flat {choice name: option value} of the active choices."""
        active = self.space.active_mask(self.indices)
        return {
            c.name: c.options[i] for c, i, on in zip(self.space.choices, self.indices, active) if on
        }

    def to_dict(self) -> dict[str, Any]:
        """Readable nested dict of the active choices (tuples as lists, ready for JSON)."""
        return nest({name: to_jsonable(v) for name, v in self.values.items()})

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        return f"Genotype({self.space.name!r}, key={self.key!r})"
