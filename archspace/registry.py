"""Registries of space plugins and strategies, filled from entry points.

A third-party package adds a space or strategy by declaring an entry point in the group
`archsearch.spaces` or `archsearch.strategies`; `register` adds one from code (tests,
notebooks). Unknown names get an error listing what is known and the closest match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from difflib import get_close_matches
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from archspace.errors import UnknownNameError

T = TypeVar("T")
V = TypeVar("V")


def plural(noun: str) -> str:
    """The English plural of a registry's kind ("strategy" -> "strategies", "space" ->
    "spaces"), so error messages read right for any kind a registry is given."""
    if noun.endswith("y") and noun[-2:-1] not in ("", *"aeiou"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def unknown_name(kind: str, name: str, known: Sequence[str]) -> UnknownNameError:
    """The error for an unknown `name` of `kind`: the closest known name and all of them."""
    close = get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(
        f"unknown {kind} {name!r}.{hint} Known {plural(kind)}: {', '.join(known) or 'none'}"
    )


def lookup(table: Mapping[str, V], name: str, kind: str) -> V:
    """`table[name]`, or an UnknownNameError naming the closest entry and all of them."""
    if name in table:
        return table[name]
    raise unknown_name(kind, name, list(table))


class Registry(Generic[T]):
    """Name -> object, with lazy loading of entry points of one group."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._registered: dict[str, T] = {}
        self._lazy: dict[str, EntryPoint] = {}

    def register(self, name: str, obj: T | None = None) -> Any:
        """`registry.register("x", obj)` or `@registry.register("x")` on a class/function."""

        def add(target: T) -> T:
            if not name or not isinstance(name, str):
                raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
            self._registered[name] = target
            return target

        return add(obj) if obj is not None else add

    def register_lazy(self, name: str, target: str) -> None:
        """Register `name` as "module:attribute", imported on first `get` as an entry
        point is: listing the names, or refusing an unknown one, imports nothing (a
        searcher's module may import optuna or torch, which take seconds)."""
        if not name or not isinstance(name, str) or ":" not in target:
            raise ValueError(
                f"register_lazy needs a non-empty {self.kind} name and a 'module:attribute' "
                f"target, got {name!r} and {target!r}"
            )
        self._lazy[name] = EntryPoint(name=name, value=target, group=self.group)

    def unregister(self, name: str) -> None:
        self._registered.pop(name, None)
        self._lazy.pop(name, None)

    def _entry_points(self) -> dict[str, Any]:
        return {**{ep.name: ep for ep in entry_points(group=self.group)}, **self._lazy}

    def names(self) -> list[str]:
        return sorted(set(self._registered) | set(self._entry_points()))

    def check(self, name: str) -> None:
        """Refuse an unknown `name` (the error lists the known ones) without loading a
        known one: a command checks every name before it imports anything heavy."""
        if name not in self:
            raise unknown_name(self.kind, name, self.names())

    def get(self, name: str) -> T:
        if name in self._registered:
            return self._registered[name]
        point = self._entry_points().get(name)
        if point is None:
            raise unknown_name(self.kind, name, self.names())
        try:
            loaded = point.load()
        except Exception as error:  # a broken third-party package: say which
            raise ImportError(
                f"{self.kind} {name!r} (entry point {point.value!r} in group {self.group!r}) "
                f"failed to load: {error}"
            ) from error
        if name in self._lazy:
            self._registered[name] = loaded
        return loaded

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()


spaces: Registry[Callable[..., Any]] = Registry("archsearch.spaces", "space")
strategies: Registry[Callable[..., Any]] = Registry("archsearch.strategies", "strategy")


def load_space(name: str, **options: Any) -> Any:
    """Instantiate the space plugin registered as `name` with its options.

    Options named in `archspace.cost_providers.cost_providers` (e.g. `latency_table=PATH`,
    any space) are not the space's: each gives the plugin a cost provider (latency from
    that table, checked to fit this space and these options)."""
    from archspace.cost_providers import cost_providers, split_provider_options

    own, given = split_provider_options(options)
    plugin = spaces.get(name)(**own)
    for option, value in given.items():
        plugin.add_cost_provider(cost_providers.get(option)(plugin, value))
    return plugin
