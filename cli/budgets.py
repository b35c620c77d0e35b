"""Budgets from the command line and TOML: "macs=1.4G,params=6M", a bare bound, "none"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archspace.units import format_count, parse_count


def parse_budgets(text: Any, metrics: Sequence[str]) -> dict[str, float] | None:
    """`--budget` text (or a TOML table) -> {metric: bound}; None for "none".

    A bare number bounds the space's first metric. Each metric must be one the space
    reports; the error names the allowed ones.
    """
    if isinstance(text, Mapping):
        items = [(str(k), v) for k, v in text.items()]
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        items = [(metrics[0], text)]
    else:
        raw = str(text).strip()
        if raw.lower() == "none":
            return None
        items = []
        for part in filter(None, (p.strip() for p in raw.split(","))):
            metric, sep, value = part.partition("=")
            items.append((metric.strip(), value.strip()) if sep else (metrics[0], metric))
    if not items:
        raise ValueError(f"--budget {text!r} names no bound; write e.g. {metrics[0]}=1.4G")
    budgets: dict[str, float] = {}
    for metric, value in items:
        if metric not in metrics:
            raise ValueError(
                f"--budget names the metric {metric!r}, which this space does not report; "
                f"its metrics: {', '.join(metrics)}"
            )
        bound = parse_count(value)
        if bound <= 0:
            raise ValueError(f"--budget {metric}={value} must be positive")
        budgets[metric] = bound
    return budgets


def budget_text(budgets: Mapping[str, float]) -> str:
    """{"macs": 1.4e9, "params": 6e6} -> "macs <= 1.4G, params <= 6M" ("" for none)."""
    return ", ".join(f"{metric} <= {format_count(bound)}" for metric, bound in budgets.items())
