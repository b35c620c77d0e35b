"""Spaces compared at one budget, and budgets on several metrics at once."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli

TINY = [
    f"--set={item}"
    for item in (
        "searcher.generations=1",
        "searcher.population=4",
        "searcher.parents=2",
        "searcher.mutants=2",
        "searcher.crossovers=2",
        "search.top_k=1",
        "recipe.supernet.epochs=1",
        "recipe.supernet.batch_size=16",
        "recipe.supernet.max_steps_per_epoch=4",
        "recipe.retrain.epochs=1",
        "recipe.retrain.batch_size=16",
        "recipe.retrain.max_steps_per_epoch=4",
        "recipe.eval.max_images=32",
        "recipe.eval.bn_batch_size=16",
    )
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_compare_two_spaces_at_one_budget(tmp_path, tiny_data) -> None:
    result = invoke(
        "compare",
        f"--data={tiny_data}",
        "--spaces",
        "glit,autoformer",
        "--strategies",
        "spos",
        "--budget",
        "macs=15M",
        *TINY,
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["table"]
    assert [(r["space"], r["strategy"]) for r in rows] == [("glit", "spos"), ("autoformer", "spos")]
    assert all(r["macs"] <= 15e6 for r in rows)
    for name in ("glit", "autoformer"):
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert config["budgets"] == {"macs": 15e6}
    assert "Space comparison" in (tmp_path / "comparison.md").read_text()


def test_default_budget_out_of_reach_names_each_range(tmp_path) -> None:
    result = invoke("compare", "--spaces", "glit,autoformer", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "glit macs 10.5M to 47.8M" in result.output and "autoformer macs" in result.output
    assert not (tmp_path / "x").exists()


def test_budget_on_two_metrics_constrains_both(tmp_path, tiny_data) -> None:
    result = invoke(
        "run",
        f"--data={tiny_data}",
        "--space",
        "autoformer",
        "--strategy",
        "random",
        "--budget",
        "macs=8M,params=120K",
        "--set=strategy.architectures=2",
        *TINY,
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["budgets"] == {"macs": 8e6, "params": 120e3}
    assert summary["costs"]["macs"] <= 8e6 and summary["costs"]["params"] <= 120e3


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ("latency=3ms", "does not report; its metrics: macs, params"),
        ("macs=-1", "must be positive"),
        ("macs=lots", "cannot read 'lots' as a count"),
    ],
)
def test_bad_budgets_are_refused_before_work(tmp_path, budget: str, message: str) -> None:
    out = str(tmp_path / "r")
    result = invoke("run", "--space", "autoformer", "--budget", budget, "--out", out)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r").exists()
