"""Cost metrics declared once: name, unit, how a budget value is read and how a value
is printed.

Budgets, summaries, `top`, `compare`, reports and plots look a metric up here by name
(`metric`) and never special-case one. The well-known counts (macs, params, flops, cost)
are declared here; a space declares its own in its `metrics` (`SpacePlugin.metrics =
(Metric("energy", unit="mJ"), "macs")`), and a cost provider declares what it adds (a
latency table: `archspace.latency.LATENCY`, in ms). A metric without a declaration is a
count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from archspace.units import format_count, parse_count

_NUMBER_AND_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


@dataclass(frozen=True)
class Metric:
    """A cost metric. `unit` "" is a count (read and printed with the suffixes K, M, G,
    T); otherwise values are in `unit`, and a budget may use `unit` or one of `scales`
    (another unit -> its size in `unit`, e.g. {"s": 1000.0} for ms). `label` names it for
    people, `note` says more where it helps, `how_to_get` tells a user whose space lacks
    it how to add it."""

    name: str
    unit: str = ""
    label: str = ""
    note: str = ""
    scales: Mapping[str, float] = field(default_factory=dict)
    how_to_get: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name

    def parse(self, text: str | float | int) -> float:
        """A budget value: 1.4e9, "1.4G", "350M" for counts; "25", "25ms", "0.5s" for a
        metric with a unit (a bare number is in `unit`)."""
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return float(text)
        if not self.unit:
            return parse_count(text)
        found = _NUMBER_AND_UNIT.match(str(text))
        factors = {self.unit: 1.0, **self.scales}
        if found is None or found.group(2) not in ("", *factors):
            raise ValueError(
                f"cannot read {text!r} as {self.title}; use a number of {self.unit} with an "
                f"optional unit {', '.join(factors)} (e.g. 25{self.unit})"
            )
        return float(found.group(1)) * factors.get(found.group(2), 1.0)

    def format(self, value: float, long: bool = False) -> str:
        """For people: "1.26G" (`long`: "1,258,000,000 (1.26G)") for a count, "12.3 ms"
        for a metric with a unit."""
        if self.unit:
            return f"{value:.3g} {self.unit}"
        return f"{int(value):,} ({format_count(value)})" if long else format_count(value)

    def axis_label(self) -> str:
        """A plot axis: "latency (ms)", "MACs"."""
        return f"{self.title} ({self.unit})" if self.unit else self.title


_DECLARED: dict[str, Metric] = {}


def declare(metric: Metric) -> Metric:
    """Make `metric` known by name; declaring one name twice differently is an error."""
    known = _DECLARED.get(metric.name)
    if known is not None and known != metric:
        raise ValueError(
            f"metric {metric.name!r} is declared twice, differently: {known} and {metric}"
        )
    _DECLARED[metric.name] = metric
    return metric


def metric(name: str) -> Metric:
    """The declaration of metric `name` (a count when none was declared)."""
    return _DECLARED.get(name) or Metric(name)


MACS = declare(Metric("macs", label="MACs", note="multiply-accumulates, the papers' FLOPs"))
PARAMS = declare(Metric("params", label="parameters"))
FLOPS = declare(Metric("flops", label="FLOPs"))
COST = declare(Metric("cost"))
