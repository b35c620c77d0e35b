"""Latency tables: building (resumable), prediction, compatibility checks, budgets on
latency for every searcher, `--budget latency=25ms`, and the `latency` commands.

A tiny fake space (a chain of residual-free MLP parts, three part keys, nn.Linear
modules) keeps every measurement in milliseconds; GLiT is tried when its plugin names
latency parts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner
from torch import nn

from archspace import Choice, Genotype, Space, SpacePlugin, load_space, spaces
from archspace.latency import LatencyTable, LatencyTableError
from archspace.latency_cost import LatencyCost
from archspace.metrics import metric
from cli.budgets import budget_text, format_cost, parse_budgets
from cli.main import cli
from cli.runconfig import build_config
from oneshot.plugin import MeasuresLatency
from strategies.driver import run_search
from strategies.evaluations import Evaluations
from strategies.searchers import searchers
from tests.conftest import small_searcher

HIDDEN = {"a": 8, "b": 32, "c": 128}
FAKE = "fake-latency"


class FakePlugin(MeasuresLatency, SpacePlugin):
    """`depth` parts in a chain, each a Linear-ReLU-Linear of hidden width a, b or c."""

    name = FAKE
    metrics = ("macs", "params")

    def __init__(self, depth: int = 3, features: int = 16) -> None:
        self.depth, self.features = depth, features
        self._space = Space(
            [Choice(f"layers.{i}.op", tuple(HIDDEN), level="op") for i in range(depth)],
            name=FAKE,
        )

    @property
    def space(self) -> Space:
        return self._space

    def options(self) -> dict:
        return {"depth": self.depth, "features": self.features}

    def _ops(self, genotype: Genotype) -> list[str]:
        return [genotype[f"layers.{i}.op"] for i in range(self.depth)]

    def cost(self, genotype: Genotype) -> dict[str, float]:
        macs = sum(2 * self.features * HIDDEN[op] for op in self._ops(genotype))
        params = macs + sum(HIDDEN[op] + self.features for op in self._ops(genotype))
        return {"macs": float(macs), "params": float(params)}

    def presets(self) -> dict[str, Genotype]:
        return {
            f"all-{op}": self._space.from_values({f"layers.{i}.op": op for i in range(self.depth)})
            for op in ("a", "c")
        }

    def latency_parts(self, genotype: Genotype) -> list[str]:
        return [f"op:{op}" for op in self._ops(genotype)]

    def latency_part_keys(self) -> list[str]:
        return [f"op:{op}" for op in HIDDEN]

    def latency_module(self, key: str):
        hidden = HIDDEN[key.removeprefix("op:")]
        module = nn.Sequential(
            nn.Linear(self.features, hidden), nn.ReLU(), nn.Linear(hidden, self.features)
        )
        return module.eval(), (self.features,)

    def input_shape(self) -> tuple[int, ...]:
        return (self.features,)

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0) -> nn.Module:
        return nn.Sequential(*(self.latency_module(k)[0] for k in self.latency_parts(genotype)))


ENTRIES = {"op:a": 1.0, "op:b": 2.0, "op:c": 3.5}


def synthetic_table(plugin: FakePlugin, path: Path | None = None, **settings) -> LatencyTable:
    base = {
        "device_kind": "cpu",
        "device_name": "Test CPU",
        "torch": "2.4.0",
        "threads": 1,
        "batch": 1,
        "dtype": "float32",
        "space": plugin.name,
        "space_options": plugin.options(),
        **settings,
    }
    entries = {k: {"median_ms": v, "iqr_ms": 0.01, "runs": 10} for k, v in ENTRIES.items()}
    table = LatencyTable(base, entries, path=path)
    if path is not None:
        table.save(path)
    return table


@pytest.fixture
def registered():
    spaces.register(FAKE, FakePlugin)
    yield
    spaces.unregister(FAKE)


class Killed(BaseException):
    """A crash mid-build (not an Exception)."""


# ---- building ----------------------------------------------------------------------


def test_build_is_complete_and_resumable(tmp_path) -> None:
    from oneshot.latency import build_table

    plugin, out = FakePlugin(), tmp_path / "lut.json"
    seen: list[str] = []

    def kill_after_two(key, entry) -> None:
        seen.append(key)
        if len(seen) == 2:
            raise Killed

    with pytest.raises(Killed):
        build_table(
            plugin, "cpu", 2, 1, out, progress=False, min_run_time=0.01, on_entry=kill_after_two
        )
    kept = LatencyTable.load(out)
    assert sorted(kept.entries) == sorted(seen) and len(kept.entries) == 2
    again: list[str] = []
    table, measured = build_table(
        plugin,
        "cpu",
        2,
        1,
        out,
        progress=False,
        min_run_time=0.01,
        on_entry=lambda key, entry: again.append(key),
    )
    assert measured == 1 and again == [k for k in plugin.latency_part_keys() if k not in seen]
    assert sorted(table.entries) == sorted(plugin.latency_part_keys())
    measured_fields = ("wall_ms", "iqr_ms", "runs", "ratio", "reference_ms")
    for key, entry in kept.entries.items():  # what was measured is kept as it was
        resumed = LatencyTable.load(out).entries[key]
        assert {f: resumed[f] for f in measured_fields} == {f: entry[f] for f in measured_fields}
    for entry in table.entries.values():
        assert entry["median_ms"] > 0 and entry["iqr_ms"] >= 0 and entry["runs"] >= 3
    # with the speed reference, median_ms is the ratio at the build's median reference speed
    speed = float(np.median([e["reference_ms"] for e in table.entries.values()]))
    assert table.reference["median_ms"] == pytest.approx(speed, rel=1e-5)
    middle = plugin.latency_parts(plugin.space.sample(np.random.default_rng(0)))[1]
    assert table.reference["part"] == middle
    for entry in table.entries.values():
        assert entry["median_ms"] == pytest.approx(entry["ratio"] * speed, rel=1e-4)
    saved = json.loads(out.read_text())
    assert saved["measured_on"]["device_kind"] == "cpu" and saved["measured_on"]["threads"] == 1
    assert saved["measured_on"]["batch"] == 2 and saved["measured_on"]["dtype"] == "float32"
    assert saved["measured_on"]["torch"] and saved["measured_on"]["device_name"]
    assert saved["space"] == {"name": FAKE, "options": {"depth": 3, "features": 16}}
    # a table with other settings is not resumed into
    with pytest.raises(LatencyTableError, match="batch"):
        build_table(plugin, "cpu", 4, 1, out, progress=False, min_run_time=0.01)


def test_the_table_side_is_torch_free() -> None:
    code = (
        "import archspace.latency, archspace.latency_cost, sys; "
        "assert 'torch' not in sys.modules, 'torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_measuring_does_not_import_cpp_extension() -> None:
    """torch.utils.cpp_extension (imported by torch.utils.benchmark) logs "No CUDA runtime
    is found" on CPU-only machines; the measuring side must not pull it in."""
    code = (
        "import oneshot.latency, oneshot.timing, cli.latency_cmd, sys; "
        "assert 'torch.utils.cpp_extension' not in sys.modules, 'cpp_extension'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "No CUDA runtime" not in done.stderr


# ---- prediction ----------------------------------------------------------------------


def test_prediction_is_the_sum_of_entries_and_the_correction() -> None:
    plugin = FakePlugin(depth=4)
    own = plugin.cost(plugin.space.default())
    assert plugin.add_cost_provider(LatencyCost(synthetic_table(plugin))) is plugin  # no wrapper
    assert plugin.cost_metrics == ("macs", "params", "latency") and plugin.metrics == (
        "macs",
        "params",
    )
    assert plugin.cost(plugin.space.default()) == own  # the space's own costs stay its own
    rows = plugin.space.sample_batch(50, rng=0)
    for genotype, value in zip(plugin.space.from_array(rows), plugin.costs_batch(rows)["latency"]):
        expected = sum(ENTRIES[k] for k in plugin.latency_parts(genotype))
        assert plugin.costs(genotype)["latency"] == pytest.approx(expected)
        assert value == pytest.approx(expected)
        assert plugin.costs(genotype)["macs"] == plugin.cost(genotype)["macs"]
    assert plugin.metric_range("latency") == (4 * 1.0, 4 * 3.5)
    assert plugin.metric_range("macs") == plugin.cost_range("macs")
    with pytest.raises(ValueError, match="already reports a metric 'latency'"):
        plugin.add_cost_provider(LatencyCost(synthetic_table(plugin)))
    corrected = LatencyCost(synthetic_table(plugin))
    corrected.table.correction = {"a": 1.5, "b": 0.25}
    plugin.add_cost_provider(corrected, replace=True)
    genotype = plugin.space.default()
    raw = sum(ENTRIES[k] for k in plugin.latency_parts(genotype))
    assert plugin.costs(genotype)["latency"] == pytest.approx(1.5 * raw + 0.25)
    assert len(plugin.cost_providers) == 1


def test_a_missing_key_names_it_and_says_rebuild() -> None:
    plugin = FakePlugin()
    table = synthetic_table(plugin)
    del table.entries["op:b"]
    genotype = plugin.space.from_values({f"layers.{i}.op": "b" for i in range(3)})
    with pytest.raises(LatencyTableError, match=r"'op:b'.*[Rr]ebuild"):
        LatencyCost(table).value(plugin, genotype)
    with pytest.raises(LatencyTableError, match=r"incomplete.*'op:b'"):
        plugin.add_cost_provider(LatencyCost(table))  # refused when given, too


def test_cost_batch_of_a_population_of_1000_is_fast() -> None:
    plugin = FakePlugin(depth=8)
    plugin.add_cost_provider(LatencyCost(synthetic_table(plugin)))
    rows = plugin.space.sample_batch(1000, rng=1)
    latency = plugin.costs_batch(rows)["latency"]
    assert latency.shape == (1000,) and np.isfinite(latency).all()


# ---- load_space and compatibility --------------------------------------------------------


def test_load_space_gives_latency_and_refuses_other_options(tmp_path, registered) -> None:
    path = tmp_path / "lut.json"
    synthetic_table(FakePlugin(depth=3), path)
    plugin = load_space(FAKE, depth=3, latency_table=str(path))
    assert isinstance(plugin, FakePlugin) and "latency" in plugin.cost_metrics
    assert plugin.options() == {"depth": 3, "features": 16}
    saved = plugin.load_options()  # a run's saved options give the latency back
    assert saved == {"depth": 3, "features": 16, "latency_table": str(path.resolve())}
    assert "latency" in load_space(FAKE, **saved).cost_metrics
    assert "latency" not in load_space(FAKE, depth=3).cost_metrics
    assert "latency" not in load_space(FAKE, depth=3, latency_table="").cost_metrics
    with pytest.raises(LatencyTableError, match=r"depth .table: 3, here: 4"):
        load_space(FAKE, depth=4, latency_table=str(path))
    table = LatencyTable.load(path)
    del table.entries["op:c"]
    table.save()
    with pytest.raises(LatencyTableError, match=r"incomplete.*'op:c'"):
        load_space(FAKE, depth=3, latency_table=str(path))
    with pytest.raises(FileNotFoundError, match="latency build"):
        load_space(FAKE, depth=3, latency_table=str(tmp_path / "nope.json"))


def test_a_table_from_other_settings_is_refused_unless_forced() -> None:
    table = synthetic_table(FakePlugin())
    here = {"device_kind": "cpu", "device_name": "Other CPU", "torch": "2.4.0", "threads": 2}
    with pytest.raises(LatencyTableError) as error:
        table.check_compatible(here)
    message = str(error.value)
    assert "device (table: 'Test CPU', here: 'Other CPU')" in message
    assert "threads (table: 1, here: 2)" in message and "--force" in message
    assert "torch version" not in message  # only what differs is named
    assert len(table.check_compatible(here, force=True)) == 2
    assert table.check_compatible({**here, "device_name": "Test CPU", "threads": 1}) == []
    with pytest.raises(LatencyTableError, match="device kind"):
        table.check_compatible({"device_kind": "cuda"})


# ---- budgets ---------------------------------------------------------------------------


def test_budget_latency_parsing() -> None:
    metrics = ("macs", "params", "latency")
    assert parse_budgets("latency=25ms", metrics) == {"latency": 25.0}
    assert parse_budgets("latency=0.5s", metrics) == {"latency": 500.0}
    assert parse_budgets("latency=800us", metrics) == {"latency": pytest.approx(0.8)}
    assert parse_budgets("latency=12", metrics) == {"latency": 12.0}
    assert parse_budgets("macs=1.4G,latency=25ms", metrics) == {"macs": 1.4e9, "latency": 25.0}
    assert parse_budgets({"latency": "25 ms"}, metrics) == {"latency": 25.0}
    assert metric("latency").parse("2.5E1ms") == 25.0
    with pytest.raises(ValueError, match="ms, s, us"):
        parse_budgets("latency=25min", metrics)
    with pytest.raises(ValueError, match="positive"):
        parse_budgets("latency=0ms", metrics)
    with pytest.raises(ValueError, match="latency table"):
        parse_budgets("latency=25ms", ("macs", "params"))
    assert budget_text({"macs": 1.4e9, "latency": 25.0}) == "macs <= 1.4G, latency <= 25 ms"
    assert format_cost("latency", 12.345) == "12.3 ms"


def test_run_config_with_a_latency_table_and_budget(tmp_path, registered) -> None:
    path = tmp_path / "lut.json"
    synthetic_table(FakePlugin(), path)
    config = build_config(
        {"space": FAKE, "strategy": "random", "budget": "latency=8ms,macs=5K"},
        {"space.latency_table": str(path)},
    )
    assert config.budgets == {"latency": 8.0, "macs": 5000.0}
    with pytest.raises(Exception, match="latency table"):
        build_config({"space": FAKE, "strategy": "random", "budget": "latency=8ms"}, {})


@pytest.fixture(params=searchers.names())
def searcher_name(request) -> str:
    return request.param


def test_a_latency_budget_constrains_every_searcher(searcher_name) -> None:
    plugin = FakePlugin(depth=6)
    plugin.add_cost_provider(LatencyCost(synthetic_table(plugin)))
    bound = 12.0  # of 6 (all a) .. 21 (all c) ms
    constraint = plugin.budgets({"latency": bound})
    searcher = small_searcher(searcher_name, generations=3, samples=30, trials=30)
    evaluated: list[Genotype] = []

    def fitness(batch):
        evaluated.extend(batch)
        return [float(plugin.cost(g)["macs"]) for g in batch]  # bigger is "better"

    result = run_search(
        searcher, plugin.space, Evaluations(fitness), constraint, max_evaluations=30
    )
    assert evaluated, "nothing was evaluated"
    assert max(plugin.costs(g)["latency"] for g in evaluated) <= bound
    assert plugin.costs(result.best)["latency"] <= bound
    # and a combined budget: latency and MACs both bind
    both = plugin.budgets({"latency": bound, "macs": 6_000})
    rows = plugin.space.sample_batch(200, rng=0)
    mask = both.allows_batch(rows)
    costs = plugin.costs_batch(rows)
    assert np.array_equal(mask, (costs["latency"] <= bound) & (costs["macs"] <= 6_000))


# ---- the commands ------------------------------------------------------------------------


def test_latency_build_and_check_commands(tmp_path, registered) -> None:
    runner = CliRunner()
    lut = tmp_path / "lut.json"
    build = [
        "latency",
        "build",
        "--space",
        FAKE,
        "--set",
        "space.depth=2",
        "--device",
        "cpu",
        "--batch",
        "2",
        "--threads",
        "1",
        "--out",
        str(lut),
        "--min-run-time",
        "0.01",
    ]
    result = runner.invoke(cli, build)
    assert result.exit_code == 0, result.output
    assert "3 entries (3 measured now, 0 kept" in result.output
    assert "measured on cpu (" in result.output and "1 threads, batch 2" in result.output
    result = runner.invoke(cli, build)  # resumes: nothing left to measure
    assert result.exit_code == 0 and "0 measured now, 3 kept" in result.output
    out = tmp_path / "check"
    check = [
        "latency",
        "check",
        "--lut",
        str(lut),
        "--samples",
        "3",
        "--fit",
        "3",
        "--min-run-time",
        "0.01",
        "--out",
        str(out),
    ]
    result = runner.invoke(cli, check)
    assert result.exit_code == 0, result.output
    assert "MAPE" in result.output and "macs only" in result.output
    report = json.loads((out / "latency_check.json").read_text())
    assert (out / "latency_check.png").stat().st_size > 0
    evaluated = [r for r in report["networks"] if r["set"] == "eval"]
    fitted = [r for r in report["networks"] if r["set"] == "fit"]
    assert len(evaluated) == 3 + 2 and len(fitted) == 3  # 3 random + 2 presets; 3 to fit
    assert not {r["key"] for r in evaluated} & {r["key"] for r in fitted}
    assert report["table_predictor"]["mape_pct"] >= 0
    assert report["fit"]["fitted_on_networks"] == 3
    # a table measured with other settings: refused (exit 2), accepted with --force
    data = json.loads(lut.read_text())
    data["measured_on"]["device_name"] = "Some Other CPU"
    data["measured_on"]["torch"] = "1.0.0"
    lut.write_text(json.dumps(data))
    result = runner.invoke(cli, check)
    assert result.exit_code == 2
    assert "Some Other CPU" in result.output and "torch version" in result.output
    assert "--force" in result.output
    result = runner.invoke(cli, [*check, "--force", "--samples", "2", "--fit", "0"])
    assert result.exit_code == 0, result.output
    assert "forced despite" in result.output


def test_check_states_latency_at_the_build_speed_and_measures_named_archs(
    tmp_path, registered
) -> None:
    runner = CliRunner()
    lut = tmp_path / "lut.json"
    common = ["--threads", "1", "--batch", "2", "--min-run-time", "0.01", "--out", str(lut)]
    assert runner.invoke(cli, ["latency", "build", "--space", FAKE, *common]).exit_code == 0
    inner = FakePlugin()
    genotype = inner.space.from_values({"layers.0.op": "b", "layers.1.op": "a", "layers.2.op": "b"})
    arch = tmp_path / "mine.json"
    arch.write_text(
        json.dumps(
            {"space": FAKE, "space_options": inner.options(), "genotype": genotype.to_dict()}
        )
    )
    out = tmp_path / "check"
    check = ["latency", "check", "--lut", str(lut), "--samples", "2", "--min-run-time", "0.01"]
    wide = {"COLUMNS": "200"}  # no wrapped table cells
    result = runner.invoke(cli, [*check, "--arch", str(arch), "--out", str(out)], env=wide)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "machine speed" in flat and "against plain wall" in flat, result.output
    report = json.loads((out / "latency_check.json").read_text())
    speed = report["speed_reference"]
    assert speed["build_ms"] == LatencyTable.load(lut).reference["median_ms"]
    rows = {r["network"]: r for r in report["networks"]}
    assert rows[str(arch)]["key"] == genotype.key
    for row in rows.values():
        assert row["measured_ms"] == pytest.approx(np.mean(row["pass_ratios"]) * speed["build_ms"])
        assert row["wall_ms"] == min(row["pass_wall_ms"])
    other = tmp_path / "other.json"
    two = {"layers.0.op": "a", "layers.1.op": "a"}
    other.write_text(json.dumps({"space": FAKE, "space_options": {"depth": 2}, "genotype": two}))
    result = runner.invoke(cli, [*check, "--arch", str(other)])
    assert result.exit_code == 2 and "not of the table's space" in result.output
    # without the reference: wall time only
    plain = tmp_path / "plain.json"
    result = runner.invoke(
        cli, ["latency", "build", "--space", FAKE, *common[:-1], str(plain), "--no-speed-reference"]
    )
    assert result.exit_code == 0, result.output
    assert LatencyTable.load(plain).reference is None
    result = runner.invoke(
        cli,
        [
            "latency",
            "check",
            "--lut",
            str(plain),
            "--samples",
            "2",
            "--min-run-time",
            "0.01",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["speed_reference"] is None and "wall_predictor" not in report


class Throttled(nn.Module):
    """A module whose time per call is `base_ms` times the machine's current slowness
    (shared by every module), on the simulated clock of `simulated_seconds`."""

    slowness: ClassVar[list[float]] = [1.0]

    def __init__(self, base_ms: float) -> None:
        super().__init__()
        self.base_ms = base_ms

    def forward(self, x):
        return x


def simulated_seconds(module: nn.Module, x, number: int) -> float:
    """Stands in for `oneshot.timing.seconds_per_call`: no wall clock, so the test is
    exact on a loaded machine."""
    return module.base_ms * Throttled.slowness[0] / 1e3


def test_the_speed_reference_cancels_a_machine_slowing_down(monkeypatch) -> None:
    from oneshot.timing import SpeedReference, measure

    class ThrottledPlugin(FakePlugin):
        def latency_module(self, key):
            return Throttled(2.0), (4,)  # the reference part: 2 ms at full speed

    monkeypatch.setattr("oneshot.timing.seconds_per_call", simulated_seconds)
    monkeypatch.setattr(Throttled, "slowness", [1.0])
    plugin = ThrottledPlugin()
    reference = SpeedReference.for_space(plugin)
    timings = []
    for slowness in (1.0, 3.0):
        Throttled.slowness[0] = slowness
        timings.append(
            measure(Throttled(1.0), (4,), threads=1, min_run_time=0.03, reference=reference)
        )
    fast, slow = timings
    assert fast.median_ms == pytest.approx(1.0) and slow.median_ms == pytest.approx(3.0)
    assert fast.reference_ms == pytest.approx(2.0) and slow.reference_ms == pytest.approx(6.0)
    assert fast.ratio == pytest.approx(0.5) and slow.ratio == pytest.approx(0.5)  # unmoved


def test_cost_command_with_a_latency_table(tmp_path, registered) -> None:
    lut = tmp_path / "lut.json"
    inner = FakePlugin()
    synthetic_table(inner, lut)
    genotype = inner.space.from_values({"layers.0.op": "a", "layers.1.op": "b", "layers.2.op": "c"})
    arch = tmp_path / "arch.json"
    arch.write_text(
        json.dumps(
            {"space": FAKE, "space_options": inner.options(), "genotype": genotype.to_dict()}
        )
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["cost", str(arch), "--latency-table", str(lut), "-v", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["latency"] == pytest.approx(6.5)
    assert [p["part"] for p in data["latency_parts"]] == ["op:a", "op:b", "op:c"]
    result = runner.invoke(cli, ["cost", str(arch), "--latency-table", str(lut), "-v"])
    assert result.exit_code == 0 and "latency per part" in result.output
    result = runner.invoke(cli, ["cost", str(arch), "--latency-table", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "latency build" in result.output


# ---- a machine whose speed moved too much -------------------------------------------------


class ReferenceAt:
    """Stands in for `oneshot.timing.measure` with no clock: every part and network takes
    half the reference part's time, and the reference takes the next of `reference_ms`
    (the last one repeats)."""

    def __init__(self, *reference_ms: float) -> None:
        self.reference_ms = list(reference_ms)

    def __call__(self, module, shape, batch, device, threads, dtype, min_run_time, reference):
        from oneshot.timing import Timing

        ms = self.reference_ms.pop(0) if len(self.reference_ms) > 1 else self.reference_ms[0]
        if reference is None:
            return Timing(median_ms=ms / 2, iqr_ms=0.0, blocks=3)
        return Timing(median_ms=ms / 2, iqr_ms=0.0, blocks=3, ratio=0.5, reference_ms=ms)


def test_a_check_on_a_machine_far_slower_than_at_the_build_warns_and_strict_fails(
    tmp_path, registered, monkeypatch
) -> None:
    runner = CliRunner()
    lut = tmp_path / "lut.json"
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(2.0))
    build = ["latency", "build", "--space", FAKE, "--threads", "1", "--out", str(lut)]
    result = runner.invoke(cli, [*build, "--strict"])
    assert result.exit_code == 0 and "WARNING" not in result.output, result.output
    check = ["latency", "check", "--lut", str(lut), "--samples", "2", "--out", str(tmp_path)]
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(2.5))  # 1.25x: within the limit
    result = runner.invoke(cli, [*check, "--strict"])
    assert result.exit_code == 0 and "WARNING" not in result.output, result.output
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(28.0))  # 14x slower
    result = runner.invoke(cli, check)
    assert result.exit_code == 0, result.output  # warned, not failed
    flat = " ".join(result.stderr.split())
    assert "WARNING" in flat and "14.0x slower than during the build" in flat
    assert "unreliable" in flat and "idle machine" in flat and "rebuild the table" in flat
    report = json.loads((tmp_path / "latency_check.json").read_text())
    assert report["speed_reference"]["factor"] == pytest.approx(14.0)
    assert len(report["warnings"]) == 1
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(0.5))  # 4x faster, --json
    result = runner.invoke(cli, [*check, "--strict", "--json"])
    assert result.exit_code == 1, result.output
    assert "4.0x faster" in " ".join(result.stderr.split()) and "--strict" in result.stderr
    assert json.loads(result.stdout[result.stdout.index("{") :])["warnings"]


def test_a_build_during_which_the_speed_moved_warns_and_strict_fails(
    tmp_path, registered, monkeypatch
) -> None:
    runner = CliRunner()
    build = ["latency", "build", "--space", FAKE, "--threads", "1", "--out"]
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(2.0, 2.0, 1.6))  # within 1.5x
    result = runner.invoke(cli, [*build, str(tmp_path / "steady.json"), "--strict"])
    assert result.exit_code == 0 and "WARNING" not in result.output, result.output
    busy = tmp_path / "busy.json"
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(2.0, 2.0, 9.0))
    result = runner.invoke(cli, [*build, str(busy), "--strict"])
    assert result.exit_code == 1, result.output
    flat = " ".join(result.stderr.split())
    assert "1 of 3 entries" in flat and "4.5x slower" in flat and "Rebuild it" in flat
    assert len(LatencyTable.load(busy).entries) == 3  # the measurements are kept
    result = runner.invoke(cli, [*build, str(busy)])  # resumed: still unreliable, warned
    assert result.exit_code == 0 and "1 of 3 entries" in " ".join(result.stderr.split())
    # a check of that table says so too, though its own speed matches the build's
    monkeypatch.setattr("oneshot.latency.measure", ReferenceAt(2.0))
    check = ["latency", "check", "--lut", str(busy), "--samples", "2", "--strict"]
    result = runner.invoke(cli, [*check, "--out", str(tmp_path)])
    assert result.exit_code == 1 and "during the build" in result.stderr, result.output


# ---- GLiT, when its plugin names latency parts --------------------------------------------


def test_glit_table_when_available(tmp_path) -> None:
    from glit_space.plugin import GlitPlugin
    from oneshot.latency import build_table

    plugin = GlitPlugin(width="cpu", depth=2, variant="published")  # 36 block keys
    if plugin.latency_parts(plugin.space.default()) is None or not hasattr(
        plugin, "latency_module"
    ):
        pytest.skip("GlitPlugin names no latency parts yet")
    keys = plugin.latency_part_keys()
    if len(keys) > 150:
        pytest.skip(f"{len(keys)} keys: too many for a fast test")
    table, measured = build_table(
        plugin, "cpu", 1, 1, tmp_path / "lut.json", progress=False, min_run_time=0.002
    )
    assert measured == len(set(keys))
    given = load_space("glit", **plugin.options(), latency_table=str(tmp_path / "lut.json"))
    rows = plugin.space.sample_batch(1000, rng=0)
    latency = given.costs_batch(rows)["latency"]
    genotype = plugin.space.from_array(rows[:1])[0]
    expected = sum(table.entries[k]["median_ms"] for k in plugin.latency_parts(genotype))
    assert latency[0] == pytest.approx(expected)
