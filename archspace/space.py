"""`Space`: an ordered set of choices with levels, conditions and pinned values.

Genotypes of a space and of every sub-space made from it by `fix` or `restrict` share
one coordinate system (the full choice list), so a genotype found while searching a
sub-space is a genotype of the whole space as well.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from difflib import get_close_matches
from functools import cached_property
from typing import Any

import numpy as np

from archspace import batch, operators, sizing
from archspace.choice import Choice
from archspace.conditions import condition_from_dict
from archspace.constraints import Constraint, describe_cost_range
from archspace.errors import GenotypeError, InfeasibleError, SpaceDefinitionError
from archspace.genotype import KEY_DIGITS, Genotype
from archspace.nesting import flatten, lookup
from archspace.values import from_jsonable, to_jsonable

RandomState = np.random.Generator | int | None


def as_rng(rng: RandomState) -> np.random.Generator:
    """Accept a Generator, a seed or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


class Space:
    """A search space: choices in order, each with a level and an optional condition."""

    def __init__(
        self,
        choices: Iterable[Choice],
        *,
        name: str = "space",
        pinned: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.choices: tuple[Choice, ...] = tuple(choices)
        if not self.choices:
            raise SpaceDefinitionError(f"space {name!r} has no choices")
        self._position: dict[str, int] = {}
        for position, choice in enumerate(self.choices):
            if not isinstance(choice, Choice):
                raise SpaceDefinitionError(
                    f"space {name!r}: item {position} is a {type(choice).__name__}, not a Choice"
                )
            if choice.name in self._position:
                raise SpaceDefinitionError(f"space {name!r}: duplicate choice name {choice.name!r}")
            self._position[choice.name] = position
        self._check_conditions()
        self.counts = np.array([len(c) for c in self.choices], dtype=np.int64)
        self.defaults = tuple(c.default_index for c in self.choices)
        self.tests = [None if c.when is None else c.when.bind(self) for c in self.choices]
        self.pins: dict[int, int] = {}
        for choice_name, value in (pinned or {}).items():
            position = self.position(choice_name)
            self.pins[position] = self.choices[position].index_of(value)
        self.free = tuple(
            i for i in range(len(self.choices)) if i not in self.pins and self.counts[i] > 1
        )
        self.compact_keys = bool(self.counts.max() <= 62)

    def _check_conditions(self) -> None:
        for position, choice in enumerate(self.choices):
            if choice.when is None:
                continue
            for ref in sorted(choice.when.references()):
                if ref not in self._position:
                    raise SpaceDefinitionError(
                        f"choice {choice.name!r}: its condition refers to unknown choice {ref!r}"
                        + _suggest(ref, self._position)
                    )
                if self._position[ref] >= position:
                    raise SpaceDefinitionError(
                        f"choice {choice.name!r}: its condition refers to {ref!r}, which comes "
                        "after it; conditions may only refer to earlier choices"
                    )
            try:
                choice.when.bind(self)
            except GenotypeError as error:
                raise SpaceDefinitionError(f"choice {choice.name!r}: condition {error}") from None

    # ---- description -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.choices)

    def __iter__(self) -> Iterator[Choice]:
        return iter(self.choices)

    def __contains__(self, name: object) -> bool:
        return name in self._position

    def __repr__(self) -> str:
        return (
            f"Space({self.name!r}, choices={len(self)}, levels={list(self.levels)}, "
            f"pinned={len(self.pins)})"
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.choices)

    @cached_property
    def levels(self) -> tuple[str, ...]:
        """Level names in order of first appearance."""
        return tuple(dict.fromkeys(c.level for c in self.choices))

    def position(self, name: str) -> int:
        try:
            return self._position[name]
        except KeyError:
            raise GenotypeError(
                f"unknown choice {name!r} in space {self.name!r}" + _suggest(name, self._position)
            ) from None

    def choice(self, name: str) -> Choice:
        return self.choices[self.position(name)]

    @property
    def pinned(self) -> dict[str, Any]:
        """{name: value} of the choices fixed in this (sub-)space."""
        return {self.choices[p].name: self.choices[p].options[i] for p, i in self.pins.items()}

    def to_spec(self) -> dict[str, Any]:
        """Serialisable definition (choices, levels, conditions, pins); see `from_spec`."""
        return {
            "name": self.name,
            "choices": [
                {
                    "name": c.name,
                    "options": [to_jsonable(o) for o in c.options],
                    "level": c.level,
                    "default": to_jsonable(c.default),
                    "when": None if c.when is None else c.when.to_dict(),
                }
                for c in self.choices
            ],
            "pinned": {k: to_jsonable(v) for k, v in self.pinned.items()},
        }

    @classmethod
    def from_spec(cls, data: Mapping[str, Any]) -> Space:
        choices = [
            Choice(
                c["name"],
                [from_jsonable(o) for o in c["options"]],
                level=c.get("level", "default"),
                default=from_jsonable(c.get("default")),
                when=None if c.get("when") is None else condition_from_dict(c["when"]),
            )
            for c in data["choices"]
        ]
        pinned = {k: from_jsonable(v) for k, v in data.get("pinned", {}).items()}
        return cls(choices, name=data.get("name", "space"), pinned=pinned)

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the choice definitions (not the pins): sub-spaces share it with the root."""
        spec = self.to_spec()
        body = json.dumps({"choices": spec["choices"]}, sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()[:16]

    # ---- sub-spaces --------------------------------------------------------------------

    def fix(self, values: Mapping[str, Any] | Genotype) -> Space:
        """A sub-space with the given choices pinned (on top of this space's pins)."""
        if isinstance(values, Genotype):
            values = {c.name: c.options[i] for c, i in zip(values.space.choices, values.indices)}
        pinned = dict(self.pinned)
        for name, value in values.items():
            position = self.position(name)
            self.choices[position].index_of(value)  # validates with a clear message
            if position in self.pins and self.pins[position] != self.choices[position].index_of(
                value
            ):
                raise GenotypeError(
                    f"choice {name!r} is already fixed to {self.pinned[name]!r} in this space"
                )
            pinned[name] = value
        return Space(self.choices, name=self.name, pinned=pinned)

    def restrict(self, level: str, defaults: Mapping[str, Any] | Genotype | None = None) -> Space:
        """Search only `level`: every other choice is pinned to `defaults` (or its default)."""
        if level not in self.levels:
            raise SpaceDefinitionError(
                f"space {self.name!r} has no level {level!r}; levels: {', '.join(self.levels)}"
            )
        if isinstance(defaults, Genotype):
            defaults = {
                c.name: c.options[i] for c, i in zip(defaults.space.choices, defaults.indices)
            }
        defaults = dict(defaults or {})
        for name in defaults:
            self.position(name)
        fixed = {
            c.name: defaults.get(c.name, c.default)
            for p, c in enumerate(self.choices)
            if c.level != level and p not in self.pins
        }
        return self.fix(fixed)

    # ---- genotypes from data -----------------------------------------------------------

    def active_mask(self, indices: Sequence[int]) -> list[bool]:
        return [test is None or test[0](indices) for test in self.tests]

    def canonical(self, indices: Sequence[int]) -> Genotype:
        """The canonical genotype of an index vector (inactive choices -> default)."""
        row = self._check_indices(indices)
        return Genotype(self, tuple(operators.repair(self, row)))

    def _check_indices(self, indices: Sequence[int]) -> list[int]:
        row = [int(i) for i in indices]
        if len(row) != len(self.choices):
            raise GenotypeError(
                f"space {self.name!r} has {len(self.choices)} choices; got an index vector of "
                f"length {len(row)}"
            )
        for position, index in enumerate(row):
            if not 0 <= index < self.counts[position]:
                raise GenotypeError(
                    f"choice {self.choices[position].name!r}: option index {index} is out of "
                    f"range 0..{self.counts[position] - 1}"
                )
        return row

    def from_values(self, values: Mapping[str, Any], strict: bool = True) -> Genotype:
        """Genotype from a flat {name: value} mapping; every active free choice is required.

        A value given for a choice that its condition makes inactive is an error when
        `strict` (the user probably expects it to matter); otherwise it is dropped.
        """
        if not isinstance(values, Mapping):
            raise GenotypeError(
                f"a genotype of space {self.name!r} must be a mapping, got {type(values).__name__}"
            )
        for name in values:
            self.position(name)
        row = list(self.defaults)
        given = [False] * len(row)
        for position, choice in enumerate(self.choices):
            if choice.name in values:
                row[position] = choice.index_of(values[choice.name])
                given[position] = True
        for position, active in enumerate(self.active_mask(row)):
            name = self.choices[position].name
            if not active:
                if strict and given[position]:
                    raise GenotypeError(
                        f"choice {name!r} does not apply here: it is active only when "
                        f"{self.choices[position].when}; remove it"
                    )
                continue
            if position in self.pins:
                if given[position] and row[position] != self.pins[position]:
                    fixed = self.choices[position].options[self.pins[position]]
                    raise GenotypeError(
                        f"choice {name!r} is fixed to {fixed!r} in this space; got {values[name]!r}"
                    )
                row[position] = self.pins[position]
            elif not given[position]:
                raise GenotypeError(
                    f"missing choice {name!r} (active here); allowed: "
                    + ", ".join(repr(o) for o in self.choices[position].options)
                )
        return Genotype(self, tuple(operators.repair(self, row)))

    def from_dict(self, data: Mapping[str, Any], strict: bool = True) -> Genotype:
        """Genotype from the nested dict of `Genotype.to_dict` (lists accepted for tuples)."""
        if not isinstance(data, Mapping):
            raise GenotypeError(
                f"a genotype of space {self.name!r} must be a JSON object, "
                f"got {type(data).__name__}"
            )
        try:
            flat = flatten(data, frozenset(self._position))
        except KeyError as error:
            path = error.args[0]
            parent, _, last = path.rpartition(".")
            if last.isdigit() and isinstance(lookup(data, parent), list):
                known = {
                    int(n.split(".")[parent.count(".") + 1])
                    for n in self._position
                    if n.startswith(parent + ".")
                }
                raise GenotypeError(
                    f"{parent!r} has {len(lookup(data, parent))} entries; space {self.name!r} "
                    f"has {len(known)}"
                ) from None
            raise GenotypeError(
                f"unknown choice {path!r} in space {self.name!r}" + _suggest(path, self._position)
            ) from None
        except TypeError as error:
            raise GenotypeError(
                f"field {error.args[0]!r} must be an object or a list of choices"
            ) from None
        return self.from_values({k: from_jsonable(v) for k, v in flat.items()}, strict)

    def from_json(self, text: str) -> Genotype:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise GenotypeError(f"genotype JSON is malformed: {error}") from None
        return self.from_dict(data)

    def from_key(self, key: str) -> Genotype:
        try:
            if self.compact_keys:
                indices = [KEY_DIGITS.index(ch) for ch in key]
            else:
                indices = [int(part) for part in key.split(".")]
        except ValueError:
            raise GenotypeError(f"{key!r} is not a genotype key of space {self.name!r}") from None
        genotype = self.canonical(indices)
        if genotype.key != key:
            raise GenotypeError(f"key {key!r} is not canonical in space {self.name!r}")
        return genotype

    def validate(self, genotype: Genotype | Mapping[str, Any] | str) -> Genotype:
        """Coerce a genotype, nested dict or JSON text to a genotype of *this* (sub-)space."""
        if isinstance(genotype, str):
            return self.from_json(genotype)
        if isinstance(genotype, Mapping):
            return self.from_dict(genotype)
        if not isinstance(genotype, Genotype):
            raise GenotypeError(f"expected a genotype, dict or JSON, got {type(genotype).__name__}")
        if genotype.space.fingerprint != self.fingerprint:
            raise GenotypeError(f"genotype belongs to another space than {self.name!r}")
        return self.from_values(genotype.values)

    def default(self) -> Genotype:
        """Every choice at its default (pins respected)."""
        return self.canonical(self.defaults)

    # ---- single-genotype operators (rules in archspace.operators) -----------------------

    def sample(self, rng: RandomState = None) -> Genotype:
        """Uniform per-choice sample (as SPOS samples paths), then canonical."""
        return Genotype(self, tuple(operators.sample(self, as_rng(rng))))

    def sample_feasible(
        self, constraint: Constraint, rng: RandomState = None, max_tries: int = 10_000
    ) -> Genotype:
        """Rejection sampling under `constraint`; InfeasibleError states the cost range seen."""
        rng = as_rng(rng)
        seen: list[float] = []
        for _ in range(max_tries):
            genotype = self.sample(rng)
            if constraint(genotype):
                return genotype
            if hasattr(constraint, "cost"):
                seen.append(constraint.cost(genotype))
        raise InfeasibleError(
            f"no genotype of space {self.name!r} satisfied {constraint} in {max_tries} tries"
            + describe_cost_range(constraint, seen)
        )

    def mutate(self, genotype: Genotype, rng: RandomState = None, prob: float = 0.1) -> Genotype:
        """Each active free choice moves to another option with probability `prob`."""
        row = operators.mutate(self, genotype.indices, as_rng(rng), prob)
        return Genotype(self, tuple(row))

    def crossover(self, first: Genotype, second: Genotype, rng: RandomState = None) -> Genotype:
        """Uniform crossover: each choice from either parent with probability 1/2."""
        row = operators.crossover(self, first.indices, second.indices, as_rng(rng))
        return Genotype(self, tuple(row))

    # ---- batched operators (numpy int arrays, one row per genotype) --------------------

    def sample_batch(self, n: int, rng: RandomState = None) -> np.ndarray:
        return batch.sample(self, n, as_rng(rng))

    def mutate_batch(self, rows: np.ndarray, rng: RandomState = None, prob: float = 0.1):
        return batch.mutate(self, rows, as_rng(rng), prob)

    def crossover_batch(self, first: np.ndarray, second: np.ndarray, rng: RandomState = None):
        return batch.crossover(self, first, second, as_rng(rng))

    def canonicalize_batch(self, rows: np.ndarray) -> np.ndarray:
        return batch.repair(self, np.array(rows, dtype=np.int64, copy=True))

    def enumerate(self, names: Sequence[str], limit: int = 1_000_000) -> np.ndarray:
        """Canonical rows of every assignment of the named choices (the others at their
        defaults or pins), without duplicates: e.g. all configurations of one block."""
        positions = [self.position(n) for n in names]
        options = [
            [self.pins[p]] if p in self.pins else range(int(self.counts[p])) for p in positions
        ]
        total = math.prod(len(o) for o in options)
        if total > limit:
            raise ValueError(
                f"enumerating {len(names)} choices of space {self.name!r} would give {total} "
                f"rows (limit {limit})"
            )
        combos = np.array(list(itertools.product(*options)), dtype=np.int64)
        rows = np.tile(np.array(self.defaults, dtype=np.int64), (len(combos), 1))
        rows[:, positions] = combos
        return np.unique(self.canonicalize_batch(rows), axis=0)

    def to_array(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        rows = [g.indices for g in genotypes]
        return np.array(rows, dtype=np.int64).reshape(len(rows), len(self.choices))

    def from_array(self, rows: np.ndarray) -> list[Genotype]:
        """Genotypes of canonical rows (use `canonicalize_batch` first if unsure)."""
        return [Genotype(self, tuple(map(int, row))) for row in np.asarray(rows)]

    # ---- size --------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Exact number of distinct canonical genotypes (conditions and pins respected)."""
        return sizing.count_canonical(self)

    @property
    def log10_size(self) -> float:
        return math.log10(self.size)

    @property
    def nominal_size(self) -> int:
        """The naive product of option counts (how papers often count), ignoring conditions."""
        return math.prod(1 if p in self.pins else int(k) for p, k in enumerate(self.counts))


def _suggest(name: str, known: Iterable[str]) -> str:
    close = get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
