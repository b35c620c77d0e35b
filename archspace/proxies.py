"""The registry of zero-cost proxies (torch-free): name -> `(model, images, labels) ->
float`, scored on a freshly initialised network (`oneshot.proxies` holds the built-in
ones). A third party adds one under the `archsearch.proxies` entry point group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archspace.registry import Registry

proxies: Registry[Callable[..., float]] = Registry("archsearch.proxies", "proxy")
for _name in ("grad_norm", "snip", "synflow", "jacob_cov", "nwot", "fisher"):
    proxies.register_lazy(_name, f"oneshot.proxies:{_name}")


def check_proxies(names: Any) -> list[str]:
    """The proxy names of a comma-separated string or a list, each known."""
    found = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    if not found or not all(found):
        raise ValueError(f"name at least one proxy; known: {', '.join(proxies.names())}")
    for name in found:
        proxies.check(name)
    return found


__all__ = ["check_proxies", "proxies"]
