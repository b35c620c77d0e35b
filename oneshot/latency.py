"""Measure latency tables and check them against whole networks (torch).

`build_table` times every part a space names (`latency_part_keys`, each built alone by
`latency_module`) with `oneshot.timing` and writes the table after each entry, so a
killed build resumes where it stopped. `check_table` measures random subnets and the
presets end to end and tells how well the table predicts them (error and rank
correlations, next to MACs as a predictor); `--fit` fits a linear correction on a
separate set of networks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspace import Genotype
from archspace.latency import LatencyTable, LatencyTableError
from archspace.ranks import rank_correlations
from archspace.speed_drift import SPEED_DRIFT_LIMIT, build_warning, check_warning, speed_factor
from oneshot.progress import progress_bar
from oneshot.timing import (
    DEFAULT_MIN_RUN_TIME,
    SpeedReference,
    Timing,
    available_cores,
    device_settings,
    measure,
)


def _entry(timing: Timing) -> dict[str, Any]:
    entry = {"median_ms": round(timing.median_ms, 6), "iqr_ms": round(timing.iqr_ms, 6)}
    entry["runs"] = timing.blocks
    if timing.ratio is not None:
        entry.update(
            wall_ms=entry["median_ms"],
            ratio=round(timing.ratio, 6),
            reference_ms=round(float(timing.reference_ms or 0.0), 6),
        )
    return entry


# ---- tables ----------------------------------------------------------------------------------


def space_settings(plugin: Any) -> dict[str, Any]:
    return {"space": plugin.name, "space_options": plugin.options()}


def _check_latency_plugin(plugin: Any) -> list[str]:
    keys = list(dict.fromkeys(plugin.latency_part_keys()))
    if not keys:
        raise LatencyTableError(
            f"space {plugin.name!r} has no latency table: it names no parts (latency_part_keys)"
        )
    return keys


def build_table(
    plugin: Any,
    device: str = "cpu",
    batch: int = 1,
    threads: int | None = None,
    out: str | Path = "lut.json",
    progress: bool | None = None,
    dtype: str = "float32",
    min_run_time: float = DEFAULT_MIN_RUN_TIME,
    on_entry: Callable[[str, Mapping[str, Any]], None] | None = None,
    speed_reference: bool = True,
) -> tuple[LatencyTable, int]:
    """Measure every key of `plugin.latency_part_keys()` into the table at `out`; an
    existing table with the same settings is resumed (its entries are kept), one with
    other settings is refused. Saved after each entry. With `speed_reference`, entries
    are timed alternating with a `SpeedReference`.
    Returns (table, newly measured)."""
    keys = _check_latency_plugin(plugin)
    settings = {**device_settings(device, batch, threads, dtype), **space_settings(plugin)}
    out = Path(out)
    if out.exists():
        table = LatencyTable.load(out)
        compared = {k: v for k, v in settings.items() if k != "device"}
        try:
            table.check_compatible(compared)
        except LatencyTableError as error:
            raise LatencyTableError(
                f"{error}. A table holds one setting's measurements: choose another --out "
                "to build one for these settings"
            ) from None
    else:
        reference_key = SpeedReference.for_space(plugin).key if speed_reference else None
        table = LatencyTable(
            settings, path=out, reference={"part": reference_key} if reference_key else None
        )
    reference = (
        SpeedReference.for_space(plugin, table.reference["part"]) if table.reference else None
    )
    todo = [k for k in keys if k not in table.entries]
    measured = 0
    with progress_bar(len(keys), "latency table", len(keys) - len(todo), progress) as bar:
        for key in todo:
            module, shape = plugin.latency_module(key)
            timing = measure(
                module, shape, batch, device, settings["threads"], dtype, min_run_time, reference
            )
            table.entries[key] = _entry(timing)
            table.save(out)
            measured += 1
            bar.update(1, ms=timing.median_ms)
            if on_entry is not None:
                on_entry(key, table.entries[key])
    if not out.exists():
        table.save(out)
    return table, measured


def measure_network(
    plugin: Any,
    genotype: Genotype,
    device: str = "cpu",
    batch: int = 1,
    threads: int | None = None,
    dtype: str = "float32",
    min_run_time: float = DEFAULT_MIN_RUN_TIME,
    reference: SpeedReference | None = None,
) -> Timing:
    """The built standalone network's timing, end to end."""
    shape = plugin.input_shape()
    if shape is None:
        raise ValueError(f"space {plugin.name!r} builds no models to measure")
    return measure(
        plugin.build(genotype), shape, batch, device, threads, dtype, min_run_time, reference
    )


# ---- checking a table ------------------------------------------------------------------------


def accuracy(
    names: Sequence[str], predicted: Sequence[float], measured: Sequence[float]
) -> dict[str, Any]:
    """Mean absolute percentage error, the worst network, Spearman and Kendall."""
    errors = [abs(p - m) / m * 100.0 for p, m in zip(predicted, measured)]
    worst = int(np.argmax(errors)) if errors else None
    return {
        "mape_pct": float(np.mean(errors)) if errors else None,
        "worst": None
        if worst is None
        else {
            "network": names[worst],
            "error_pct": errors[worst],
            "predicted_ms": predicted[worst],
            "measured_ms": measured[worst],
        },
        **rank_correlations(predicted, measured),
    }


def _sample(plugin: Any, count: int, rng: random.Random, avoid: set[str]) -> list[Genotype]:
    space = plugin.space
    found: list[Genotype] = []
    tries = 0
    while len(found) < count and tries < 100 * max(count, 1):
        tries += 1
        genotype = space.sample(np.random.default_rng(rng.randrange(2**32)))
        if genotype.key not in avoid:
            avoid.add(genotype.key)
            found.append(genotype)
    return found


#: end-to-end measurements per network in `check_table`, in separately shuffled passes
PASSES = 2


def check_table(
    table: LatencyTable,
    plugin: Any,
    samples: int = 20,
    seed: int = 0,
    include_presets: bool = True,
    fit: int = 0,
    force: bool = False,
    min_run_time: float = DEFAULT_MIN_RUN_TIME,
    progress: bool | None = None,
    networks: Mapping[str, Genotype] | None = None,
) -> dict[str, Any]:
    """Measure `samples` random subnets (plus the presets and the named `networks`) end
    to end with the table's device, batch, threads and dtype, and compare with the
    table's predictions and with MACs as a predictor. With `fit` > 0, a further `fit`
    random networks (none of the evaluated ones) are measured to fit latency = a * sum +
    b, which is then evaluated on the other networks. Refuses a table measured with other
    settings unless `force`.

    With a speed reference in the table, each network is timed alternating with the
    same reference part, and its measured latency is stated at the build's machine
    speed (mean ratio over the passes x the table's reference median); the plain wall
    times and the predictions' accuracy against them are reported beside it. The
    report's `warnings` say when the machine's speed moved too much to trust it
    (`archspace.speed_drift`)."""
    here, mismatches = _check_settings(table, plugin, force)
    speed = table.reference_ms
    reference = SpeedReference.for_space(plugin, table.reference["part"]) if speed else None
    rng = random.Random(seed)
    named = {**(plugin.presets() if include_presets else {}), **(networks or {})}
    chosen = _choose_networks(plugin, named, samples, fit, rng)
    size_metric = "macs" if "macs" in plugin.metrics else plugin.metrics[0]
    started = time.perf_counter()
    timings = _measure_passes(plugin, chosen, here, min_run_time, reference, rng, progress)
    rows = [
        _check_row(name, role, genotype, plugin, table, timings[i], speed, size_metric)
        for i, (name, genotype, role) in enumerate(chosen)
    ]
    return {
        "table": str(table.path) if table.path else None,
        "measured_on": {**table.settings},
        "here": here,
        "mismatches_forced": mismatches,
        "networks_evaluated": sum(r["set"] == "eval" for r in rows),
        "prediction": "sum of the parts' medians"
        + (" with the table's correction" if table.correction else ""),
        "measured": "at the build's machine speed (speed reference)"
        if speed
        else "wall time, the faster pass",
        "speed_reference": _speed_report(table, timings) if speed else None,
        "warnings": _drift_warnings(table, timings),
        **_predictors(rows, table, size_metric),
        "seconds": time.perf_counter() - started,
        "networks": rows,
    }


def _predictors(
    rows: Sequence[dict[str, Any]], table: LatencyTable, size_metric: str
) -> dict[str, Any]:
    """How well the table, the plain sum, a fitted correction and the size metric
    predict the evaluated networks' measured latency (and, with a speed reference,
    their plain wall time)."""
    evaluated = [r for r in rows if r["set"] == "eval"]
    names = [r["network"] for r in evaluated]
    measured = [r["measured_ms"] for r in evaluated]
    predicted = [r["predicted_ms"] for r in evaluated]
    found: dict[str, Any] = {
        "table_predictor": accuracy(names, predicted, measured),
        "size_metric": size_metric,
        "size_predictor": rank_correlations([r[size_metric] for r in evaluated], measured),
        "table_correction": table.correction,
        "fit": _fit_report(rows, names, measured),
    }
    if table.reference_ms:
        found["wall_predictor"] = accuracy(names, predicted, [r["wall_ms"] for r in evaluated])
    if table.correction:
        found["sum_predictor"] = accuracy(names, [r["sum_ms"] for r in evaluated], measured)
    return found


def _check_settings(
    table: LatencyTable, plugin: Any, force: bool
) -> tuple[dict[str, Any], list[str]]:
    """This machine's settings for the table's measurement, and the mismatches `force`
    let through; refuses an incomplete table (a check of half a table means nothing)."""
    s = table.settings
    device = s.get("device") or s.get("device_kind") or "cpu"
    threads = s.get("threads")
    if s.get("device_kind") == "cpu" and isinstance(threads, int):
        threads = min(threads, available_cores())  # more threads than cores here: a mismatch
    here = device_settings(device, int(s.get("batch", 1)), threads, s.get("dtype", "float32"))
    compared = {k: v for k, v in here.items() if k != "device"}
    mismatches = table.check_compatible({**compared, **space_settings(plugin)}, force=force)
    missing = table.missing(plugin.latency_part_keys())
    if missing:
        raise LatencyTableError(
            f"latency table {table.path} lacks {len(missing)} entries (e.g. {missing[0]!r}); "
            f"finish it with `archsearch latency build ... --out {table.path}` first"
        )
    return here, mismatches


def _choose_networks(
    plugin: Any, named: Mapping[str, Genotype], samples: int, fit: int, rng: random.Random
) -> list[tuple[str, Genotype, str]]:
    """(name, genotype, set) of every network to measure: the named ones and `samples`
    random ones to evaluate, then `fit` further random ones to fit a correction on."""
    chosen: list[tuple[str, Genotype, str]] = []
    seen: set[str] = set()
    for name, genotype in named.items():
        if genotype.key not in seen:
            seen.add(genotype.key)
            chosen.append((name, genotype, "eval"))
    for i, genotype in enumerate(_sample(plugin, samples, rng, seen)):
        chosen.append((f"random-{i}", genotype, "eval"))
    for i, genotype in enumerate(_sample(plugin, fit, rng, seen)):
        chosen.append((f"fit-{i}", genotype, "fit"))
    return chosen


def _measure_passes(
    plugin: Any,
    chosen: Sequence[tuple[str, Genotype, str]],
    here: Mapping[str, Any],
    min_run_time: float,
    reference: SpeedReference | None,
    rng: random.Random,
    progress: bool | None,
) -> dict[int, list[Timing]]:
    """Each network's timings, one per pass. Passes go in seeded random orders: a slow
    spell of the machine hits evaluated and fitted networks alike instead of whichever
    came last."""
    timings: dict[int, list[Timing]] = {i: [] for i in range(len(chosen))}
    with progress_bar(len(chosen) * PASSES, "networks", 0, progress) as bar:
        for _ in range(PASSES):
            order = list(range(len(chosen)))
            rng.shuffle(order)
            for i in order:
                timing = measure_network(
                    plugin,
                    chosen[i][1],
                    here["device"],
                    here["batch"],
                    here["threads"],
                    here["dtype"],
                    min_run_time,
                    reference,
                )
                timings[i].append(timing)
                bar.update(1, ms=timing.median_ms)
    return timings


def _reference_now(timings: Mapping[int, Sequence[Timing]]) -> float | None:
    """The speed reference's median over the check (None: no reference ran)."""
    found = [t.reference_ms for ts in timings.values() for t in ts if t.reference_ms]
    return float(np.median(found)) if found else None


def _speed_report(table: LatencyTable, timings: Mapping[int, Sequence[Timing]]) -> dict[str, Any]:
    """The reference part's speed during the build and now, and how far it moved."""
    speed = float(table.reference["median_ms"])
    now = _reference_now(timings) or speed
    return {
        "part": table.reference["part"],
        "build_ms": speed,
        "check_ms": now,
        "slower_now_pct": (now / speed - 1.0) * 100.0,
        "factor": speed_factor(speed, now),
        "limit": SPEED_DRIFT_LIMIT,
    }


def _drift_warnings(table: LatencyTable, timings: Mapping[int, Sequence[Timing]]) -> list[str]:
    """Why the check cannot be trusted, if it cannot: the table's build or this check
    ran while the machine's speed moved past SPEED_DRIFT_LIMIT."""
    speed = table.reference_ms
    now = _reference_now(timings)
    found = [
        build_warning(table.entries, speed, table.path),
        check_warning(speed, now) if speed and now else None,
    ]
    return [w for w in found if w]


def _fit_report(
    rows: Sequence[dict[str, Any]], names: Sequence[str], measured: Sequence[float]
) -> dict[str, Any] | None:
    """Fit latency = a * sum + b on the 'fit' rows (adding `fitted_ms` to every row) and
    evaluate it on the others; None without fit rows."""
    fitted = [r for r in rows if r["set"] == "fit"]
    if not fitted:
        return None
    a, b = fit_correction([r["sum_ms"] for r in fitted], [r["measured_ms"] for r in fitted])
    for r in rows:
        r["fitted_ms"] = a * r["sum_ms"] + b
    evaluated = [r for r in rows if r["set"] == "eval"]
    return {
        "a": a,
        "b": b,
        "fitted_on_networks": len(fitted),
        "evaluated_on_networks": len(evaluated),
        "note": "fitted on the 'fit' networks only; the accuracy below is on the "
        "other ('eval') networks",
        "fit_accuracy": accuracy(names, [r["fitted_ms"] for r in evaluated], measured),
    }


def _check_row(
    name: str,
    role: str,
    genotype: Genotype,
    plugin: Any,
    table: LatencyTable,
    timings: Sequence[Timing],
    speed: float | None,
    size_metric: str,
) -> dict[str, Any]:
    """One network of a check: its prediction and what its passes measured."""
    parts = plugin.latency_parts(genotype) or []
    raw = table.raw(parts)
    fastest = min(timings, key=lambda t: t.median_ms)
    row: dict[str, Any] = {
        "network": name,
        "set": role,
        "key": genotype.key,
        "parts": len(parts),
        "sum_ms": raw,
        "predicted_ms": float(table.corrected(raw)),
        "measured_ms": fastest.median_ms,
        "wall_ms": fastest.median_ms,
        "iqr_ms": fastest.iqr_ms,
        "runs": fastest.blocks,
        "pass_wall_ms": [t.median_ms for t in timings],
        size_metric: float(plugin.cost(genotype)[size_metric]),
    }
    if speed:
        ratios = [float(t.ratio or 0.0) for t in timings]
        row.update(measured_ms=float(np.mean(ratios)) * speed, pass_ratios=ratios)
    return row


def fit_correction(sums: Sequence[float], measured: Sequence[float]) -> tuple[float, float]:
    """Least squares measured ~ a * sum + b (a = 1, b = mean offset for one network)."""
    x, y = np.asarray(sums, dtype=float), np.asarray(measured, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return 1.0, float(np.mean(y - x)) if len(x) else 0.0
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)
