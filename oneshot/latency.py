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
from dataclasses import dataclass, replace
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

#: seconds per timed block (a block is `number` calls in a row)
BLOCK_SECONDS = 0.01
#: timed blocks per measurement, at least
MIN_BLOCKS = 3


@dataclass(frozen=True)
class Timing:
    """One measurement: wall time per call (median and IQR over timed blocks) and, when a
    speed reference ran alongside, the median ratio to the reference's adjacent blocks."""

    median_ms: float
    iqr_ms: float
    blocks: int
    ratio: float | None = None
    reference_ms: float | None = None


class _Clocked:
    """A module on its device with a random input, warmed up, and a Timer; a block is
    `number` calls in a row (about BLOCK_SECONDS unless `spanning` sets it)."""

    def __init__(
        self,
        module: torch.nn.Module,
        input_shape: Sequence[int],
        batch: int,
        device: torch.device,
        dtype: str,
        threads: int,
    ) -> None:
        self.module = module.to(device=device, dtype=DTYPES[dtype]).eval()
        self.x = torch.randn(batch, *input_shape, device=device, dtype=DTYPES[dtype])
        self.timer = benchmark.Timer(
            stmt="module(x)", globals={"module": self.module, "x": self.x}, num_threads=threads
        )
        with _threads(threads), torch.inference_mode():
            for _ in range(WARMUP_CALLS):
                self.module(self.x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.call_seconds = max(self.timer.timeit(1).mean, 1e-7)
        self.spanning(BLOCK_SECONDS)

    def spanning(self, seconds: float) -> None:
        """Blocks of about `seconds` (at least one call)."""
        self.number = max(1, round(seconds / self.call_seconds))

    def block(self) -> float:
        """Seconds per call over one block (the Timer synchronises CUDA)."""
        return self.timer.timeit(self.number).mean


class SpeedReference:
    """One fixed part of the space, timed in the blocks between a measurement's blocks.

    Why: a shared machine changes speed by tens of percent over seconds (this project's
    2-core VM: the same network's median over 0.15 s windows ranged 2.4-5.2 ms within
    30 s), and every workload slows together, so the ratio of a module's time to the
    reference's adjacent blocks moves far less. Tables and checks state latency at one
    machine speed: ratio x the reference's median during the build. A part (a block of
    the space), not a whole network, keeps the reference's share of the time small.
    """

    def __init__(self, plugin: Any, key: str) -> None:
        self.plugin, self.key = unwrap(plugin), key
        self._clocked: dict[tuple[Any, ...], _Clocked] = {}

    @classmethod
    def for_space(cls, plugin: Any, key: str | None = None) -> SpeedReference:
        """The part `key`, else the middle part of a seeded sample of the space (the same
        on every machine; the table records it, so its check uses the same one)."""
        if key is None:
            plugin = unwrap(plugin)
            parts = plugin.latency_parts(plugin.space.sample(np.random.default_rng(0))) or []
            if not parts:
                raise LatencyTableError(f"space {plugin.name!r} names no latency parts")
            key = parts[len(parts) // 2]
        return cls(plugin, key)

    def clocked(self, batch: int, device: torch.device, dtype: str, threads: int) -> _Clocked:
        setting = (batch, str(device), dtype, threads)
        if setting not in self._clocked:
            module, shape = self.plugin.latency_module(self.key)
            self._clocked[setting] = _Clocked(module, shape, batch, device, dtype, threads)
        return self._clocked[setting]


def measure(
    module: torch.nn.Module,
    input_shape: Sequence[int],
    batch: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    dtype: str = "float32",
    min_run_time: float = DEFAULT_MIN_RUN_TIME,
    reference: SpeedReference | None = None,
) -> Timing:
    """Time `module` on a random input of shape (batch, *input_shape) in eval and
    inference mode, after a warm-up: blocks of calls of about BLOCK_SECONDS with
    `torch.utils.benchmark.Timer` (which synchronises CUDA) until `min_run_time` s of
    the module's calls and MIN_BLOCKS blocks; with a `reference`, each block is followed
    by one of the reference's, and the ratio of each pair is kept."""
    resolved = resolve_device(device)
    threads = threads or torch.get_num_threads()
    target = _Clocked(module, input_shape, batch, resolved, dtype, threads)
    paired = reference.clocked(batch, resolved, dtype, threads) if reference else None
    if paired is not None:  # blocks of equal length: half the time goes to each
        span = max(BLOCK_SECONDS, target.call_seconds, paired.call_seconds)
        target.spanning(span)
        paired.spanning(span)
    times: list[float] = []
    reference_times: list[float] = []
    with _threads(threads), torch.inference_mode():
        while len(times) < MIN_BLOCKS or sum(times) * target.number < min_run_time:
            times.append(target.block())
            if paired is not None:
                reference_times.append(paired.block())
    ms = np.array(times) * 1e3
    timing = Timing(float(np.median(ms)), float(np.subtract(*np.percentile(ms, [75, 25]))), len(ms))
    if paired is None:
        return timing
    reference_ms = np.array(reference_times) * 1e3
    return replace(
        timing,
        ratio=float(np.median(ms / reference_ms)),
        reference_ms=float(np.median(reference_ms)),
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
    speed_reference: bool = True,
) -> tuple[LatencyTable, int]:
    """Measure every key of `plugin.latency_part_keys()` into the table at `out`; an
    existing table with the same settings is resumed (its entries are kept), one with
    other settings is refused. Saved after each entry. With `speed_reference`, entries
    are timed alternating with a `SpeedReference`.
    Returns (table, newly measured)."""
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
    plugin = unwrap(plugin)
    shape = plugin.input_shape()
    if shape is None:
        raise ValueError(f"space {plugin.name!r} builds no models to measure")
    return measure(
        plugin.build(genotype), shape, batch, device, threads, dtype, min_run_time, reference
    )


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
    times and the predictions' accuracy against them are reported beside it."""
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
    speed = table.reference.get("median_ms") if table.reference else None
    reference = SpeedReference.for_space(plugin, table.reference["part"]) if speed else None
    rng = random.Random(seed)
    chosen: list[tuple[str, Genotype, str]] = []
    seen: set[str] = set()
    named = {**(plugin.presets() if include_presets else {}), **(networks or {})}
    for name, genotype in named.items():
        if genotype.key not in seen:
            seen.add(genotype.key)
            chosen.append((name, genotype, "eval"))
    for i, genotype in enumerate(_sample(plugin, samples, rng, seen)):
        chosen.append((f"random-{i}", genotype, "eval"))
    for i, genotype in enumerate(_sample(plugin, fit, rng, seen)):
        chosen.append((f"fit-{i}", genotype, "fit"))
    size_metric = "macs" if "macs" in plugin.metrics else plugin.metrics[0]
    # Passes in seeded random orders: a slow spell of the machine hits evaluated and
    # fitted networks alike instead of whichever came last.
    timings: dict[int, list[Timing]] = {i: [] for i in range(len(chosen))}
    started = time.perf_counter()
    with progress_bar(len(chosen) * PASSES, "networks", 0, progress) as bar:
        for _ in range(PASSES):
            order = list(range(len(chosen)))
            rng.shuffle(order)
            for i in order:
                timing = measure_network(
                    plugin,
                    chosen[i][1],
                    device,
                    here["batch"],
                    here["threads"],
                    here["dtype"],
                    min_run_time,
                    reference,
                )
                timings[i].append(timing)
                bar.update(1, ms=timing.median_ms)
    rows = [
        _check_row(name, role, genotype, plugin, table, timings[i], speed, size_metric)
        for i, (name, genotype, role) in enumerate(chosen)
    ]
    evaluated = [r for r in rows if r["set"] == "eval"]
    names = [r["network"] for r in evaluated]
    measured = [r["measured_ms"] for r in evaluated]
    predicted = [r["predicted_ms"] for r in evaluated]
    report: dict[str, Any] = {
        "table": str(table.path) if table.path else None,
        "measured_on": {**table.settings},
        "here": here,
        "mismatches_forced": mismatches,
        "networks_evaluated": len(evaluated),
        "prediction": "sum of the parts' medians"
        + (" with the table's correction" if table.correction else ""),
        "measured": "at the build's machine speed (speed reference)"
        if speed
        else "wall time, the faster pass",
        "speed_reference": None,
        "table_predictor": accuracy(names, predicted, measured),
        "size_metric": size_metric,
        "size_predictor": _ranks([r[size_metric] for r in evaluated], measured),
        "table_correction": table.correction,
        "fit": None,
        "seconds": time.perf_counter() - started,
        "networks": rows,
    }
    if speed:
        now = float(np.median([t.reference_ms for ts in timings.values() for t in ts]))
        report["speed_reference"] = {
            "part": table.reference["part"],
            "build_ms": speed,
            "check_ms": now,
            "slower_now_pct": (now / speed - 1.0) * 100.0,
        }
        report["wall_predictor"] = accuracy(names, predicted, [r["wall_ms"] for r in evaluated])
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
