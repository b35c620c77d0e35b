"""Timing torch modules for latency tables: the device and its settings, warmed-up
blocks of calls timed with `time.perf_counter`, and the speed reference that states a
measurement at one machine speed (`oneshot.latency` builds and checks tables with it).

Blocks are timed here rather than with `torch.utils.benchmark.Timer`: importing that
imports `torch.utils.cpp_extension`, which logs "No CUDA runtime is found, using
CUDA_HOME=..." on every CPU-only machine with a CUDA build of torch.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspace.latency import LatencyTableError

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


def available_cores() -> int:
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


def seconds_per_call(module: torch.nn.Module, x: torch.Tensor, number: int) -> float:
    """Mean wall seconds of `number` calls in a row: CUDA is synchronised before and
    after (its calls are asynchronous) and the garbage collector paused (as `timeit`
    does), so a block times the module and nothing else."""
    cuda = x.device.type == "cuda"
    collecting = gc.isenabled()
    gc.disable()
    # on cuda:N the current device is N too, so whatever the module makes without naming
    # a device (and the synchronisation) is on the GPU being timed
    try:
        with torch.cuda.device(x.device) if cuda else contextlib.nullcontext():
            if cuda:
                torch.cuda.synchronize(x.device)
            started = time.perf_counter()
            for _ in range(number):
                module(x)
            if cuda:
                torch.cuda.synchronize(x.device)
            return (time.perf_counter() - started) / number
    finally:
        if collecting:
            gc.enable()


class _Clocked:
    """A module on its device with a random input, warmed up; a block is `number` calls
    in a row (about BLOCK_SECONDS unless `spanning` sets it)."""

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
        with _threads(threads), torch.inference_mode():
            for _ in range(WARMUP_CALLS):
                self.module(self.x)
            self.call_seconds = max(seconds_per_call(self.module, self.x, 1), 1e-7)
        self.spanning(BLOCK_SECONDS)

    def spanning(self, seconds: float) -> None:
        """Blocks of about `seconds` (at least one call)."""
        self.number = max(1, round(seconds / self.call_seconds))

    def block(self) -> float:
        """Seconds per call over one block (run under `measure`'s threads and
        inference mode)."""
        return seconds_per_call(self.module, self.x, self.number)


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
        self.plugin, self.key = plugin, key
        self._clocked: dict[tuple[Any, ...], _Clocked] = {}

    @classmethod
    def for_space(cls, plugin: Any, key: str | None = None) -> SpeedReference:
        """The part `key`, else the middle part of a seeded sample of the space (the same
        on every machine; the table records it, so its check uses the same one)."""
        if key is None:
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
    inference mode, after a warm-up: blocks of calls of about BLOCK_SECONDS
    (`seconds_per_call`, which synchronises CUDA) until `min_run_time` s of the
    module's calls and MIN_BLOCKS blocks; with a `reference`, each block is followed
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
