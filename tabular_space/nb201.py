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

The network
-----------
`NasBench201Plugin.build` gives that network for one cell as a torch module
(`tabular_space.nb201_net.NasBench201Network`, NAS-Bench-201's "TinyNetwork" of
"InferCell"s, freshly initialised), e.g. for zero-cost proxies of untrained networks;
its parameter count and the MACs torch's FlopCounterMode counts equal `params` and
`macs` (tests/test_nb201_network.py). NAS-Bench-201 trained without drop path, so
`build` takes a `drop_path_rate` for the interface only. Torch is imported by `build`
alone: importing this module stays torch-free.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from archspace.choice import Choice
from archspace.errors import GenotypeError
from archspace.genotype import Genotype
from archspace.parallel import RankGroup, SingleProcess, launched_world_size
from archspace.plugin import SpacePlugin
from archspace.space import Space
from tabular_space.lookup import LookupWorkbench
from tabular_space.nb201_data import (
    ACCURACIES,
    EDGES,
    NUM_CELLS,
    OPS,
    cell_codes,
    cell_rows,
    load_accuracies,
)

if TYPE_CHECKING:
    from torch import nn

    from oneshot.interface import ModelInput

#: what the zero-cost proxies' minibatch comes from unless the run names data: no
#: CIFAR-10 images ship offline; the embedded Fashion-MNIST subset stands in
PROXY_DATA = "builtin:fashion-mnist"

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
        if "download" in workbench:
            raise ValueError(
                "space nb201 looks its CIFAR-10 accuracies up in a table; it downloads "
                f"nothing (got download={workbench['download']!r})"
            )
        if "data" in workbench:  # only the zero-cost proxies' minibatch comes from data
            from oneshot.sources import data_info

            classes = data_info(workbench["data"]).num_classes
            if classes != _NUM_CLASSES:
                raise ValueError(
                    f"space nb201's networks have {_NUM_CLASSES} classes; the data "
                    f"{workbench['data']!r} (the proxies' minibatch) has {classes}"
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
        digits = cell_rows(np.array([code]))[0].tolist()
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
        return cell_rows(np.arange(NUM_CELLS))

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

    # ---- models --------------------------------------------------------------------------

    def model_input(self) -> ModelInput:
        """CIFAR-10: 3 x 32 x 32 images, 10 classes (what the tabulated networks took)."""
        from oneshot.interface import ModelInput

        return ModelInput(in_chans=3, img_size=32, num_classes=_NUM_CLASSES)

    def input_shape(self) -> tuple[int, ...]:
        model = self.model_input()
        return (model.in_chans, model.img_size, model.img_size)

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0) -> nn.Module:
        """NAS-Bench-201's CIFAR-10 network of the cell, freshly initialised.

        `drop_path_rate` is not used: the benchmark's networks have no drop path."""
        from tabular_space.nb201_net import NasBench201Network

        genotype = self._space.validate(genotype)  # GenotypeError for another space's
        return NasBench201Network(
            [OPS[i] for i in genotype.indices],
            channels=_STAGES[0][0],
            cells_per_stage=_CELLS_PER_STAGE,
            num_classes=_NUM_CLASSES,
        )

    def workbench(self, config: Mapping[str, Any] | None = None) -> NasBench201Workbench:
        config = config or {}
        return NasBench201Workbench(
            self,
            self.accuracy_batch,
            data=config.get("data") or PROXY_DATA,
            device=config.get("device") or "cpu",
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "selection": SELECTION_NOTE}


class NasBench201Workbench(LookupWorkbench):
    """No training: `evaluate` and `retrain` look the accuracy up (a fraction in [0, 1]).

    Zero-cost proxies score the cell's untrained network (`NasBench201Plugin.build`)
    on a minibatch of `data`'s training split resized to 3 x 32 x 32: the benchmark's
    CIFAR-10 when the user has it (`cifar10:DIR`), else Fashion-MNIST standing in
    (`PROXY_DATA`; synflow needs no images, so its scores are exact either way)."""

    def __init__(
        self, plugin: Any, lookup: Any, *, data: str = PROXY_DATA, device: str = "cpu"
    ) -> None:
        super().__init__(plugin, lookup)
        self.data, self.device = data, device
        self._batches: dict[tuple[int, int], Any] = {}
        self._ranks: RankGroup | None = None

    @property
    def ranks(self) -> RankGroup:  # type: ignore[override]
        """torchrun's process group when it launched this process (the processes then
        share out proxy scoring, and only the main one writes), else one process.
        Joined on first use, so a lookup that never asks stays torch-free."""
        if self._ranks is None:
            self._ranks = SingleProcess()
            if launched_world_size() > 1:
                from oneshot.distributed import init_from_env
                from oneshot.runtime import select_runtime

                self._ranks = init_from_env(select_runtime(self.device).device)
        return self._ranks

    def proxy_scores(
        self, genotype: Genotype, names: Sequence[str], *, batch_size: int = 64, seed: int = 0
    ) -> dict[str, float]:
        from oneshot.proxy_scoring import score_untrained, stand_in_batch
        from oneshot.runtime import select_runtime

        if (batch_size, seed) not in self._batches:
            device = select_runtime(self.device).device
            self._batches[batch_size, seed] = stand_in_batch(
                self.data, self.plugin.model_input(), batch_size, seed, device
            )
        images, labels = self._batches[batch_size, seed]
        return score_untrained(
            lambda: self.plugin.build(genotype), names, images, labels, seed=seed
        )

    def data_summary(self) -> str:
        return (
            f"nb201: CIFAR-10 accuracy ({self.plugin.accuracy}) of all {NUM_CELLS:,} cells "
            f"from analog-nasbench; no training; {SELECTION_NOTE}"
        )
