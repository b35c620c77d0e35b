"""`nb201`: the NAS-Bench-201 cell space, answered from the `analog-nasbench` table.

The space
---------
A NAS-Bench-201 cell is a DAG on nodes 0 (the cell input) to 3 (the cell output); each
of its 6 edges i->j carries one of 5 operations and node j sums its incoming edges. The
choices here are the edges in NAS-Bench-201's string order

    0->1, 0->2, 1->2, 0->3, 1->3, 2->3
    i.e. the arch string  |op~0|+|op~0|op~1|+|op~0|op~1|op~2|

and each choice's options are NAS-Bench-201's operations in its own order: none,
skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3. 5**6 = 15,625 cells, all distinct
genotypes (no conditions). `arch_string` / `from_arch_string` convert to and from the
arch string; `describe_genotype` shows it.

The data
--------
`analog-nasbench` 0.1.3 (AnalogNAS-Bench, IBM) ships `analognasbench/data.anb`: a pickle
of a dict {op-index 6-tuple: analognasbench.data.Architecture} whose records hold plain
floats (`baseline_accuracy`, `ptq_accuracy`, `qat_accuracy`, `noisy_accuracy`,
`analog_accuracy`, in percent) and drift records (`DriftMeasurement`, not used here).
`baseline_accuracy` is the CIFAR-10 *test* accuracy after 200 epochs of standard
training, one figure per cell for all 15,625 cells. The table was made with NASLib
(`NasBench201SearchSpace.set_spec(tuple)`), so its keys use NASLib's op-index convention:

    tuple position p -> edge     (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)   (NASLib EDGE_LIST)
    op index         -> op       0 skip_connect, 1 none, 2 nor_conv_3x3,
                                 3 nor_conv_1x1, 4 avg_pool_3x3        (NASLib OP_NAMES)

so e.g. the data key (2, 2, 0, 2, 2, 2) is
`|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|`
(NAS-Bench-201's own best CIFAR-10 cell). The mapping is checked against the data by
tests/test_tabular.py: exactly the 341 cells with no non-`none` path from node 0 to
node 3 sit at chance (10.0%) - which pins the `none` index and the edge positions up to
the DAG's reversal symmetry - the all-nor_conv_3x3 cell is among the best and the
all-none cell at chance, and 11 cells with published NAS-Bench-201 CIFAR-10 accuracies
rank identically (mean difference about half a point). The reversal symmetry is broken
by the op order, which is NASLib's and no one else's, and NASLib's edge list.

The data has no validation split: the search ranks cells by the same CIFAR-10 test
accuracy that is reported (`val_top1 == test_top1`), so a result on this space measures
the search algorithm, not generalisation. Fitness is a fraction in [0, 1] (94.07% ->
0.9407); regret = (`optimum()` - found) * 100 accuracy points.

Reading the pickle never runs its code: a restricted unpickler allows only the two
record classes (mapped to a plain local record type, their modules are not imported)
and refuses every other global. The accuracies are converted once to an `.npz` in
`$XDG_CACHE_HOME/archsearch` (default `~/.cache/archsearch`), keyed by the data
file's SHA-256, and read from there (without pickle) afterwards.

Costs
-----
The table has no cost columns, so `params` and `macs` are computed analytically for
the NAS-Bench-201 network the accuracies belong to (CIFAR-10, C=16, N=5: a 3x3 stem,
three stages of 5 cells at 16/32/64 channels and 32/16/8 pixels, two ResNet reduction
blocks, BN-ReLU, global pooling, a linear classifier). `params` counts weights and
affine BatchNorm parameters and equals what NAS-Bench-201 publishes (e.g. 129,306 and
802,426 parameters, checked in the tests); `macs` counts the multiply-accumulates of
the convolutions and the classifier (BatchNorm, pooling and additions excluded).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import itertools
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from archspace.choice import Choice
from archspace.errors import ArchSpaceError, GenotypeError
from archspace.genotype import Genotype
from archspace.plugin import SpacePlugin
from archspace.space import Space

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
SELECTION_NOTE = (
    "selection and reporting use the same CIFAR-10 accuracy (the data has no validation split)"
)

# ---- the NAS-Bench-201 network (CIFAR-10: C=16, N=5, 32x32 input, 10 classes) ----------

_STAGES = ((16, 32), (32, 16), (64, 8))  # (channels, feature-map side) of each cell stage
_CELLS_PER_STAGE = 5
_NUM_CLASSES = 10


def _conv(c_in: int, c_out: int, k: int, side: int, bn: bool = True) -> tuple[int, int]:
    """(params, MACs) of a bias-free k x k convolution (+ affine BatchNorm) at `side`."""
    params = k * k * c_in * c_out + (2 * c_out if bn else 0)
    return params, k * k * c_in * c_out * side * side


def _base_cost() -> tuple[int, int]:
    """(params, MACs) of everything but the cells: stem, reduction blocks, head."""
    parts = [_conv(3, 16, 3, 32)]  # stem: conv3x3 + BN
    for (c_in, _), (c_out, side) in itertools.pairwise(_STAGES):
        parts.append(_conv(c_in, c_out, 3, side))  # ResNet block conv_a (stride 2) + BN
        parts.append(_conv(c_out, c_out, 3, side))  # conv_b + BN
        parts.append(_conv(c_in, c_out, 1, side, bn=False))  # shortcut: avgpool + conv1x1
    c_last = _STAGES[-1][0]
    parts.append((2 * c_last, 0))  # last BN (ReLU, global pooling: no parameters)
    parts.append((c_last * _NUM_CLASSES + _NUM_CLASSES, c_last * _NUM_CLASSES))  # classifier
    return sum(p for p, _ in parts), sum(m for _, m in parts)


def _op_cost(op: str) -> tuple[int, int]:
    """(params, MACs) one edge's operation adds over the whole network (15 cells)."""
    k = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}.get(op)
    if k is None:  # none, skip_connect, avg_pool_3x3: parameter-free, no multiplies
        return 0, 0
    costs = [_conv(c, c, k, side) for c, side in _STAGES]
    return (
        _CELLS_PER_STAGE * sum(p for p, _ in costs),
        _CELLS_PER_STAGE * sum(m for _, m in costs),
    )


BASE_PARAMS, BASE_MACS = _base_cost()
_OP_PARAMS = np.array([_op_cost(op)[0] for op in OPS], dtype=np.int64)
_OP_MACS = np.array([_op_cost(op)[1] for op in OPS], dtype=np.int64)
_RADIX = len(OPS) ** np.arange(len(EDGES) - 1, -1, -1, dtype=np.int64)  # cell code digits


def cell_codes(rows: np.ndarray) -> np.ndarray:
    """Cell number 0..15624 of each row of op indices (base-5 digits, edges in order)."""
    return np.asarray(rows, dtype=np.int64) @ _RADIX


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
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only home: work from memory
    return arrays


# ---- the space ------------------------------------------------------------------------


def nb201_space() -> Space:
    """6 edge choices (NAS-Bench-201 string order) over its 5 operations each."""
    return Space(
        [Choice(f"edge_{i}_{j}", OPS, level="cell", default="nor_conv_3x3") for i, j in EDGES],
        name="nb201",
    )


def arch_string(ops: Sequence[str]) -> str:
    """NAS-Bench-201's arch string of 6 operations in edge order."""
    by_edge = dict(zip(EDGES, ops))
    nodes = ["|" + "|".join(f"{by_edge[(i, j)]}~{i}" for i in range(j)) + "|" for j in (1, 2, 3)]
    return "+".join(nodes)


def parse_arch_string(text: str) -> tuple[str, ...]:
    """The 6 operations (edge order) of an arch string; GenotypeError says what is wrong."""
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    if not isinstance(text, str):
        raise GenotypeError(f"a NAS-Bench-201 arch string must be a string, got {text!r}")
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise GenotypeError(
            f"{text!r} is not a NAS-Bench-201 arch string: it needs 3 node groups joined by "
            f"'+', e.g. {example}"
        )
    found: dict[tuple[int, int], str] = {}
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise GenotypeError(f"{text!r}: node group {node!r} must be '|op~i|...|'")
        items = node[1:-1].split("|")
        if len(items) != j:
            raise GenotypeError(f"{text!r}: node {j} needs {j} inputs (~0..~{j - 1}), got {node!r}")
        for i, item in enumerate(items):
            op, sep, source = item.partition("~")
            if not sep or source != str(i):
                raise GenotypeError(
                    f"{text!r}: input {i} of node {j} must be written 'op~{i}', got {item!r}"
                )
            if op not in OPS:
                raise GenotypeError(
                    f"{text!r}: unknown operation {op!r}; allowed: {', '.join(OPS)}"
                )
            found[(i, j)] = op
    return tuple(found[edge] for edge in EDGES)


class NasBench201Plugin(SpacePlugin):
    """NAS-Bench-201's 15,625 cells; fitness is analog-nasbench's CIFAR-10 accuracy."""

    name: ClassVar[str] = "nb201"
    summary: ClassVar[str] = (
        "NAS-Bench-201 cells (15,625) with tabulated CIFAR-10 accuracy (analog-nasbench); "
        + SELECTION_NOTE
    )
    metrics: ClassVar[tuple[str, ...]] = ("params", "macs")

    def __init__(self, accuracy: str = "baseline") -> None:
        if accuracy not in ACCURACIES:
            raise ValueError(
                f"space nb201: unknown accuracy {accuracy!r}; allowed: {', '.join(ACCURACIES)}"
            )
        self.accuracy = accuracy
        self._space = nb201_space()
        arrays = load_accuracies()
        self._table = arrays[ACCURACIES[accuracy]] / 100.0  # fraction, by cell code
        self._table.setflags(write=False)

    @property
    def space(self) -> Space:
        return self._space

    def options(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy}

    # ---- naming ------------------------------------------------------------------------

    def arch_string(self, genotype: Genotype) -> str:
        return arch_string([OPS[i] for i in genotype.indices])

    def from_arch_string(self, text: str) -> Genotype:
        return self._space.from_values(dict(zip(self._space.names, parse_arch_string(text))))

    def describe_genotype(self, genotype: Genotype) -> str:
        return self.arch_string(genotype)

    def presets(self) -> Mapping[str, Genotype]:
        return {
            # NAS-Bench-201's ResNet cell: x + conv3x3(conv3x3(x))
            "resnet": self.from_arch_string(
                "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
            ),
            "all-conv3x3": self.from_arch_string(arch_string(["nor_conv_3x3"] * len(EDGES))),
        }

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return ("resnet", "all-conv3x3")  # known without loading the data

    def default_budgets(self) -> dict[str, float]:
        """No budget unless asked: a tabular benchmark is searched over all its cells."""
        return {}

    def check_run_settings(self, workbench: Mapping[str, Any]) -> None:
        for key in workbench:
            if key in ("data", "download"):
                raise ValueError(
                    f"space nb201 looks its CIFAR-10 accuracies up in a table; it takes no "
                    f"{key} setting (got {key}={workbench[key]!r})"
                )

    # ---- fitness -------------------------------------------------------------------------

    def accuracy_batch(self, rows: np.ndarray) -> np.ndarray:
        """Accuracy (fraction) of each row of option indices."""
        return self._table[cell_codes(rows)]

    def fitness(self, genotype: Genotype) -> float:
        """The tabulated accuracy of one cell, as a fraction in [0, 1]."""
        return float(self._table[cell_codes(np.array([genotype.indices]))[0]])

    def optimum(self, budgets: Mapping[str, float] | None = None) -> float:
        """The best accuracy (fraction) of any cell, or of any within `budgets`."""
        return float(self._table[self.best_code(budgets)])

    def best(self, budgets: Mapping[str, float] | None = None) -> Genotype:
        """A cell with the best accuracy (within `budgets`)."""
        code = self.best_code(budgets)
        digits = [(code // int(r)) % len(OPS) for r in _RADIX]
        return self._space.canonical(digits)

    def best_code(self, budgets: Mapping[str, float] | None = None) -> int:
        allowed = np.ones(NUM_CELLS, dtype=bool)
        if budgets:
            costs = self.cost_batch(self._all_rows())
            for metric, bound in budgets.items():
                if metric not in self.metrics:
                    raise ValueError(
                        f"space nb201 has no cost metric {metric!r}; its metrics: "
                        + ", ".join(self.metrics)
                    )
                allowed &= costs[metric] <= bound
        if not allowed.any():
            raise ValueError(f"no NAS-Bench-201 cell fits the budgets {dict(budgets or {})}")
        return int(np.flatnonzero(allowed)[np.argmax(self._table[allowed])])

    def _all_rows(self) -> np.ndarray:
        codes = np.arange(NUM_CELLS, dtype=np.int64)
        return (codes[:, None] // _RADIX[None, :]) % len(OPS)

    # ---- cost ----------------------------------------------------------------------------

    def cost(self, genotype: Genotype) -> dict[str, float]:
        costs = self.cost_batch(np.array([genotype.indices]))
        return {metric: float(costs[metric][0]) for metric in self.metrics}

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64)
        return {
            "params": (BASE_PARAMS + _OP_PARAMS[rows].sum(axis=1)).astype(float),
            "macs": (BASE_MACS + _OP_MACS[rows].sum(axis=1)).astype(float),
        }

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float] | None:
        if metric not in self.metrics:
            return None
        table = {"params": _OP_PARAMS, "macs": _OP_MACS}[metric]
        base = {"params": BASE_PARAMS, "macs": BASE_MACS}[metric]
        space = space or self._space
        low = high = float(base)
        for position, _ in enumerate(space.choices):
            if position in space.pins:
                low += table[space.pins[position]]
                high += table[space.pins[position]]
            else:
                low += table.min()
                high += table.max()
        return low, high

    def workbench(self, config: Mapping[str, Any] | None = None) -> NasBench201Workbench:
        return NasBench201Workbench(self)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "selection": SELECTION_NOTE}


class NasBench201Workbench:
    """No training: `evaluate` and `retrain` look the accuracy up (a fraction in [0, 1])."""

    def __init__(self, plugin: NasBench201Plugin) -> None:
        self.plugin = plugin

    def data_summary(self) -> str:
        return (
            f"nb201: CIFAR-10 accuracy ({self.plugin.accuracy}) of all {NUM_CELLS:,} cells "
            f"from analog-nasbench; no training; {SELECTION_NOTE}"
        )

    def train_supernet(self, space: Space, stage: str) -> None:
        return None

    def evaluate(self, genotypes: Sequence[Genotype], stage: str) -> list[float]:
        if not genotypes:
            return []
        rows = np.array([g.indices for g in genotypes], dtype=np.int64)
        return self.plugin.accuracy_batch(rows).tolist()

    def retrain(self, genotype: Genotype, stage: str) -> dict[str, float]:
        accuracy = self.plugin.fitness(genotype)
        return {"val_top1": accuracy, "test_top1": accuracy}
