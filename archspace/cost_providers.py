"""Cost providers: a cost metric that comes from outside the space.

A plugin reports its own costs (`SpacePlugin.cost` over its `metrics`: MACs, params,
a table's columns). A provider adds one more metric computed elsewhere: latency from a
latency table today, energy or memory from a device model tomorrow. The plugin is
*given* providers (`SpacePlugin.add_cost_provider`) instead of being wrapped, so every
hook of the plugin stays its own and a new hook needs no forwarding; the composed
views (`cost_metrics`, `costs`, `costs_batch`, `metric_range`, the budgets) read both.

A provider is reached from a run's space options: the registry `cost_providers` maps
an option name (e.g. `latency_table`) to a factory `(plugin, value) -> CostProvider`,
and `load_space(name, latency_table="lut.json")` gives the plugin what the factory
makes. A third party registers its own under the `archsearch.cost_providers` entry
point group, so `--set space.energy_model=...` needs no change to archsearch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from archspace.genotype import Genotype
from archspace.metrics import Metric, declare
from archspace.registry import Registry
from archspace.space import Space

if TYPE_CHECKING:
    from archspace.plugin import SpacePlugin


class CostProvider(ABC):
    """One cost metric of a plugin's genotypes, computed outside the plugin.

    Required: `metric` (its declaration: name, unit, parsing) and `value`. The rest has
    a default that loops or says "cannot". A provider serves the one plugin it is given
    to (it may cache by genotype key)."""

    metric: ClassVar[Metric]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """The metric is declared once, where the provider is written: budgets, `top`,
        reports and plots read its unit from the declaration."""
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("metric"), Metric):
            declare(cls.metric)

    def check(self, plugin: SpacePlugin) -> None:
        """Refuse, with a ValueError saying why, a plugin this provider cannot serve
        (called when the plugin is given the provider). Default: any plugin."""
        return None

    @abstractmethod
    def value(self, plugin: SpacePlugin, genotype: Genotype) -> float:
        """The metric of one genotype."""

    def values(self, plugin: SpacePlugin, rows: np.ndarray) -> np.ndarray:
        """The metric of a population array; override with a vectorised version."""
        genotypes = plugin.space.from_array(np.asarray(rows, dtype=np.int64))
        return np.array([self.value(plugin, g) for g in genotypes], dtype=float)

    def value_range(self, plugin: SpacePlugin, space: Space) -> tuple[float, float] | None:
        """Exact (lowest, highest) over `space` when the provider can tell; else None."""
        return None

    def breakdown(self, plugin: SpacePlugin, genotype: Genotype) -> list[tuple[str, float]]:
        """(part, value) in the network's order, for `archsearch cost -v`; [] when the
        metric has no parts."""
        return []

    def describe(self) -> str:
        """One line on where the values come from, printed under a breakdown."""
        return ""

    def options(self) -> dict[str, Any]:
        """The space options that give this provider again (`load_space(name,
        **options)`), recorded in a run's config so that a resume gets it back."""
        return {}


#: space option name -> factory (plugin, option value) -> CostProvider
cost_providers: Registry[Callable[[Any, Any], CostProvider]] = Registry(
    "archsearch.cost_providers", "cost provider"
)
cost_providers.register_lazy("latency_table", "archspace.latency_cost:from_option")


def split_provider_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the space's own options, the cost providers' options) of a run's space options;
    a provider option that is empty or None gives no provider."""
    names = set(cost_providers.names())
    own = {k: v for k, v in options.items() if k not in names}
    given = {k: v for k, v in options.items() if k in names and v not in (None, "")}
    return own, given


__all__ = ["CostProvider", "cost_providers", "split_provider_options"]
