"""Dotted choice names <-> readable nested dicts.

"blocks.3.kernel" becomes {"blocks": [..., {"kernel": 31}, ...]}: path segments nest,
and a level whose keys are 0..n-1 becomes a list, so a 12-block genotype reads as a
list of 12 blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn {"a.0.b": v} into {"a": [{"b": v}]}."""
    root: dict[str, Any] = {}
    for name, value in flat.items():
        node = root
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    keys = list(converted)
    if keys and all(k.isdigit() for k in keys) and sorted(map(int, keys)) == list(range(len(keys))):
        return [converted[str(i)] for i in range(len(keys))]
    return converted


def flatten(nested: Mapping[str, Any], leaves: frozenset[str]) -> dict[str, Any]:
    """Inverse of `nest`, guided by the known leaf names (a leaf's value may itself be a list).

    Raises KeyError naming the first path that is neither a leaf nor a prefix of one.
    """
    prefixes = {".".join(n.split(".")[:i]) for n in leaves for i in range(1, n.count(".") + 1)}
    flat: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if path in leaves:
            flat[path] = node
            return
        if path and path not in prefixes:
            raise KeyError(path)
        if isinstance(node, Mapping):
            items = [(str(k), v) for k, v in node.items()]
        elif isinstance(node, list) and path:
            items = [(str(i), v) for i, v in enumerate(node)]
        else:
            raise TypeError(path)
        for key, value in items:
            walk(value, f"{path}.{key}" if path else key)

    walk(nested, "")
    return flat


def lookup(data: Any, dotted: str) -> Any:
    """The node at a dotted path of a nested dict/list, or None."""
    for part in dotted.split(".") if dotted else []:
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
