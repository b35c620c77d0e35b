"""Latency tables: measured latency of a space's building blocks, and a plugin wrapper
that predicts a network's latency from them (torch-free; `oneshot.latency` measures).

A table is a JSON file: what it was measured on (device kind and name, torch version,
threads, batch, dtype), the space and options it was built for, and one entry per part
key ({"median_ms", "iqr_ms", "runs"}). A network's predicted latency is the sum of the
median entries of its parts (`SpacePlugin.latency_parts`), then, when the table holds
one, a linear correction `a * sum + b` fitted on whole networks measured end to end.

A table with a `speed_reference` states latency at one machine speed: each entry was
timed in blocks alternating with a fixed reference part of the space, its `ratio`
to the reference is what was measured, and its `median_ms` is that ratio times the
reference's median over the whole build (its `wall_ms` is the plain wall time).

`WithLatency(plugin, table)` adds the cost metric "latency" (milliseconds) to a plugin;
`load_space(name, latency_table=PATH, ...)` returns one, so budgets, runs, reports and
`top` see latency as one more cost (`--budget latency=25ms`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspace.constraints import Budget
from archspace.errors import ArchSpaceError
from archspace.genotype import Genotype
from archspace.plugin import SpacePlugin
from archspace.space import Space

FORMAT = "archsearch-latency-table"
VERSION = 1
METRIC = "latency"
#: the settings of a measurement that must agree for two latencies to be comparable
MEASUREMENT_SETTINGS = ("device_kind", "device_name", "torch", "threads", "batch", "dtype")
SETTING_NAMES = {
    "device_kind": "device kind",
    "device_name": "device",
    "torch": "torch version",
    "threads": "threads",
    "batch": "batch",
    "dtype": "dtype",
    "space": "space",
    "space_options": "space options",
}
PREDICTION = (
    "predicted latency (ms) = sum of the median_ms entries of a network's parts, then "
    "a * sum + b when `correction` is not null"
)
SPEED_NOTE = (
    "entries were timed alternating with this part; median_ms = ratio x this part's "
    "median_ms over the build (latency at the build's typical machine speed)"
)
#: spaces up to this many canonical genotypes (and 20 times as many option combinations)
#: get an exact latency range by enumeration
EXACT_RANGE_LIMIT = 5_000


class LatencyTableError(ArchSpaceError):
    """A latency table that is missing, malformed, incomplete or built for other settings."""


def plain_json(value: Any) -> Any:
    """JSON-normalised (tuples -> lists), so saved and live options compare equal."""
    return json.loads(json.dumps(value, default=str))


def _rebuild_hint(space: str, options: Mapping[str, Any], out: str | Path | None) -> str:
    sets = " ".join(
        f"--set space.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in options.items()
    )
    return (
        f"archsearch latency build --space {space} {sets} --device DEVICE --batch B "
        f"--out {Path(out).stem + '-new.json' if out else 'lut.json'}"
    ).replace("  ", " ")


class LatencyTable:
    """Measured latencies of part keys plus the settings they were measured with."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        entries: Mapping[str, Mapping[str, float]] | None = None,
        correction: Mapping[str, Any] | None = None,
        path: str | Path | None = None,
        extra: Mapping[str, Any] | None = None,
        reference: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = plain_json(dict(settings))
        self.reference = dict(reference) if reference else None
        self.entries: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (entries or {}).items()}
        self.correction = dict(correction) if correction else None
        self.path = Path(path) if path is not None else None
        self.extra = dict(extra or {})  # e.g. created/updated times, kept on save

    # ---- file ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"latency table {path} does not exist; build one with "
                "`archsearch latency build --space SPACE --device DEVICE --batch B "
                f"--out {path}`"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise LatencyTableError(f"latency table {path} is not valid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LatencyTableError(
                f'{path} is not a latency table (no "format": {FORMAT!r}); build one with '
                "`archsearch latency build`"
            )
        if data.get("version") != VERSION:
            raise LatencyTableError(
                f"latency table {path} has format version {data.get('version')!r}; this "
                f"archsearch reads version {VERSION}: rebuild it with `archsearch latency build`"
            )
        measured = data.get("measured_on") or {}
        space = data.get("space") or {}
        entries = data.get("entries")
        if (
            not isinstance(measured, dict)
            or not isinstance(space, dict)
            or not isinstance(entries, dict)
        ):
            raise LatencyTableError(
                f"latency table {path} is damaged: it needs the objects measured_on, space "
                "and entries"
            )
        for key, entry in entries.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("median_ms"), (int, float)):
                raise LatencyTableError(
                    f"latency table {path}: entry {key!r} has no number median_ms"
                )
        correction = data.get("correction")
        if correction is not None and not (
            isinstance(correction, dict)
            and all(isinstance(correction.get(k), (int, float)) for k in ("a", "b"))
        ):
            raise LatencyTableError(
                f"latency table {path}: correction must be null or hold numbers a and b"
            )
        reference = data.get("speed_reference")
        if reference is not None and not (
            isinstance(reference, dict) and isinstance(reference.get("part"), str)
        ):
            raise LatencyTableError(
                f"latency table {path}: speed_reference must be null or name a part"
            )
        settings = {
            **measured,
            "space": space.get("name"),
            "space_options": space.get("options") or {},
        }
        extra = {k: data[k] for k in ("created", "updated") if k in data}
        return cls(settings, entries, correction, path, extra, reference)

    def to_dict(self) -> dict[str, Any]:
        measured = {k: v for k, v in self.settings.items() if k not in ("space", "space_options")}
        return {
            "format": FORMAT,
            "version": VERSION,
            "unit": "ms",
            "prediction": PREDICTION,
            "measured_on": measured,
            "space": {
                "name": self.settings.get("space"),
                "options": self.settings.get("space_options") or {},
            },
            "correction": self.correction,
            **({"speed_reference": self.reference} if self.reference else {}),
            **self.extra,
            "entries": dict(sorted(self.entries.items())),
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write atomically (a temporary file, then a rename): a reader or a killed
        build never sees half a table."""
        path = Path(path) if path is not None else self.path
        if path is None:
            raise ValueError("LatencyTable.save needs a path")
        self.rescale()
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.extra.setdefault("created", now)
        self.extra["updated"] = now
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)
        self.path = path
        return path

    def rescale(self) -> None:
        """With a speed reference: its median_ms is the median of its timings next to
        every entry, and each entry's median_ms its ratio times that."""
        timed = [e for e in self.entries.values() if "ratio" in e and "reference_ms" in e]
        if not self.reference or not timed:
            return
        speed = float(np.median([e["reference_ms"] for e in timed]))
        self.reference.update(median_ms=round(speed, 6), note=SPEED_NOTE)
        for entry in timed:
            entry["median_ms"] = round(entry["ratio"] * speed, 6)

    # ---- settings ------------------------------------------------------------------------

    @property
    def space(self) -> str | None:
        return self.settings.get("space")

    @property
    def space_options(self) -> dict[str, Any]:
        return dict(self.settings.get("space_options") or {})

    def describe(self) -> str:
        """'cpu (AMD EPYC 7B13), torch 2.4.1, 2 threads, batch 1, float32'."""
        s = self.settings
        return (
            f"{s.get('device_kind', '?')} ({s.get('device_name', '?')}), torch "
            f"{s.get('torch', '?')}, {s.get('threads', '?')} threads, batch "
            f"{s.get('batch', '?')}, {s.get('dtype', '?')}"
        )

    def mismatches(self, other: Mapping[str, Any]) -> list[str]:
        """'threads (table: 4, here: 2)' for every setting in `other` that differs."""
        found = []
        for key, value in other.items():
            mine = self.settings.get(key)
            if plain_json(mine) != plain_json(value):
                if key == "space_options" and isinstance(mine, dict) and isinstance(value, dict):
                    differing = sorted(
                        k
                        for k in set(mine) | set(value)
                        if plain_json(mine.get(k)) != plain_json(value.get(k))
                    )
                    detail = ", ".join(
                        f"{k} (table: {json.dumps(mine.get(k))}, here: {json.dumps(value.get(k))})"
                        for k in differing
                    )
                    found.append(f"space options: {detail}")
                else:
                    found.append(
                        f"{SETTING_NAMES.get(key, key)} (table: {mine!r}, here: {value!r})"
                    )
        return found

    def check_compatible(self, other: Mapping[str, Any], force: bool = False) -> list[str]:
        """Refuse (LatencyTableError naming each differing setting) a table measured with
        other settings than `other` (any subset of device_kind, device_name, torch,
        threads, batch, dtype, space, space_options); with `force`, return them instead."""
        found = self.mismatches(other)
        if found and not force:
            raise LatencyTableError(
                f"latency table {self.path or '(unsaved)'} was measured with other settings "
                f"than here: {'; '.join(found)}. Its latencies do not apply here: rebuild it "
                "with these settings (`archsearch latency build`), or pass --force to use it "
                "anyway"
            )
        return found

    # ---- prediction ----------------------------------------------------------------------

    def missing(self, keys: Sequence[str]) -> list[str]:
        return [k for k in dict.fromkeys(keys) if k not in self.entries]

    def raw(self, parts: Sequence[str]) -> float:
        """Sum of the parts' median latencies (ms), without the correction."""
        entries = self.entries
        try:
            return float(sum(entries[k]["median_ms"] for k in parts))
        except KeyError as error:
            key = error.args[0]
            raise LatencyTableError(
                f"latency table {self.path or '(unsaved)'} has no entry {key!r}, which this "
                "architecture needs: the table is incomplete or was built for other space "
                "options. Rebuild it with `archsearch latency build ... --out "
                f"{self.path or 'lut.json'}` (it resumes, measuring only what is missing)"
            ) from None

    def corrected(self, raw: float | np.ndarray) -> Any:
        if self.correction is None:
            return raw
        return self.correction["a"] * raw + self.correction["b"]

    def predict(self, parts: Sequence[str]) -> float:
        """Predicted latency (ms) of a network made of `parts`."""
        return float(self.corrected(self.raw(parts)))


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
            f"`{_rebuild_hint(plugin.name, options, path)}`"
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
