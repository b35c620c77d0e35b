"""Metrics are declared once: a space's own metric, with its unit, reaches budgets,
summaries, `top`, the report and the plots without any change outside the space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspace import Metric, load_space, metric, spaces
from archspace.cost_providers import CostProvider, cost_providers
from archspace.synthetic import SyntheticPlugin
from cli.main import cli

ENERGY_PER_COST = 0.25  # mJ per unit of the synthetic cost


class EnergyPlugin(SyntheticPlugin):
    """The synthetic space reporting an energy in millijoules as its first metric."""

    name = "energy-test"
    metrics = (Metric("energy", unit="mJ", scales={"J": 1000.0, "uJ": 1e-3}), "cost")

    def cost(self, genotype):
        cost = super().cost(genotype)["cost"]
        return {"energy": cost * ENERGY_PER_COST, "cost": cost}

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        cost = super().cost_batch(rows)["cost"]
        return {"energy": cost * ENERGY_PER_COST, "cost": cost}

    def cost_range(self, metric_name, space=None):
        low, high = super().cost_range("cost", space)
        scale = ENERGY_PER_COST if metric_name == "energy" else 1.0
        return low * scale, high * scale


@pytest.fixture
def energy_space():
    spaces.register(EnergyPlugin.name, EnergyPlugin)
    yield EnergyPlugin.name
    spaces.unregister(EnergyPlugin.name)


def test_a_declared_metric_reads_and_prints_in_its_unit() -> None:
    energy = metric("energy")
    assert EnergyPlugin.metrics == ("energy", "cost")  # kept as names
    assert (energy.unit, energy.parse("5mJ"), energy.parse("0.005J"), energy.parse(7)) == (
        "mJ",
        5.0,
        5.0,
        7.0,
    )
    assert energy.format(12.345) == "12.3 mJ" and energy.axis_label() == "energy (mJ)"
    with pytest.raises(ValueError, match="use a number of mJ with an optional unit mJ, J, uJ"):
        energy.parse("5 kWh")
    assert metric("macs").format(1.4e9) == "1.4G" and metric("params").title == "parameters"
    assert metric("undeclared").format(2500) == "2.5K"  # a count
    with pytest.raises(ValueError, match="declared twice"):

        class Clash(SyntheticPlugin):
            metrics = (Metric("energy", unit="J"),)


def test_a_budget_on_a_declared_metric_end_to_end(tmp_path, energy_space) -> None:
    out = tmp_path / "run"
    args = [
        "run", f"--space={energy_space}", "--strategy=spos", "--budget=energy=10mJ",
        "--set=space.depth=4", "--set=searcher.population=6", "--set=searcher.generations=2",
        f"--out={out}",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "energy <= 10 mJ" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["budgets"] == {"energy": 10.0}
    chosen = json.loads((out / "architecture.json").read_text())
    assert chosen["costs"]["energy"] <= 10.0
    top = CliRunner().invoke(cli, ["top", str(out), "-k", "3"])
    assert top.exit_code == 0 and "energy (mJ)" in top.output and " mJ" in top.output
    report = CliRunner().invoke(cli, ["report", str(out), "--json"])
    assert report.exit_code == 0, report.output
    text = Path(json.loads(report.output)["report"]).read_text()
    assert "energy ≤ 10 mJ" in text and f"energy {chosen['costs']['energy']:.3g} mJ" in text
    bad = CliRunner().invoke(cli, [*args[:3], "--budget=energy=5 kWh", f"--out={tmp_path / 'b'}"])
    assert bad.exit_code == 2 and "cannot read '5 kWh' as energy" in bad.output


class MemoryCost(CostProvider):
    """Memory from a made-up device model: a cost from outside the space, added by a
    third party without touching the space or archsearch."""

    metric = Metric("memory", unit="MB", scales={"GB": 1000.0})

    def __init__(self, per_cost: float) -> None:
        self.per_cost = per_cost

    def value(self, plugin, genotype) -> float:
        return plugin.cost(genotype)["cost"] * self.per_cost

    def options(self) -> dict:
        return {"memory_per_cost": self.per_cost}


@pytest.fixture
def memory_provider():
    cost_providers.register("memory_per_cost", lambda plugin, value: MemoryCost(float(value)))
    yield "memory_per_cost"
    cost_providers.unregister("memory_per_cost")


def test_a_cost_provider_from_outside_the_space_end_to_end(tmp_path, memory_provider) -> None:
    out = tmp_path / "run"
    args = [
        "run", "--space=synthetic", "--strategy=spos", "--budget=memory=0.06GB",
        "--set=space.memory_per_cost=2", "--set=space.depth=4",
        "--set=searcher.population=6", "--set=searcher.generations=2", f"--out={out}",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "memory <= 60 MB" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["budgets"] == {"memory": 60.0}
    assert config["space_options"]["memory_per_cost"] == 2.0  # a resume gets it back
    chosen = json.loads((out / "architecture.json").read_text())
    assert chosen["costs"]["memory"] == 2 * chosen["costs"]["cost"] <= 60.0
    top = CliRunner().invoke(cli, ["top", str(out), "-k", "3"])
    assert top.exit_code == 0 and "memory (MB)" in top.output
    plugin = load_space("synthetic", **config["space_options"])
    assert isinstance(plugin, SyntheticPlugin) and plugin.cost_metrics == ("cost", "memory")
    assert load_space("synthetic", depth=4).cost_metrics == ("cost",)
    again = CliRunner().invoke(cli, ["run", "--resume", str(out)])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "architecture.json").read_text())["key"] == chosen["key"]
