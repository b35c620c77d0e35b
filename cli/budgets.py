"""Budgets from the command line and TOML: "macs=1.4G,params=6M", a bare bound, "none".

Each value is read by its metric's declaration (`archspace.metrics`): counts take the
suffixes K, M, G, T; a metric with a unit takes it or one of its scales ("latency=25ms",
"latency=0.5s", "energy=5mJ"; a bare number is in the metric's unit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archspace.metrics import metric as metric_of


def format_cost(metric: str, value: float, long: bool = False) -> str:
    """A cost for people, as its metric's declaration prints it ("1.26G", "12.3 ms")."""
    return metric_of(metric).format(value, long=long)


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
            hint = metric_of(metric).how_to_get
            raise ValueError(
                f"--budget names the metric {metric!r}, which this space does not report; "
                f"its metrics: {', '.join(metrics)}" + (f"; {hint}" if hint else "")
            )
        bound = metric_of(metric).parse(value)
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
