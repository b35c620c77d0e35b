"""Crash-safe checkpoints: atomic writes, safe loading, fallback to the previous one.

A checkpoint is a dict of tensors, numbers, strings and containers of those, written
with torch.save to a temporary file that is fsynced and then renamed over the target
(a kill mid-write leaves the old file intact). The replaced file is kept as
`<name>.prev`, so a checkpoint that is later found corrupt or truncated costs one
interval of work, not the run. Loading uses `torch.load(weights_only=True)`: no
arbitrary objects are ever unpickled.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspace.files import replacing

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """No readable checkpoint where one was expected."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` atomically and durably, keeping the previous checkpoint as `.prev`."""
    with replacing(path, "wb", durable=True, keep_previous=True) as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict | None:
    """The newest readable checkpoint at `path` (or its `.prev`); None when neither exists.

    A corrupt newest file is reported in the log and skipped; if every candidate is
    unreadable a CheckpointError says which files were tried and why.
    """
    path = Path(path)
    candidates = [p for p in (path, path.with_name(path.name + ".prev")) if p.exists()]
    if not candidates:
        return None
    problems = []
    for candidate in candidates:
        try:
            state = torch.load(candidate, map_location=map_location, weights_only=True)
        except Exception as error:  # truncated zip, bad pickle, wrong types...
            problems.append(f"{candidate}: {type(error).__name__}: {str(error).splitlines()[0]}")
            log.warning(
                "checkpoint %s is unreadable (%s); trying the previous one", candidate, error
            )
            continue
        if not isinstance(state, dict):
            problems.append(f"{candidate}: not a checkpoint dict")
            continue
        return state
    raise CheckpointError("no readable checkpoint; tried:\n  " + "\n  ".join(problems))


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Python, numpy, torch CPU and, for a CUDA `device`, that GPU's random state (not
    every visible GPU's: a run resumed where fewer GPUs are visible must load it)."""
    state: dict[str, Any] = {
        "python": _to_safe(random.getstate()),
        "numpy": _to_safe(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore `rng_state`'s states; the CUDA one onto `device` when it is a GPU.
    Checkpoints written before kept a list of every GPU's state: the device's own entry
    is used when there is one."""
    random.setstate(_from_safe(state["python"]))
    np.random.set_state(_from_safe(state["numpy"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is None or device is None or device.type != "cuda":
        return
    if isinstance(cuda, (list, tuple)):
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= len(cuda):
            return
        cuda = cuda[index]
    torch.cuda.set_rng_state(cuda, device)


def _to_safe(value: Any) -> Any:
    """numpy arrays/ints -> tensors/ints so that weights_only loading accepts them."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(value.astype(np.int64))}
    if isinstance(value, dict):
        return {k: _to_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_safe(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _from_safe(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        return value["__ndarray__"].numpy().astype(np.uint32)
    if isinstance(value, dict):
        return {k: _from_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_safe(v) for v in value)
    return value
