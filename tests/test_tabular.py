"""Tabular spaces: nb201 (analog-nasbench's NAS-Bench-201 table) and the generic table."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from archspace import GenotypeError, load_space
from tabular_space import nb201, nb201_data
from tabular_space.nb201 import NasBench201Plugin, arch_string, parse_arch_string
from tabular_space.nb201_data import (
    EDGES,
    OPS,
    MissingTabularData,
    RestrictedUnpickler,
    read_anb,
)
from tabular_space.table import TablePlugin

HAS_DATA = importlib.util.find_spec("analognasbench") is not None
needs_data = pytest.mark.skipif(
    not HAS_DATA,
    reason="analog-nasbench is not installed (pip install 'archsearch[tabular]'); "
    "the nb201 data tests need its table",
)

BEST_NB201 = (  # NAS-Bench-201's best CIFAR-10 cell (94.37% test there)
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
ALL_CONV3 = arch_string(["nor_conv_3x3"] * 6)
# CIFAR-10 test accuracies NAS-Bench-201 publishes for these cells (its 200-epoch runs)
PUBLISHED = {
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|": 85.86,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": 93.66,
    "|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|"
    "+|none~0|skip_connect~1|skip_connect~2|": 88.53,
    "|skip_connect~0|+|skip_connect~0|nor_conv_1x1~1|"
    "+|nor_conv_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|": 91.10,
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|"
    "+|none~0|skip_connect~1|avg_pool_3x3~2|": 53.09,
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|none~2|": 91.94,
    "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|": 75.85,
    "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|": 93.82,
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|nor_conv_1x1~0|avg_pool_3x3~1|avg_pool_3x3~2|": 90.99,
    "|none~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|": 92.04,
    "|skip_connect~0|+|nor_conv_3x3~0|none~1|"
    "+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|": 90.11,
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test converts into (and reads) its own cache folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def plugin():
    if not HAS_DATA:
        pytest.skip("analog-nasbench is not installed (pip install 'archsearch[tabular]')")
    return NasBench201Plugin()


def connected(ops: tuple[str, ...]) -> bool:
    """Whether some path from node 0 to node 3 avoids `none`."""
    reach = {0}
    for node in (1, 2, 3):
        if any(i in reach and op != "none" for (i, j), op in zip(EDGES, ops) if j == node):
            reach.add(node)
    return 3 in reach


# ---- torch-free, no data needed ---------------------------------------------------------


def test_import_needs_no_torch():
    code = (
        "import sys, tabular_space, tabular_space.nb201, tabular_space.table; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'analognasbench' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_arch_string_round_trip_and_errors():
    ops = ("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect")
    assert arch_string(ops) == RESNET
    assert parse_arch_string(RESNET) == ops
    for bad in (
        "",
        "|none~0|+|none~0|none~1|",
        RESNET.replace("~2", "~1"),
        RESNET.replace("none~1", "conv~1"),
    ):
        with pytest.raises(GenotypeError):
            parse_arch_string(bad)


def test_missing_package_message(monkeypatch):
    monkeypatch.setattr(nb201_data, "_find_package", lambda: None)
    with pytest.raises(MissingTabularData, match=r"pip install 'archsearch\[tabular\]'"):
        NasBench201Plugin()
    with pytest.raises(ImportError):  # also an ImportError (and a ValueError for the CLI)
        load_space("nb201")


def test_restricted_unpickler_refuses_other_globals():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    data = pickle.dumps({(0,) * 6: Evil()})
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load builtins\.print"):
        read_anb(data)
    import os

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(os.getcwd))).load()


def test_restricted_unpickler_reads_records_without_importing_them(monkeypatch):
    """A record pickled under analog-nasbench's class name loads as plain fields."""
    import types

    fake = types.ModuleType("analognasbench.data")

    class Architecture:
        pass

    Architecture.__module__ = "analognasbench.data"
    Architecture.__qualname__ = "Architecture"
    fake.Architecture = Architecture
    monkeypatch.setitem(sys.modules, "analognasbench", types.ModuleType("analognasbench"))
    monkeypatch.setitem(sys.modules, "analognasbench.data", fake)
    record = Architecture()
    record.baseline_accuracy = 93.5
    data = pickle.dumps({(2,) * 6: record})
    monkeypatch.delitem(sys.modules, "analognasbench.data")
    monkeypatch.delitem(sys.modules, "analognasbench")
    loaded = RestrictedUnpickler(io.BytesIO(data)).load()
    assert loaded[(2,) * 6].baseline_accuracy == 93.5
    assert type(loaded[(2,) * 6]).__module__ == "tabular_space.nb201_data"
    with pytest.raises(ValueError, match="ptq_accuracy is None"):
        read_anb(data)  # one cell, lacking the other fields: refused by name


def test_analytic_params_match_nas_bench_201():
    """NAS-Bench-201 publishes 129,306 and 802,426 parameters (CIFAR-10) for these cells
    and 1.53M for the all-conv3x3 one; the all-none network is stem + reductions + head."""
    space = nb201.nb201_space()
    plugin = NasBench201Plugin.__new__(NasBench201Plugin)  # costs need no data
    plugin._space = space

    def params(text):
        g = space.from_values(dict(zip(space.names, parse_arch_string(text))))
        return plugin.cost(g)

    names = list(PUBLISHED)
    assert params(names[0])["params"] == 129_306
    assert params(names[1])["params"] == 802_426
    assert params(ALL_CONV3)["params"] == 1_531_546
    assert params(arch_string(["none"] * 6)) == {"params": 73_306.0, "macs": 7_783_040.0}
    # one nor_conv_3x3 edge: 9*C^2 MACs per pixel in each of the 15 cells
    one = params(arch_string(["nor_conv_3x3"] + ["none"] * 5))["macs"] - 7_783_040
    assert one == 5 * sum(9 * c * c * s * s for c, s in ((16, 32), (32, 16), (64, 8)))


# ---- nb201 with the data ------------------------------------------------------------------


@needs_data
def test_every_cell_distinct_and_accuracies_plausible(plugin):
    rows = plugin.space.enumerate(plugin.space.names)
    assert len(rows) == 15_625
    assert len({tuple(r) for r in rows.tolist()}) == 15_625
    accuracy = plugin.accuracy_batch(rows)
    assert np.isfinite(accuracy).all()
    assert accuracy.min() >= 0.099 and accuracy.max() < 0.95


@needs_data
def test_disconnected_cells_are_exactly_the_ones_at_chance(plugin):
    """Pins the `none` op and the edge positions (up to reversing the DAG)."""
    rows = plugin.space.enumerate(plugin.space.names)
    accuracy = plugin.accuracy_batch(rows)
    dead = np.array([not connected(tuple(OPS[i] for i in r)) for r in rows.tolist()])
    assert dead.sum() == 341
    assert np.allclose(accuracy[dead], 0.10, atol=1e-6)
    assert (accuracy[~dead] > 0.11).all()


@needs_data
def test_known_cells(plugin):
    best = plugin.best()
    assert plugin.arch_string(best) == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    )
    assert plugin.optimum() == pytest.approx(0.940664)
    # NAS-Bench-201's own best cell is third here, 0.08 points behind
    nb201_best = plugin.fitness(plugin.from_arch_string(BEST_NB201))
    assert nb201_best == pytest.approx(0.93988)
    table = plugin.accuracy_batch(plugin.space.enumerate(plugin.space.names))
    assert (table > nb201_best).sum() == 2
    # the all-conv3x3 cell is among the best 3%, ResNet's cell close behind
    all_conv3 = plugin.fitness(plugin.from_arch_string(ALL_CONV3))
    assert all_conv3 == pytest.approx(0.932424) and (table > all_conv3).mean() < 0.03
    assert plugin.fitness(plugin.presets()["resnet"]) == pytest.approx(0.934416)
    # the "ResNet-like" string with none~2: node 3 = x, the cells are identities
    identity_cells = RESNET.replace("skip_connect~2", "none~2")
    assert plugin.fitness(plugin.from_arch_string(identity_cells)) == pytest.approx(0.863164)
    assert plugin.fitness(plugin.from_arch_string(arch_string(["none"] * 6))) == 0.10


@needs_data
def test_published_accuracies_rank_the_same(plugin):
    ours = np.array([plugin.fitness(plugin.from_arch_string(s)) * 100 for s in PUBLISHED])
    theirs = np.array(list(PUBLISHED.values()))
    error = np.abs(ours - theirs).mean()
    assert error < 1.0
    rank = lambda a: np.argsort(np.argsort(a))  # noqa: E731
    assert np.corrcoef(rank(ours), rank(theirs))[0, 1] > 0.95
    # and the op order is right: swapping any two non-none ops agrees clearly worse
    for a, b in itertools.combinations(
        ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"), 2
    ):
        swapped = np.array(
            [
                plugin.fitness(
                    plugin.from_arch_string(s.replace(a, "@").replace(b, a).replace("@", b))
                )
                * 100
                for s in PUBLISHED
            ]
        )
        assert np.abs(swapped - theirs).mean() > error + 1.0, (a, b)


@needs_data
def test_cache_is_written_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = NasBench201Plugin()
    cached = list((tmp_path / "archsearch").glob("nb201-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(nb201_data, "read_anb", lambda *a: pytest.fail("converted again"))
    again = NasBench201Plugin()
    assert np.array_equal(first._table, again._table)
    with np.load(cached[0], allow_pickle=False) as saved:
        assert saved["baseline_accuracy"].shape == (15_625,)


@needs_data
def test_workbench_and_fast_random_search(plugin):
    bench = plugin.workbench({"seed": 0, "profile": "quick", "run_dir": "x"})
    assert "selection and reporting use the same CIFAR-10 accuracy" in bench.data_summary()
    assert "no validation split" in plugin.describe()["summary"]
    g = plugin.from_arch_string(BEST_NB201)
    assert bench.retrain(g, "s") == {
        "val_top1": pytest.approx(0.93988),
        "test_top1": pytest.approx(0.93988),
    }
    bench.train_supernet(plugin.space, "s")
    rng = np.random.default_rng(0)
    best = -1.0
    for _ in range(200):
        genotype = plugin.space.sample(rng)
        best = max(best, bench.evaluate([genotype], "search")[0])
    regret_points = (plugin.optimum() - best) * 100
    assert 0 <= regret_points < 5


@needs_data
def test_budgets_and_optimum_within_them(plugin):
    assert plugin.metrics == ("params", "macs")
    plugin.budgets({"params": 500_000, "macs": 1e8})
    inside = plugin.optimum({"params": 500_000})
    assert inside < plugin.optimum()
    assert plugin.cost(plugin.best({"params": 500_000}))["params"] <= 500_000
    with pytest.raises(ValueError, match="download"):
        plugin.check_run_settings({"download": True})
    plugin.check_run_settings({"seed": 0, "profile": "quick", "device": "cpu"})
    plugin.check_run_settings({"data": "builtin:fashion-mnist"})  # the proxies' minibatch
    assert plugin.default_budgets() == {}


@needs_data
def test_run_through_the_pipeline(plugin, tmp_path):
    from strategies.run import RunConfig, start_run

    config = RunConfig(space="nb201", strategy="random", budgets={"params": 1e6})
    result = start_run(config, tmp_path / "run", plugin=plugin)
    assert result.metrics["val_top1"] == result.metrics["test_top1"]
    assert result.costs["params"] <= 1e6


# ---- the generic table --------------------------------------------------------------------


def write_csv(path, rows, header):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def bench_csv(tmp_path):
    rows = []
    for depth, width, act in itertools.product((2, 4), (16, 32, 64), ("relu", "gelu")):
        acc = 0.5 + 0.05 * depth + width / 1000 + (0.01 if act == "gelu" else 0)
        rows.append(f"{depth},{width},{act},{acc:.4f},{depth * width * 100},{depth * 1.5}")
    return write_csv(tmp_path / "bench.csv", rows, "depth,width,act,accuracy,params,latency")


def test_table_space_from_csv(bench_csv):
    plugin = load_space("table", file=str(bench_csv))
    assert plugin.space.names == ("depth", "width", "act")
    assert plugin.space.choice("width").options == (16, 32, 64)
    assert plugin.space.choice("act").options == ("gelu", "relu")
    assert plugin.space.size == 12 == plugin.rows
    assert plugin.metric == "accuracy" and plugin.metrics == ("params", "latency")
    g = plugin.space.from_values({"depth": 4, "width": 64, "act": "gelu"})
    assert plugin.fitness(g) == pytest.approx(0.774)
    assert plugin.cost(g) == {"params": 25_600.0, "latency": 6.0}
    assert plugin.optimum() == pytest.approx(0.774)
    assert plugin.optimum({"params": 10_000}) == pytest.approx(0.726)  # depth 4, width 16
    bench = plugin.workbench({})
    assert bench.retrain(g, "s")["test_top1"] == pytest.approx(0.774)
    assert "same metric column" in bench.data_summary()
    plugin.budgets({"params": 5000, "latency": 4})


def test_table_missing_rows_fail_and_cost_nan(tmp_path):
    path = write_csv(tmp_path / "sparse.csv", ["a,x,0.5", "b,y,0.7"], "arch,kind,top1")
    plugin = TablePlugin(file=path)
    assert plugin.metric == "top1" and plugin.space.size == 4 and plugin.rows == 2
    missing = plugin.space.from_values({"arch": "a", "kind": "y"})
    assert np.isnan(plugin.workbench({}).evaluate([missing], "s")[0])
    assert np.isnan(plugin.cost_batch(plugin.space.to_array([missing])).get("x", [np.nan])[0])
    with pytest.raises(ValueError, match="has no row"):
        plugin.fitness(missing)
    with pytest.raises(ValueError, match="no cost columns"):
        plugin.budgets({"params": 1})


def test_table_jsonl_and_options(tmp_path):
    path = tmp_path / "bench.jsonl"
    lines = [
        {"ops": ["conv", "pool"], "lr": 0.1, "score": 1.0, "val_acc": 0.3, "macs": 5},
        {"ops": ["conv", "conv"], "lr": 0.1, "score": 2.0, "val_acc": 0.4, "macs": 7},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    plugin = TablePlugin(file=path, metric="score", choices="ops")
    assert plugin.space.choice("ops").options == (("conv", "conv"), ("conv", "pool"))
    assert plugin.metrics == ("macs",)
    g = plugin.space.from_values({"ops": ("conv", "conv")})
    assert plugin.fitness(g) == 2.0
    default = TablePlugin(file=path)  # val_acc is the fitness, the other columns choices
    assert default.metric == "val_acc" and default.space.names == ("ops", "lr", "score")


def test_table_errors(tmp_path, bench_csv):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        TablePlugin(file=tmp_path / "nope.csv")
    with pytest.raises(ValueError, match=r"space\.file"):
        TablePlugin()
    with pytest.raises(ValueError, match=r"bench\.csv.*unknown column 'size'.*depth, width"):
        TablePlugin(file=bench_csv, choices="depth,size")
    with pytest.raises(ValueError, match=r"metric.*unknown column"):
        TablePlugin(file=bench_csv, metric="acc")
    with pytest.raises(ValueError, match=r"metric column 'act' must be numeric; row 1 has 'relu'"):
        TablePlugin(file=bench_csv, metric="act")
    words = write_csv(tmp_path / "words.csv", ["a,good"], "arch,accuracy")
    with pytest.raises(ValueError, match=r"words\.csv.*no fitness column"):
        TablePlugin(file=words)
    dup = write_csv(tmp_path / "dup.csv", ["a,1", "a,2"], "arch,accuracy")
    with pytest.raises(ValueError, match="rows 1 and 2 describe the same architecture"):
        TablePlugin(file=dup)


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.jsonl"])
def test_a_table_that_is_not_utf8_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes("arch,accuracy\ncafé,0.5\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"{name}: not UTF-8 text .*byte 17"):
        TablePlugin(file=path)


def test_a_column_that_cannot_be_a_choice_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "spaces.jsonl"
    path.write_text(json.dumps({" arch": "a", "accuracy": 0.5}) + "\n")
    with pytest.raises(ValueError, match=r"spaces\.jsonl: a choice name must be"):
        TablePlugin(file=path)
