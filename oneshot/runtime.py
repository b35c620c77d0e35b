"""Where and how tensors run: device choice, CPU threads, mixed precision on CUDA."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Runtime:
    """Device and precision for training and evaluation.

    AMP is used on CUDA only: bfloat16 autocast on GPUs that compute in it natively
    (compute capability 8.0 and later: A100, H100...), else float16 with a gradient
    scaler (V100, T4, where bfloat16 is emulated and slow). On the CPU everything runs
    in float32, which is both exact for tests and usually faster there.
    """

    device: torch.device
    amp: bool = False
    compile: bool = False

    @property
    def amp_dtype(self) -> torch.dtype:
        """bfloat16 where the run's own GPU has it natively (not `is_bf16_supported`,
        which reads the current device and counts emulation), else float16."""
        if self.device.type == "cuda" and torch.cuda.get_device_capability(self.device)[0] >= 8:
            return torch.bfloat16
        return torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is a no-op unless float16 AMP needs it."""
        enabled = self.amp and self.amp_dtype == torch.float16
        return torch.amp.GradScaler(self.device.type, enabled=enabled)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move to the device and optionally wrap with torch.compile."""
        model = model.to(self.device)
        return torch.compile(model) if self.compile else model


def select_runtime(
    device: str = "auto", amp: bool | None = None, compile: bool = False, threads: int | None = None
) -> Runtime:
    """Resolve "auto" to CUDA when present, else CPU; AMP defaults to on for CUDA."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)} or cuda:N")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for but no CUDA GPU is available here; use --device cpu"
        )
    resolved = torch.device(device)
    configure_threads(threads)
    if resolved.type == "cuda":
        configure_cuda()
    use_amp = resolved.type == "cuda" if amp is None else (amp and resolved.type == "cuda")
    return Runtime(resolved, amp=use_amp, compile=compile)


def configure_cuda() -> None:
    """TF32 for float32 matmuls and convolutions (what stays outside autocast: the loss,
    BatchNorm statistics) and cuDNN's autotuner (fixed shapes per path, tuned once)."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def default_workers(device: torch.device) -> int:
    """Data-loading worker processes when the run names none: none on the CPU (the cores
    compute; workers would take them), on CUDA this process's share of the cores, up to
    8, so decoding and augmentation keep the GPU busy."""
    if device.type != "cuda":
        return 0
    return max(1, min(8, _usable_cores() // (_positive_int_env("LOCAL_WORLD_SIZE") or 1)))


def _usable_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return cores or os.cpu_count() or 1


def configure_threads(threads: int | None = None) -> int:
    """Intra-op threads: the given number; else OMP_NUM_THREADS when the user or the
    launcher set it (torchrun sets 1 for several processes a machine); else this
    process's share of the cores it may use, so that the LOCAL_WORLD_SIZE processes of
    a torchrun job on one machine do not oversubscribe it (on 2 cores, 2 processes of
    2 threads each evaluated 2.7x slower than 2 processes of 1 thread)."""
    if threads is None:
        threads = _positive_int_env("OMP_NUM_THREADS")
    if threads is None:
        threads = _usable_cores() // (_positive_int_env("LOCAL_WORLD_SIZE") or 1)
    torch.set_num_threads(max(1, int(threads)))
    return torch.get_num_threads()


def _positive_int_env(name: str) -> int | None:
    """The environment variable as a positive integer, or None when unset or not one."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if value > 0 else None
