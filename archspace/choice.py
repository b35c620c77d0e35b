"""`Choice`: one named categorical decision of a search space."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from archspace.conditions import Condition
from archspace.errors import GenotypeError, SpaceDefinitionError
from archspace.values import is_option_value, same_kind


@dataclass(frozen=True)
class Choice:
    """A named decision over a tuple of hashable options.

    `level` tags the choice for hierarchical search (GLiT: "distribution" or "detail").
    `when` makes the choice conditional: it matters only while the condition holds;
    otherwise it is pinned to `default` so that equal networks get equal genotypes.
    """

    name: str
    options: tuple[Any, ...]
    level: str = "default"
    when: Condition | None = None
    default: Any = None
    _index: dict[Any, int] = field(init=False, repr=False, compare=False, hash=False)

    def __init__(
        self,
        name: str,
        options: Iterable[Any],
        *,
        level: str = "default",
        when: Condition | None = None,
        default: Any = None,
    ) -> None:
        options = tuple(options)
        if not isinstance(name, str) or not name or name.strip() != name:
            raise SpaceDefinitionError(f"a choice name must be a non-empty string, got {name!r}")
        if not options:
            raise SpaceDefinitionError(f"choice {name!r} has no options; give at least one")
        for option in options:
            if not is_option_value(option):
                raise SpaceDefinitionError(
                    f"choice {name!r}: option {option!r} is not allowed; options must be "
                    "str, int, float, bool, None or tuples of those (so genotypes fit JSON)"
                )
        if len(set(options)) != len(options):
            raise SpaceDefinitionError(f"choice {name!r} has duplicate options: {options!r}")
        if not isinstance(level, str) or not level:
            raise SpaceDefinitionError(f"choice {name!r}: level must be a non-empty string")
        if when is not None and not isinstance(when, Condition):
            raise SpaceDefinitionError(
                f"choice {name!r}: `when` must be a Condition (In, Not, All, AnyOf), "
                f"got {type(when).__name__}"
            )
        if default is None:
            default = options[0]
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "when", when)
        object.__setattr__(self, "_index", {o: i for i, o in enumerate(options)})
        if default not in self._index:
            raise SpaceDefinitionError(
                f"choice {name!r}: default {default!r} is not one of its options {options!r}"
            )
        object.__setattr__(self, "default", default)

    def __len__(self) -> int:
        return len(self.options)

    @property
    def default_index(self) -> int:
        return self._index[self.default]

    def index_of(self, value: Any) -> int:
        """Option index of `value`; a GenotypeError names the choice and the allowed options."""
        try:
            index = self._index.get(value)
        except TypeError:  # unhashable, e.g. a list that should have been a tuple
            index = None
        if index is None or not same_kind(value, self.options[index]):
            allowed = ", ".join(repr(o) for o in self.options)
            raise GenotypeError(f"choice {self.name!r} got {value!r}; allowed: {allowed}")
        return index

    def describe(self) -> str:
        text = f"{self.name} [{self.level}] in {{{', '.join(repr(o) for o in self.options)}}}"
        return f"{text} when {self.when}" if self.when is not None else text
