"""`WithLatency`: a space plugin plus the cost metric "latency" predicted from a
latency table (torch-free); `load_space(name, latency_table=PATH, ...)` returns one, so
budgets, runs, reports and `top` see latency as one more cost (`--budget latency=25ms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from archspace.constraints import Budget
from archspace.genotype import Genotype
from archspace.latency import (
    EXACT_RANGE_LIMIT,
    METRIC,
    LatencyTable,
    LatencyTableError,
    plain_json,
    rebuild_hint,
)
from archspace.plugin import SpacePlugin
from archspace.space import Space

# ---- the plugin wrapper -------------------------------------------------------------------


class WithLatency(SpacePlugin):
    """A plugin plus the cost metric "latency" (ms) predicted from a latency table.

    Everything else passes through to the wrapped plugin (`inner`), including
    attributes this class does not define (e.g. GLiT's `width`, `blocks`, the torch
    side `supernet`, `model_input`, `latency_module`)."""

    def __init__(self, plugin: SpacePlugin, table: LatencyTable) -> None:
        self.inner = plugin
        self.table = table
        self._by_key: dict[str, float] = {}
        self._by_row: dict[bytes, float] = {}
        if METRIC in plugin.metrics:
            raise ValueError(f"space {plugin.name!r} already reports a metric {METRIC!r}")

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "table") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    # ---- identity --------------------------------------------------------------------------

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    @property
    def summary(self) -> str:  # type: ignore[override]
        return self.inner.summary

    @property
    def metrics(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*self.inner.metrics, METRIC)

    @property
    def space(self) -> Space:
        return self.inner.space

    def options(self) -> dict[str, Any]:
        path = self.table.path
        return {
            **self.inner.options(),
            "latency_table": str(path.resolve()) if path is not None else None,
        }

    def __repr__(self) -> str:
        return f"WithLatency({self.inner!r}, {self.table.path})"

    # ---- latency ---------------------------------------------------------------------------

    def latency_raw(self, genotype: Genotype) -> float:
        """Sum of the table's entries over the genotype's parts, before the correction."""
        parts = self.inner.latency_parts(genotype)
        if parts is None:
            raise LatencyTableError(f"space {self.name!r} names no latency parts")
        return self.table.raw(parts)

    def latency(self, genotype: Genotype) -> float:
        """Predicted latency (ms): sum of the parts' medians, then the correction."""
        key = genotype.key
        value = self._by_key.get(key)
        if value is None:
            value = float(self.table.corrected(self.latency_raw(genotype)))
            self._by_key[key] = value
        return value

    def latency_batch(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty(len(rows), dtype=float)
        cache = self._by_row
        todo = []
        for i, row in enumerate(rows):
            value = cache.get(row.tobytes())
            if value is None:
                todo.append(i)
            else:
                out[i] = value
        if todo:
            for i, genotype in zip(todo, self.space.from_array(rows[todo])):
                value = self.latency(genotype)
                cache[rows[i].tobytes()] = value
                out[i] = value
        return out

    def latency_parts_of(self, genotype: Genotype) -> list[tuple[str, float]]:
        """(part key, median ms) in the network's order (before any correction)."""
        parts = self.inner.latency_parts(genotype) or []
        self.table.raw(parts)  # a clear error for a missing key
        return [(k, float(self.table.entries[k]["median_ms"])) for k in parts]

    # ---- cost ------------------------------------------------------------------------------

    def cost(self, genotype: Genotype) -> dict[str, float]:
        return {**self.inner.cost(genotype), METRIC: self.latency(genotype)}

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {**self.inner.cost_batch(rows), METRIC: self.latency_batch(rows)}

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float] | None:
        """The wrapped plugin's range; for latency the exact one when `space` is small
        enough to enumerate (EXACT_RANGE_LIMIT genotypes), else None."""
        if metric != METRIC:
            return self.inner.cost_range(metric, space)
        space = space or self.space
        if space.nominal_size > 20 * EXACT_RANGE_LIMIT or space.size > EXACT_RANGE_LIMIT:
            return None
        rows = space.enumerate(space.names, limit=20 * EXACT_RANGE_LIMIT)
        values = self.latency_batch(rows)
        return float(values.min()), float(values.max())

    def budget(self, maximum: float, metric: str | None = None) -> Budget:
        if metric != METRIC:
            return self.inner.budget(maximum, metric)
        if isinstance(maximum, bool) or not isinstance(maximum, (int, float)) or maximum <= 0:
            raise ValueError(f"a budget on {metric} must be a positive number, got {maximum!r}")
        return Budget(
            cost=self.latency, maximum=maximum, metric=METRIC, cost_batch=self.latency_batch
        )

    def cost_breakdown(self, genotype: Genotype) -> list[tuple[str, dict[str, float]]] | None:
        return self.inner.cost_breakdown(genotype)

    # ---- everything else: the wrapped plugin's ---------------------------------------------

    def profile_options(self, profile: str) -> dict[str, Any]:  # type: ignore[override]
        return self.inner.profile_options(profile)

    def data_options(self, data: str, download: bool = False) -> dict[str, Any]:  # type: ignore[override]
        return self.inner.data_options(data, download)

    def check_run_settings(self, workbench: Mapping[str, Any]) -> None:
        return self.inner.check_run_settings(workbench)

    def default_budgets(self) -> dict[str, float]:
        return self.inner.default_budgets()

    def presets(self) -> Mapping[str, Genotype]:
        return self.inner.presets()

    def preset_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.inner.preset_names()

    def from_preset(self, name: str):  # type: ignore[override]
        return self.inner.from_preset(name)

    def describe_genotype(self, genotype: Genotype) -> str:
        return self.inner.describe_genotype(genotype)

    def latency_parts(self, genotype: Genotype) -> list[str] | None:
        return self.inner.latency_parts(genotype)

    def latency_part_keys(self) -> list[str]:
        return self.inner.latency_part_keys()

    def build_latency_table(self, out: Any, **settings: Any) -> tuple[Any, int]:
        return self.inner.build_latency_table(out, **settings)

    def check_latency_table(self, table: Any, **settings: Any) -> dict[str, Any]:
        return self.inner.check_latency_table(table, **settings)

    def optimum(self, budgets: Mapping[str, float] | None = None) -> float | None:
        return self.inner.optimum(budgets)

    def input_shape(self) -> tuple[int, ...] | None:
        return self.inner.input_shape()

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0) -> Any:
        return self.inner.build(genotype, drop_path_rate)

    def export_model(self, genotype, run_dir=None, stages=()):  # type: ignore[no-untyped-def]
        return self.inner.export_model(genotype, run_dir, stages)

    def block_layout(self, genotype: Genotype) -> list[dict[str, Any]] | None:
        return self.inner.block_layout(genotype)

    def workbench(self, config: Mapping[str, Any]) -> Any:
        return self.inner.workbench(config)


def unwrap(plugin: Any) -> Any:
    """The plugin without its latency table (itself when it has none)."""
    return plugin.inner if isinstance(plugin, WithLatency) else plugin


def with_latency_table(plugin: SpacePlugin, path: str | Path) -> WithLatency:
    """`plugin` wrapped with the table at `path`, after checking that the table was
    built for this space and these options and holds every key the space can need."""
    plugin = unwrap(plugin)
    table = LatencyTable.load(path)
    options = plain_json(plugin.options())
    if table.space != plugin.name or plain_json(table.space_options) != options:
        found = table.mismatches({"space": plugin.name, "space_options": options})
        raise LatencyTableError(
            f"latency table {path} was built for another space or other options than "
            f"these: {'; '.join(found)}. Build one for these options: "
            f"`{rebuild_hint(plugin.name, options, path)}`"
        )
    if plugin.latency_parts(plugin.space.default()) is None:
        raise LatencyTableError(
            f"space {plugin.name!r} names no latency parts (SpacePlugin.latency_parts): it "
            "cannot use a latency table"
        )
    missing = table.missing(plugin.latency_part_keys())
    if missing:
        shown = ", ".join(repr(k) for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise LatencyTableError(
            f"latency table {path} is incomplete: it lacks {len(missing)} of the "
            f"{len(plugin.latency_part_keys())} entries this space needs ({shown}). Finish "
            f"it with `archsearch latency build` and the same settings and --out {path} "
            "(it resumes, measuring only what is missing)"
        )
    return WithLatency(plugin, table)
