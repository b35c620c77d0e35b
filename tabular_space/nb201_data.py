"""NAS-Bench-201's cell encoding and analog-nasbench's data, read without running its code.

The data file of the PyPI package `analog-nasbench` 0.1.3 is a pickle keyed by NASLib's
convention (edges (0,1), (0,2), (0,3), (1,2), (1,3), (2,3); ops skip_connect, none,
nor_conv_3x3, nor_conv_1x1, avg_pool_3x3); `read_anb` maps it to NAS-Bench-201's own
edge and op order (see `tabular_space.nb201` for how the mapping was verified) through
a restricted unpickler, and `load_accuracies` keeps the converted arrays in the user's
cache as plain npz.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from archspace.errors import ArchSpaceError
from archspace.files import replacing

#: NAS-Bench-201's operations, in its own order (the options of every edge)
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: NAS-Bench-201's edges (source, target) in arch-string order (the choices, in order)
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: analog-nasbench's (NASLib's) key convention: edge of each tuple position, op of each index
DATA_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
DATA_OPS: tuple[str, ...] = (
    "skip_connect",
    "none",
    "nor_conv_3x3",
    "nor_conv_1x1",
    "avg_pool_3x3",
)
NUM_CELLS = len(OPS) ** len(EDGES)
#: accuracy fields of the data (percent), by the name the `accuracy` option takes
ACCURACIES: dict[str, str] = {
    "baseline": "baseline_accuracy",  # standard training, CIFAR-10 test set
    "ptq": "ptq_accuracy",  # post-training quantisation
    "qat": "qat_accuracy",  # quantisation-aware training
    "noisy": "noisy_accuracy",  # the baseline weights on simulated analog hardware
    "analog": "analog_accuracy",  # hardware-aware (analog) training
}
PACKAGE = "analognasbench"
DATA_NAME = "data.anb"
INSTALL_HINT = "pip install 'archsearch[tabular]'  (or: pip install analog-nasbench==0.1.3)"
CACHE_VERSION = 1
_RADIX = len(OPS) ** np.arange(len(EDGES) - 1, -1, -1, dtype=np.int64)  # cell code digits


def cell_codes(rows: np.ndarray) -> np.ndarray:
    """Cell number 0..15624 of each row of op indices (base-5 digits, edges in order)."""
    return np.asarray(rows, dtype=np.int64) @ _RADIX


def cell_rows(codes: np.ndarray) -> np.ndarray:
    """The rows of op indices of cell numbers: the inverse of `cell_codes`."""
    return (np.asarray(codes, dtype=np.int64)[:, None] // _RADIX[None, :]) % len(OPS)


# ---- reading analog-nasbench's pickle safely --------------------------------------------


class MissingTabularData(ArchSpaceError, ImportError):
    """The optional data package is not installed (or lacks its data file)."""


class _Record:
    """Stands in for analog-nasbench's record classes: holds their fields, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError("a record's state must be a dict of named fields")
        self.__dict__.update(state)


class RestrictedUnpickler(pickle.Unpickler):
    """Loads analog-nasbench's data: builtin containers and scalars, plus its two record
    classes (read into `_Record`, their module is never imported); any other global
    (a function, another class) is refused before anything is called."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {(PACKAGE + ".data", "Architecture"), (PACKAGE + ".data", "DriftMeasurement")}
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return _Record
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: the analog-nasbench data may only hold "
            "its Architecture and DriftMeasurement records (plain numbers and tuples)"
        )


def read_anb(source: str | Path | bytes) -> dict[str, np.ndarray]:
    """The accuracy arrays (percent, indexed by `cell_codes` in NAS-Bench-201's edge and
    op order) of an analog-nasbench data file (a path or its bytes), read safely."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    where = "analog-nasbench data" if isinstance(source, bytes) else str(source)
    table = RestrictedUnpickler(io.BytesIO(data)).load()
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a dict of architectures, got {type(table).__name__}")
    arrays = {field: np.full(NUM_CELLS, np.nan) for field in ACCURACIES.values()}
    to_ours = [EDGES.index(edge) for edge in DATA_EDGES]  # data position -> our choice
    op_map = [OPS.index(op) for op in DATA_OPS]  # data op index -> our op index
    for key, record in table.items():
        if (
            not isinstance(key, tuple)
            or len(key) != len(EDGES)
            or not all(isinstance(i, int) and 0 <= i < len(OPS) for i in key)
        ):
            raise ValueError(f"{where}: unexpected architecture key {key!r}")
        ours = [0] * len(EDGES)
        for position, op_index in enumerate(key):
            ours[to_ours[position]] = op_map[op_index]
        code = int(cell_codes(np.array([ours]))[0])
        for field, values in arrays.items():
            value = getattr(record, field, None)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}: cell {key}: {field} is {value!r}, not a number")
            values[code] = float(value)
    missing = int(np.isnan(arrays["baseline_accuracy"]).sum())
    if missing:
        raise ValueError(f"{where}: {missing} of the {NUM_CELLS} cells have no accuracy")
    return arrays


def _find_package() -> Any:
    """The import spec of analog-nasbench (None when absent); its code is not run."""
    return importlib.util.find_spec(PACKAGE)


def data_file() -> Path:
    """analog-nasbench's data file, or MissingTabularData saying how to install it."""
    spec = _find_package()
    if spec is None or not spec.submodule_search_locations:
        raise MissingTabularData(
            "space 'nb201' needs the NAS-Bench-201 accuracies of the analog-nasbench "
            f"package, which is not installed: {INSTALL_HINT}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / DATA_NAME
        if path.is_file():
            return path
    raise MissingTabularData(
        f"the analog-nasbench package has no {DATA_NAME} (looked in "
        f"{', '.join(spec.submodule_search_locations)}); reinstall it: {INSTALL_HINT}"
    )


def cache_dir() -> Path:
    """Where converted tables are kept: $XDG_CACHE_HOME/archsearch or ~/.cache/archsearch."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "archsearch"


def load_accuracies(path: Path | None = None) -> dict[str, np.ndarray]:
    """The accuracy arrays: from the cache when it holds this data file's conversion, else
    converted now (and cached when the cache folder is writable)."""
    path = path or data_file()
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    cached = cache_dir() / f"nb201-analognasbench-v{CACHE_VERSION}-{digest}.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as saved:
                arrays = {field: saved[field] for field in ACCURACIES.values()}
            if all(a.shape == (NUM_CELLS,) and np.isfinite(a).all() for a in arrays.values()):
                return arrays
        except (OSError, ValueError, KeyError):
            pass  # unreadable or partial: convert again
    arrays = read_anb(raw)
    try:
        with replacing(cached, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError:
        pass  # a read-only home: work from memory
    return arrays
