"""`LatencyCost`: the cost metric "latency" (ms) predicted from a latency table, as a
cost provider a plugin is given (torch-free). `load_space(name, latency_table=PATH)`
gives it, so budgets, runs, reports and `top` see latency as one more cost
(`--budget latency=25ms`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archspace.cost_providers import CostProvider
from archspace.genotype import Genotype
from archspace.latency import (
    EXACT_RANGE_LIMIT,
    LATENCY,
    METRIC,
    LatencyTable,
    LatencyTableError,
    plain_json,
    rebuild_hint,
)
from archspace.space import Space

if TYPE_CHECKING:
    from archspace.plugin import SpacePlugin


class LatencyCost(CostProvider):
    """Predicted latency: the sum of the table's median entries over the genotype's
    parts (`SpacePlugin.latency_parts`), then the table's correction."""

    metric = LATENCY

    def __init__(self, table: LatencyTable) -> None:
        self.table = table
        self._by_key: dict[str, float] = {}
        self._by_row: dict[bytes, float] = {}

    def __repr__(self) -> str:
        return f"LatencyCost({self.table.path})"

    def check(self, plugin: SpacePlugin) -> None:
        """The table was built for this space and these options and holds every part
        the space can need."""
        path, table = self.table.path, self.table
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
                f"space {plugin.name!r} names no latency parts (SpacePlugin.latency_parts): "
                "it cannot use a latency table"
            )
        needed = plugin.latency_part_keys()
        missing = table.missing(needed)
        if missing:
            shown = ", ".join(repr(k) for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise LatencyTableError(
                f"latency table {path} is incomplete: it lacks {len(missing)} of the "
                f"{len(needed)} entries this space needs ({shown}). Finish it with "
                f"`archsearch latency build` and the same settings and --out {path} (it "
                "resumes, measuring only what is missing)"
            )

    def _parts(self, plugin: SpacePlugin, genotype: Genotype) -> list[str]:
        parts = plugin.latency_parts(genotype)
        if parts is None:
            raise LatencyTableError(f"space {plugin.name!r} names no latency parts")
        return parts

    def raw(self, plugin: SpacePlugin, genotype: Genotype) -> float:
        """Sum of the table's entries over the genotype's parts, before the correction."""
        return self.table.raw(self._parts(plugin, genotype))

    def value(self, plugin: SpacePlugin, genotype: Genotype) -> float:
        key = genotype.key
        found = self._by_key.get(key)
        if found is None:
            found = float(self.table.corrected(self.raw(plugin, genotype)))
            self._by_key[key] = found
        return found

    def values(self, plugin: SpacePlugin, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty(len(rows), dtype=float)
        todo = []
        for i, row in enumerate(rows):
            found = self._by_row.get(row.tobytes())
            if found is None:
                todo.append(i)
            else:
                out[i] = found
        if todo:
            for i, genotype in zip(todo, plugin.space.from_array(rows[todo])):
                out[i] = self._by_row[rows[i].tobytes()] = self.value(plugin, genotype)
        return out

    def value_range(self, plugin: SpacePlugin, space: Space) -> tuple[float, float] | None:
        """Exact when `space` is small enough to enumerate (EXACT_RANGE_LIMIT
        genotypes), else None."""
        if space.nominal_size > 20 * EXACT_RANGE_LIMIT or space.size > EXACT_RANGE_LIMIT:
            return None
        found = self.values(plugin, space.enumerate(space.names, limit=20 * EXACT_RANGE_LIMIT))
        return float(found.min()), float(found.max())

    def breakdown(self, plugin: SpacePlugin, genotype: Genotype) -> list[tuple[str, float]]:
        """(part key, median ms) in the network's order, before any correction."""
        parts = self._parts(plugin, genotype)
        self.table.raw(parts)  # a clear error for a missing key
        return [(k, float(self.table.entries[k]["median_ms"])) for k in parts]

    def describe(self) -> str:
        lut = self.table
        correction = (
            f", then {lut.correction['a']:.4g} * sum + {lut.correction['b']:.4g}"
            if lut.correction
            else ""
        )
        return f"{lut.path}: measured on {lut.describe()}; predicted = sum of the parts{correction}"

    def options(self) -> dict[str, Any]:
        path = self.table.path
        return {"latency_table": str(Path(path).resolve()) if path is not None else None}


def from_option(plugin: SpacePlugin, path: str | Path) -> LatencyCost:
    """The provider of the space option `latency_table=PATH` (`cost_providers`)."""
    return LatencyCost(LatencyTable.load(path))


def with_latency_table(plugin: SpacePlugin, path: str | Path) -> SpacePlugin:
    """`plugin` given the latency of the table at `path` (in place of any latency it
    had), after checking that the table fits it."""
    return plugin.add_cost_provider(from_option(plugin, path), replace=True)


__all__ = ["METRIC", "LatencyCost", "from_option", "with_latency_table"]
