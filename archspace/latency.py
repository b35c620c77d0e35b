"""Latency tables: measured latency of a space's building blocks and the prediction
from them (torch-free; `oneshot.latency` measures, `archspace.latency_cost` gives a
plugin the table's "latency" metric).

A table is a JSON file: what it was measured on (device kind and name, torch version,
threads, batch, dtype), the space and options it was built for, and one entry per part
key ({"median_ms", "iqr_ms", "runs"}). Every space writes its part keys in one form
(`part_key`): the part's kind, then its fields, e.g. "patch_embed" or
"block:global_thirds=3,qkv_ratio=1,ffn_ratio=4". A network's predicted latency is the sum of the
median entries of its parts (`SpacePlugin.latency_parts`), then, when the table holds
one, a linear correction `a * sum + b` fitted on whole networks measured end to end.

A table with a `speed_reference` states latency at one machine speed: each entry was
timed in blocks alternating with a fixed reference part of the space, its `ratio`
to the reference is what was measured, and its `median_ms` is that ratio times the
reference's median over the whole build (its `wall_ms` is the plain wall time).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspace.errors import ArchSpaceError
from archspace.files import write_text
from archspace.metrics import Metric, declare

FORMAT = "archsearch-latency-table"
#: 2: part keys in the one form of `part_key` (version 1 spelled them per space)
VERSION = 2
#: what a latency table adds to a space's costs, in milliseconds
LATENCY = declare(
    Metric(
        "latency",
        unit="ms",
        scales={"s": 1000.0, "us": 1e-3, "µs": 1e-3},
        note="predicted by a latency table",
        how_to_get="latency needs a latency table: build one with `archsearch latency build` "
        "and add --set space.latency_table=lut.json",
    )
)
METRIC = LATENCY.name
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


def number_text(value: float) -> str:
    """An exact, short spelling of a number: 4 -> "4", 4.0 -> "4", 0.5 -> "0.5"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


_KEY_SEPARATORS = frozenset(":,= ")


def part_key(kind: str, **fields: int | float | str) -> str:
    """The one form of a latency part key, for every space: `kind`, then the fields in
    the order given, e.g. part_key("block", heads=3, mlp_ratio=3.5) ->
    "block:heads=3,mlp_ratio=3.5". Numbers are written exactly, without a trailing
    ".0"; a part without fields is its kind alone ("head")."""
    texts = [kind, *fields, *(v for v in fields.values() if isinstance(v, str))]
    if not kind or any(_KEY_SEPARATORS & set(t) or not t for t in texts):
        raise ValueError(
            f"a part key's kind, field names and text values must be non-empty and hold no "
            f"{' '.join(sorted(repr(c) for c in _KEY_SEPARATORS))}: got {kind!r} {fields!r}"
        )
    if not fields:
        return kind
    values = (v if isinstance(v, str) else number_text(v) for v in fields.values())
    return kind + ":" + ",".join(f"{name}={v}" for name, v in zip(fields, values))


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_part_key(key: str) -> tuple[str, dict[str, int | float | str]]:
    """(kind, fields) of a key `part_key` wrote; ValueError for any other spelling, so
    one part has exactly one key."""
    kind, _, rest = key.partition(":")
    try:
        fields = dict(item.split("=", 1) for item in rest.split(",")) if rest else {}
        parsed = {name: _value(text) for name, text in fields.items()}
        if part_key(kind, **parsed) == key:
            return kind, parsed
    except ValueError:
        pass
    raise ValueError(
        f"{key!r} is not a latency part key: write 'KIND' or 'KIND:NAME=VALUE,...' "
        "(numbers exact, without a trailing '.0'), e.g. 'block:heads=3,mlp_ratio=3.5'"
    )


class LatencyTableError(ArchSpaceError):
    """A latency table that is missing, malformed, incomplete or built for other settings."""


def plain_json(value: Any) -> Any:
    """JSON-normalised (tuples -> lists), so saved and live options compare equal."""
    return json.loads(json.dumps(value, default=str))


def rebuild_hint(space: str, options: Mapping[str, Any], out: str | Path | None) -> str:
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
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
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
    def reference_ms(self) -> float | None:
        """The speed reference's median over the build (ms); None without a reference."""
        return self.reference.get("median_ms") if self.reference else None

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
