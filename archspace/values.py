"""Option values: what a choice may hold, and their JSON form (tuples become lists)."""

from __future__ import annotations

from typing import Any

SCALARS = (str, int, float, bool, type(None))


def is_option_value(value: Any) -> bool:
    """Options are JSON scalars or (nested) tuples of them, so genotypes round-trip JSON."""
    if isinstance(value, tuple):
        return all(is_option_value(v) for v in value)
    return isinstance(value, SCALARS)


def to_jsonable(value: Any) -> Any:
    return [to_jsonable(v) for v in value] if isinstance(value, tuple) else value


def from_jsonable(value: Any) -> Any:
    return tuple(from_jsonable(v) for v in value) if isinstance(value, list) else value


def same_kind(value: Any, option: Any) -> bool:
    """Type check that keeps True from matching 1 and "31" from matching 31."""
    if isinstance(option, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(option, bool)
    if isinstance(option, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(option, tuple):
        return (
            isinstance(value, tuple)
            and len(value) == len(option)
            and all(same_kind(v, o) for v, o in zip(value, option))
        )
    return type(value) is type(option)
