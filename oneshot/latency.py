"""Measure latency tables and check them against whole networks (torch).

`build_table` times every part a space names (`latency_part_keys`, each built alone by
`latency_module`) with `torch.utils.benchmark` and writes the table after each entry,
so a killed build resumes where it stopped. `check_table` measures random subnets and
the presets end to end and tells how well the table predicts them (error and rank
correlations, next to MACs as a predictor); `--fit` fits a linear correction on a
separate set of networks.
"""

from __future__ import annotations

import math
import os
import platform
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils import benchmark

from archspace import Genotype
from archspace.latency import LatencyTable, LatencyTableError, unwrap
from oneshot.progress import progress_bar

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: seconds of timed runs per entry (after the warm-up); tests pass less
DEFAULT_MIN_RUN_TIME = 0.2
WARMUP_CALLS = 3


# ---- the machine ---------------------------------------------------------------------------


def resolve_device(device: str) -> torch.device:
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device {device!r} was asked for but no CUDA GPU is available here; "
                "use --device cpu"
            )
        index = int(device[5:]) if ":" in device else torch.cuda.current_device()
        if index >= count:
            raise ValueError(
                f"device {device!r} does not exist: this machine has {count} CUDA GPU(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {device!r}; allowed: cpu, cuda or cuda:N")


def cpu_name() -> str:
    """The CPU model (/proc/cpuinfo's "model name"), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                name = line.partition(":")[2].strip()
                if name:
                    return name
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_settings(
    device: str, batch: int, threads: int | None, dtype: str = "float32"
) -> dict[str, Any]:
    """What a measurement depends on: device kind and name, torch, threads, batch, dtype."""
    resolved = resolve_device(device)
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    name = torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else cpu_name()
    return {
        "device_kind": resolved.type,
        "device_name": name,
        "torch": torch.__version__.split("+")[0],
        "threads": threads or torch.get_num_threads(),
        "batch": batch,
        "dtype": dtype,
        "device": str(resolved),
    }


def _cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return cores or os.cpu_count() or 1


@contextmanager
def _threads(threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- one measurement -------------------------------------------------------------------------


def measure(
    module: torch.nn.Module,
    input_shape: Sequence[int],
    batch: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    dtype: str = "float32",
    min_run_time: float = DEFAULT_MIN_RUN_TIME,
) -> tuple[float, float, int]:
    """(median ms, interquartile range ms, timed blocks) of `module` on a random input
    of shape (batch, *input_shape): eval mode, inference mode, a warm-up, then
    `Timer.blocked_autorange` (which synchronises CUDA) for at least `min_run_time` s."""
    resolved = resolve_device(device)
    threads = threads or torch.get_num_threads()
    with _threads(threads), torch.inference_mode():
        module = module.to(device=resolved, dtype=DTYPES[dtype]).eval()
        x = torch.randn(batch, *input_shape, device=resolved, dtype=DTYPES[dtype])
        for _ in range(WARMUP_CALLS):
            module(x)
        if resolved.type == "cuda":
            torch.cuda.synchronize(resolved)
        timer = benchmark.Timer(
            stmt="module(x)", globals={"module": module, "x": x}, num_threads=threads
        )
        found = timer.blocked_autorange(min_run_time=min_run_time)
    return found.median * 1e3, found.iqr * 1e3, len(found.times)


def _entry(median: float, iqr: float, runs: int) -> dict[str, Any]:
    return {"median_ms": round(median, 6), "iqr_ms": round(iqr, 6), "runs": runs}


# ---- tables ----------------------------------------------------------------------------------


def space_settings(plugin: Any) -> dict[str, Any]:
    plugin = unwrap(plugin)
    return {"space": plugin.name, "space_options": plugin.options()}


def _check_latency_plugin(plugin: Any) -> list[str]:
    keys = list(dict.fromkeys(plugin.latency_part_keys()))
    if not keys or not callable(getattr(plugin, "latency_module", None)):
        raise LatencyTableError(
            f"space {plugin.name!r} has no latency table: it names no parts "
            "(latency_part_keys) or cannot build them alone (latency_module)"
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
) -> tuple[LatencyTable, int]:
    """Measure every key of `plugin.latency_part_keys()` into the table at `out`; an
    existing table with the same settings is resumed (its entries are kept), one with
    other settings is refused. Saved after each entry. Returns (table, newly measured)."""
    plugin = unwrap(plugin)
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
        table = LatencyTable(settings, path=out)
    todo = [k for k in keys if k not in table.entries]
    measured = 0
    with progress_bar(len(keys), "latency table", len(keys) - len(todo), progress) as bar:
        for key in todo:
            module, shape = plugin.latency_module(key)
            median, iqr, runs = measure(
                module, shape, batch, device, settings["threads"], dtype, min_run_time
            )
            table.entries[key] = _entry(median, iqr, runs)
            table.save(out)
            measured += 1
            bar.update(1, ms=median)
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
) -> tuple[float, float, int]:
    """(median ms, IQR ms, timed blocks) of the built standalone network, end to end."""
    plugin = unwrap(plugin)
    shape = plugin.input_shape()
    if shape is None:
        raise ValueError(f"space {plugin.name!r} builds no models to measure")
    return measure(plugin.build(genotype), shape, batch, device, threads, dtype, min_run_time)


# ---- checking a table ------------------------------------------------------------------------


def _ranks(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float | None]:
    from scipy import stats

    if len(predicted) < 3:
        return {"spearman": None, "kendall": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: nan, reported as None
        spearman = stats.spearmanr(predicted, measured).statistic
        kendall = stats.kendalltau(predicted, measured).statistic
    return {
        "spearman": None if math.isnan(spearman) else float(spearman),
        "kendall": None if math.isnan(kendall) else float(kendall),
    }


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
        **_ranks(predicted, measured),
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


#: end-to-end measurements per network in `check_table` (the fastest is kept)
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
) -> dict[str, Any]:
    """Measure `samples` random subnets (plus the presets) end to end with the table's
    device, batch, threads and dtype, and compare with the table's predictions and with
    MACs as a predictor. With `fit` > 0, a further `fit` random networks (none of the
    evaluated ones) are measured to fit latency = a * sum + b, which is then evaluated on
    the other networks. Refuses a table measured with other settings unless `force`."""
    plugin = unwrap(plugin)
    s = table.settings
    device = s.get("device") or s.get("device_kind") or "cpu"
    threads = s.get("threads")
    if s.get("device_kind") == "cpu" and isinstance(threads, int):
        threads = min(threads, _cores())  # more threads than cores here: a mismatch
    here = device_settings(device, int(s.get("batch", 1)), threads, s.get("dtype", "float32"))
    compared = {k: v for k, v in here.items() if k != "device"}
    mismatches = table.check_compatible({**compared, **space_settings(plugin)}, force=force)
    missing = table.missing(plugin.latency_part_keys())
    if missing:
        raise LatencyTableError(
            f"latency table {table.path} lacks {len(missing)} entries (e.g. {missing[0]!r}); "
            f"finish it with `archsearch latency build ... --out {table.path}` first"
        )
    rng = random.Random(seed)
    networks: list[tuple[str, Genotype, str]] = []
    seen: set[str] = set()
    if include_presets:
        for name, genotype in plugin.presets().items():
            if genotype.key not in seen:
                seen.add(genotype.key)
                networks.append((name, genotype, "eval"))
    for i, genotype in enumerate(_sample(plugin, samples, rng, seen)):
        networks.append((f"random-{i}", genotype, "eval"))
    for i, genotype in enumerate(_sample(plugin, fit, rng, seen)):
        networks.append((f"fit-{i}", genotype, "fit"))
    size_metric = "macs" if "macs" in plugin.metrics else plugin.metrics[0]
    # Networks are measured in a seeded random order, in PASSES passes, each keeping
    # the fastest pass's median: a shared machine's slow spells then hit the evaluated
    # and the fitted networks alike instead of whichever came last.
    timings: dict[int, list[tuple[float, float, int]]] = {i: [] for i in range(len(networks))}
    started = time.perf_counter()
    with progress_bar(len(networks) * PASSES, "networks", 0, progress) as bar:
        for _ in range(PASSES):
            order = list(range(len(networks)))
            rng.shuffle(order)
            for i in order:
                timing = measure_network(
                    plugin,
                    networks[i][1],
                    device,
                    here["batch"],
                    here["threads"],
                    here["dtype"],
                    min_run_time,
                )
                timings[i].append(timing)
                bar.update(1, ms=timing[0])
    rows: list[dict[str, Any]] = []
    for i, (name, genotype, role) in enumerate(networks):
        parts = plugin.latency_parts(genotype) or []
        raw = table.raw(parts)
        median, iqr, runs = min(timings[i])
        rows.append(
            {
                "network": name,
                "set": role,
                "key": genotype.key,
                "parts": len(parts),
                "sum_ms": raw,
                "predicted_ms": float(table.corrected(raw)),
                "measured_ms": median,
                "iqr_ms": iqr,
                "runs": runs,
                "pass_medians_ms": [t[0] for t in timings[i]],
                size_metric: float(plugin.cost(genotype)[size_metric]),
            }
        )
    evaluated = [r for r in rows if r["set"] == "eval"]
    names = [r["network"] for r in evaluated]
    measured = [r["measured_ms"] for r in evaluated]
    report: dict[str, Any] = {
        "table": str(table.path) if table.path else None,
        "measured_on": {**table.settings},
        "here": here,
        "mismatches_forced": mismatches,
        "networks_evaluated": len(evaluated),
        "prediction": "sum of the parts' medians"
        + (" with the table's correction" if table.correction else ""),
        "table_predictor": accuracy(names, [r["predicted_ms"] for r in evaluated], measured),
        "size_metric": size_metric,
        "size_predictor": _ranks([r[size_metric] for r in evaluated], measured),
        "table_correction": table.correction,
        "fit": None,
        "seconds": time.perf_counter() - started,
        "networks": rows,
    }
    if table.correction:
        report["sum_predictor"] = accuracy(names, [r["sum_ms"] for r in evaluated], measured)
    fitted = [r for r in rows if r["set"] == "fit"]
    if fitted:
        a, b = fit_correction([r["sum_ms"] for r in fitted], [r["measured_ms"] for r in fitted])
        for r in rows:
            r["fitted_ms"] = a * r["sum_ms"] + b
        report["fit"] = {
            "a": a,
            "b": b,
            "fitted_on_networks": len(fitted),
            "evaluated_on_networks": len(evaluated),
            "note": "fitted on the 'fit' networks only; the accuracy below is on the "
            "other ('eval') networks",
            "fit_accuracy": accuracy(names, [r["fitted_ms"] for r in evaluated], measured),
        }
    return report


def fit_correction(sums: Sequence[float], measured: Sequence[float]) -> tuple[float, float]:
    """Least squares measured ~ a * sum + b (a = 1, b = mean offset for one network)."""
    x, y = np.asarray(sums, dtype=float), np.asarray(measured, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return 1.0, float(np.mean(y - x)) if len(x) else 0.0
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


def plot_check(report: Mapping[str, Any], path: str | Path) -> Path:
    """Predicted (table) vs measured, and the size metric (MACs) vs measured, side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in report["networks"] if r["set"] == "eval"]
    metric = report["size_metric"]
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no window, no global state
    left, right = figure.subplots(1, 2)
    measured = [r["measured_ms"] for r in rows]
    predicted = [r["predicted_ms"] for r in rows]
    table = report["table_predictor"]
    left.scatter(predicted, measured, s=18, label="table")
    if report.get("fit"):
        left.scatter(
            [r["fitted_ms"] for r in rows], measured, s=14, marker="x", label="table + fit"
        )
    if measured:
        low = min(min(measured), min(predicted))
        high = max(max(measured), max(predicted))
        left.plot([low, high], [low, high], color="grey", linewidth=1, label="y = x")
    left.set_xlabel("predicted latency (ms)")
    left.set_ylabel("measured latency (ms)")
    left.set_title(
        f"table: MAPE {_num(table['mape_pct'])}%, Spearman {_num(table['spearman'])}, "
        f"Kendall {_num(table['kendall'])}",
        fontsize=10,
    )
    left.legend(fontsize=8)
    size = report["size_predictor"]
    right.scatter([r[metric] for r in rows], measured, s=18, color="tab:green")
    right.set_xlabel(metric)
    right.set_ylabel("measured latency (ms)")
    right.set_title(
        f"{metric} only: Spearman {_num(size['spearman'])}, Kendall {_num(size['kendall'])}",
        fontsize=10,
    )
    settings = report["measured_on"]
    figure.suptitle(
        f"latency table check on {settings.get('device_name')} ({settings.get('device_kind')}), "
        f"batch {settings.get('batch')}, {settings.get('threads')} threads",
        fontsize=11,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"
