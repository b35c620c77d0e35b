"""Budgets from the command line and TOML: "macs=1.4G,params=6M", a bare bound, "none".

Counts take the suffixes K, M, G, T; the latency metric (milliseconds, from a latency
table) takes a time with the unit ms, s or us ("latency=25ms"; a bare number is ms).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from archspace.units import format_count, parse_count

#: metrics measured in time, and their unit: milliseconds
TIME_METRICS = ("latency",)
TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3}
_TIME = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zµ]*)\s*$", re.IGNORECASE
)


def parse_time_ms(text: str | float | int) -> float:
    """25, "25ms", "0.025s", "25000us" -> 25.0 (milliseconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    found = _TIME.match(str(text))
    if found is None or found.group(2).lower() not in ("", *TIME_UNITS):
        raise ValueError(
            f"cannot read {text!r} as a latency; use a number of milliseconds with an "
            "optional unit ms, s or us (e.g. 25ms, 0.5s, 800us)"
        )
    return float(found.group(1)) * TIME_UNITS.get(found.group(2).lower(), 1.0)


def format_cost(metric: str, value: float, long: bool = False) -> str:
    """A cost for people: counts as "1.26G" (`long`: "1,258,000,000 (1.26G)"), latency
    as "12.3 ms"."""
    if metric in TIME_METRICS:
        return f"{value:.3g} ms"
    return f"{int(value):,} ({format_count(value)})" if long else format_count(value)


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
    _refuse_repeats(text, items)
    budgets: dict[str, float] = {}
    for metric, value in items:
        if metric not in metrics:
            hint = (
                "; latency needs a latency table: build one with `archsearch latency build` "
                "and add --set space.latency_table=lut.json"
                if metric in TIME_METRICS
                else ""
            )
            raise ValueError(
                f"--budget names the metric {metric!r}, which this space does not report; "
                f"its metrics: {', '.join(metrics)}{hint}"
            )
        bound = parse_time_ms(value) if metric in TIME_METRICS else parse_count(value)
        if bound <= 0:
            raise ValueError(f"--budget {metric}={value} must be positive")
        budgets[metric] = bound
    return budgets


def _refuse_repeats(text: Any, items: Sequence[tuple[str, Any]]) -> None:
    """One bound per metric: "macs=1G,macs=2G" (or a bare bound plus the first metric
    named again) is refused rather than silently keeping the last."""
    seen: set[str] = set()
    for metric, _ in items:
        if metric in seen:
            raise ValueError(
                f"--budget {text!r} bounds the metric {metric!r} more than once; give one "
                f"bound per metric, e.g. {metric}=1.4G"
            )
        seen.add(metric)


def budget_text(budgets: Mapping[str, float]) -> str:
    """{"macs": 1.4e9, "params": 6e6} -> "macs <= 1.4G, params <= 6M" ("" for none)."""
    return ", ".join(
        f"{metric} <= {format_cost(metric, bound)}" for metric, bound in budgets.items()
    )
