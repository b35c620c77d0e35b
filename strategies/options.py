"""Options a searcher or a pipeline declares: what `--set searcher.NAME=VALUE` and
`--set strategy.NAME=VALUE` accept, checked before any work.

Like an Optuna sampler's constructor arguments, a searcher's options are its own: the
class lists them as `Option`s (name, type, default, range or choices, and a default
per profile where the quick profile differs), the run's values are resolved against
that list, and the class is built from the resolved values. A third-party searcher
declares its options the same way and gets the same checks, errors and listing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: option names the command line keeps for itself (`[searcher] name = "bananas"`)
RESERVED = frozenset({"name"})
_KINDS = {int: "an int", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Option:
    """One option: `kind` is int, float, str or bool; `low`/`high` bound a number
    (inclusive); `choices` lists a string's allowed values; `profiles` gives the default
    under a profile where it differs from `default` (e.g. {"quick": 8})."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    profiles: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise TypeError(f"option {self.name!r}: kind must be int, float, str or bool")
        if self.name in RESERVED or not self.name.isidentifier():
            raise ValueError(f"{self.name!r} cannot be an option name")

    def default_for(self, profile: str) -> Any:
        return self.profiles.get(profile, self.default)

    def check(self, value: Any, owner: str) -> Any:
        """`value` as this option's kind (an int is a valid float), or a ValueError
        naming `owner.name` and what is allowed."""
        where = f"{owner} option {self.name!r}"
        number = self.kind in (int, float)
        if isinstance(value, bool) != (self.kind is bool) or not isinstance(
            value, (int, float) if self.kind is float else self.kind
        ):
            raise ValueError(f"{where} must be {self.allowed()}, got {value!r}")
        if number and not (
            (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        ):
            raise ValueError(f"{where} must be {self.allowed()}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{where} must be {self.allowed()}, got {value!r}")
        return float(value) if self.kind is float else value

    def allowed(self) -> str:
        """What values are allowed, in words: 'an int >= 1', 'one of mlp, ridge'."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        text = _KINDS[self.kind]
        if self.low is not None and self.high is not None:
            return f"{text} in [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{text} >= {self.low:g}"
        if self.high is not None:
            return f"{text} <= {self.high:g}"
        return text

    def describe(self) -> str:
        """One line for listings: name, allowed values, default(s) and help."""
        defaults = f"default {self.default!r}" + "".join(
            f", {profile}: {value!r}" for profile, value in self.profiles.items()
        )
        return f"{self.name} ({self.allowed()}; {defaults}): {self.help}"


def resolve_options(
    owner: str, declared: Sequence[Option], given: Mapping[str, Any], profile: str
) -> dict[str, Any]:
    """Every declared option's value for a run: given, else its profile's default.
    An unknown name or a bad value is a ValueError listing what `owner` accepts."""
    by_name = {option.name: option for option in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} of the {owner}; "
            + (describe_options(declared) if declared else "it has no options")
        )
    return {
        name: option.check(given[name], owner) if name in given else option.default_for(profile)
        for name, option in by_name.items()
    }


def describe_options(declared: Sequence[Option]) -> str:
    """'its options: a (...), b (...)' for an error message."""
    return "its options: " + "; ".join(option.describe() for option in declared)
