"""Ground-truth ranking studies (`archsearch rank`, studies.ground_truth): statistics,
the stratified draw, the study end to end on GLiT, AutoFormer and the example torch
space, a kill -9 in the middle, and the truth table searched as a `table` space."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from archspace import load_space, spaces
from archspace.synthetic import SyntheticPlugin
from cli.main import cli
from studies.ground_truth import GroundTruthStudy, covers, stratified_sample
from studies.ground_truth_report import summarise_study, write_report
from studies.rank_stats import agreement, bootstrap, kendall_tau, top_k_overlap
from tabular_space.table import TablePlugin

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ---- statistics -----------------------------------------------------------------------


def test_rank_statistics_match_scipy_and_bound_the_truth() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=40)
    noisy = truth + rng.normal(scale=0.5, size=40)
    assert kendall_tau(noisy, truth) == pytest.approx(stats.kendalltau(noisy, truth).statistic)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None and kendall_tau([1, 2], [1, 2]) is None
    found = agreement(noisy, truth, seed=1)
    tau = found["kendall"]
    assert tau.low < tau.value < tau.high and 0.3 < tau.value < 0.9
    assert agreement(noisy, truth, seed=1) == found  # seeded
    perfect = agreement(truth, truth)
    assert perfect["kendall"].value == 1.0 and perfect["top5"].value == 1.0
    assert perfect["top10pct"].value == 1.0
    reverse = agreement(-truth, truth)
    assert reverse["spearman"].value == -1.0 and reverse["top5"].value == 0.0
    assert top_k_overlap([3, 2, 1, 0], [3, 2, 0, 1], 2) == 1.0
    assert top_k_overlap([3, 2, 1, 0], [0, 2, 1, 3], 2) == 0.5
    assert bootstrap(kendall_tau, [1, 2, 3], [1, 2, 3]).low is None  # too few to resample


def test_stratified_sample_spreads_over_the_cost_range() -> None:
    plugin = SyntheticPlugin()
    space, budget = plugin.space, plugin.budgets({"cost": 60})
    chosen = stratified_sample(plugin, space, 20, metric="cost", constraint=budget, seed=3)
    costs = sorted(plugin.cost(g)["cost"] for g in chosen)
    assert len({g.key for g in chosen}) == 20 and costs[-1] <= 60
    again = stratified_sample(plugin, space, 20, metric="cost", constraint=budget, seed=3)
    assert [g.key for g in again] == [g.key for g in chosen]
    uniform = [space.sample_feasible(budget, np.random.default_rng([3, i])) for i in range(20)]
    uniform_costs = sorted(plugin.cost(g)["cost"] for g in uniform)
    # equal-width bins reach further into both tails than uniform draws do
    assert costs[0] <= uniform_costs[0] and costs[-1] >= uniform_costs[-1]
    assert costs[-1] - costs[0] > uniform_costs[-1] - uniform_costs[0]
    sub = space.restrict("distribution")
    assert all(covers(sub, g) for g in stratified_sample(plugin, sub, 5, metric="cost"))
    assert not all(covers(sub, g) for g in chosen)


# ---- end to end -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glit_runs(tmp_path_factory, tiny_glit) -> dict[str, Path]:
    """Tiny hierarchical-ea, spos and random runs on GLiT (the tiny data)."""
    root = tmp_path_factory.mktemp("runs")
    folders = {name: root / name for name in ("hier", "spos", "random")}
    arms = {"hier": ["--strategy=hierarchical-ea"], "spos": ["--strategy=spos"]}
    arms["random"] = ["--strategy=random", "--set=strategy.architectures=1"]
    for name, args in arms.items():
        result = invoke("run", *args, *tiny_glit, f"--out={folders[name]}")
        assert result.exit_code == 0, result.output
    return folders


@pytest.mark.slow
def test_rank_scores_stage_and_flat_supernets_on_the_same_architectures(
    glit_runs, tmp_path
) -> None:
    out = tmp_path / "study"
    result = invoke(
        "rank",
        str(glit_runs["hier"]),
        str(glit_runs["spos"]),
        "--archs=3",
        "--seeds=2",
        f"--out={out}",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert list(summary["samples"]) == ["distribution", "detail"]
    assert summary["retrained"] == summary["retrainings"] == 12
    for stage, sample in summary["samples"].items():
        assert sample["n"] == 3
        # the stage's own supernet and the flat one score the very same architectures
        assert set(sample["predictors"]) == {f"hier:{stage}", "spos:flat", "macs", "params"}
        assert all(row["n"] == 3 for row in sample["predictors"].values())
        ceiling = sample["ceiling"]["test_top1"]["kendall"]
        assert ceiling["value"] is None or -1 <= ceiling["value"] <= 1
        row = sample["predictors"]["spos:flat"]["test_top1"]
        assert set(row) == {"kendall", "spearman", "top5", "top10pct"}
    report = (out / "ground-truth.md").read_text()
    assert "ceiling (seed vs seed)" in report and "hier:distribution" in report
    assert (out / "scatter-spos-flat.png").stat().st_size > 0
    plan = json.loads((out / "plan.json").read_text())
    plugin = load_space(
        "glit", **json.loads((glit_runs["hier"] / "config.json").read_text())["space_options"]
    )
    stage_spaces = {s["stage"]: s for s in plan["supernets"] if s["label"].startswith("hier:")}
    for stage, keys in plan["samples"].items():
        assert set(keys) <= set(stage_spaces[stage]["keys"])
        budget = json.loads((glit_runs["hier"] / "config.json").read_text())["budgets"]["macs"]
        assert all(plugin.cost(plugin.space.from_key(k))["macs"] <= budget for k in keys)

    # the truth table is a dense benchmark the table space searches as it is
    table = TablePlugin(file=str(out / "truth.jsonl"))
    assert table.rows == 6 and table.space.size == 6
    assert table.choice_names == ("arch",) and set(table.metrics) == {"macs", "params"}
    searched = invoke(
        "run",
        "--space=table",
        f"--set=space.file={out / 'truth.jsonl'}",
        "--strategy=spos",
        "--searcher=evolution",
        "--set=searcher.generations=2",
        "--set=searcher.population=4",
        f"--out={tmp_path / 'table-run'}",
        "--json",
    )
    assert searched.exit_code == 0, searched.output
    best = json.loads(searched.stdout)
    assert best["key"] and 0 <= best["metrics"]["val_top1"] <= 1

    # a different request on the same folder is refused, naming what differs
    refused = CliRunner().invoke(cli, ["rank", str(glit_runs["hier"]), "--archs=5", f"--out={out}"])
    assert refused.exit_code == 2 and "archs" in refused.output


#: the study `archsearch rank RUN --archs=3 --seeds=2 --out=OUT` starts, killed with
#: SIGKILL (no clean-up, as kill -9) right after its first retraining is recorded
KILLED_AFTER_FIRST_RETRAINING = """
import os, signal, sys
from pathlib import Path
from studies.ground_truth import GroundTruthStudy

def progress(done, total, what):
    if what:  # told after a retraining's result file is written
        os.kill(os.getpid(), signal.SIGKILL)

GroundTruthStudy([Path(sys.argv[1])], Path(sys.argv[2]), archs=3, seeds=2).run(progress=progress)
"""


@pytest.mark.slow
def test_rank_resumes_after_kill_9_with_nothing_repeated(glit_runs, tmp_path) -> None:
    out = tmp_path / "study"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_FIRST_RETRAINING, str(glit_runs["spos"]), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    first = {p.name: p.stat().st_mtime_ns for p in (out / "truth").glob("*.json")}
    assert 1 <= len(first) < 6, "the study should have been stopped in the middle"
    # the same command resumes it (in this process: the kill was the subprocess's part)
    finished = invoke("rank", str(glit_runs["spos"]), "--archs=3", "--seeds=2", f"--out={out}")
    assert finished.exit_code == 0, finished.output
    assert f"{len(first)} of 6 done before" in finished.output
    after = {p.name: p.stat().st_mtime_ns for p in (out / "truth").glob("*.json")}
    assert len(after) == 6 and all(after[name] == stamp for name, stamp in first.items())
    assert "scoring" not in finished.output  # the supernet scores were kept too


@pytest.mark.slow
def test_bad_requests_are_refused_before_any_work(glit_runs, tmp_path) -> None:
    cases = [
        ([str(tmp_path / "nothing")], "is not a run folder"),
        ([str(glit_runs["spos"]), "--archs=2"], "--archs must be at least 3"),
        ([str(glit_runs["spos"]), "--set=searcher.population=3"], "only the retraining recipe"),
        ([str(glit_runs["spos"]), "--set=recipe.retrain.epocs=3"], "epocs"),
        ([str(glit_runs["random"])], "none of the runs has a trained supernet"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli, ["rank", *args, f"--out={tmp_path / 'x'}"])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_rank_on_autoformer(tmp_path, tiny_glit) -> None:
    run = tmp_path / "run"
    pairs = zip(tiny_glit[::2], tiny_glit[1::2])  # flag, value
    args = [a for pair in pairs if "depth" not in pair[1] for a in pair]
    result = invoke("run", "--space=autoformer", "--strategy=spos", *args, f"--out={run}")
    assert result.exit_code == 0, result.output
    result = invoke("rank", str(run), "--archs=3", "--seeds=1", f"--out={tmp_path / 's'}", "--json")
    assert result.exit_code == 0, result.output
    sample = json.loads(result.stdout)["summary"]["samples"]["flat"]
    assert sample["n"] == 3 and "run:flat" in sample["predictors"]
    assert "ceiling" not in sample  # one seed: no seed-vs-seed ceiling


def test_study_on_the_example_torch_space_through_the_library(tmp_path) -> None:
    path = ROOT / "examples" / "torch_space.py"
    spec = importlib.util.spec_from_file_location("torch_space", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.main(tmp_path / "run")
        study = GroundTruthStudy(  # the run's recipe, shortened: an override of the library
            [tmp_path / "run"],
            tmp_path / "study",
            archs=3,
            seeds=2,
            overrides={"recipe.retrain.max_steps_per_epoch": 5},
        )
        plan = study.run()
        summary = summarise_study(study.results(plan))
        _, paths = write_report(study.folder, study.plugin)
    finally:
        spaces.unregister("tiny-mlp")
    sample = summary["samples"]["flat"]
    assert sample["n"] == 3 and summary["retrained"] == 6
    assert {"run:flat", "macs"} <= set(sample["predictors"])
    assert all(p.exists() for p in paths)
    assert study.recipe == {"retrain.max_steps_per_epoch": 5}


def test_the_report_tests_two_supernets_on_the_same_architectures() -> None:
    """The premise's question gets a paired test in the report: one supernet that ranks
    the truth well and one that ranks at random, on the same 12 architectures."""
    from studies.ground_truth_report import markdown
    from studies.rank_stats import paired_difference

    rng = np.random.default_rng(0)
    truth = np.linspace(0.6, 0.8, 12)
    archs = {
        f"a{i}": {
            "truth": {s: {"val_top1": t + 0.01 * s, "test_top1": t - 0.01 * s} for s in (0, 1)},
            "scores": {"stage": t + rng.normal(0, 0.01), "flat": rng.random()},
            "costs": {"macs": float(i)},
        }
        for i, t in enumerate(truth)
    }
    settings = {"runs": ["r"], "archs": 12, "metric": "macs", "bins": 1, "budgets": {},
                "retrain_overrides": {}}  # fmt: skip
    plan = {"samples": {"detail": list(archs)}, "seeds": [0, 1], "settings": settings,
            "supernets": [{"label": "stage"}, {"label": "flat"}]}  # fmt: skip
    summary = summarise_study({"plan": plan, "archs": archs})
    row = summary["samples"]["detail"]["paired"]["stage - flat"]
    assert row["n"] == 12 and row["test_top1"]["value"] > 0.5
    assert row["test_top1"]["low"] > 0 and row["test_top1"]["p_not_better"] < 0.01
    assert "| stage - flat | 12 |" in markdown(summary)
    same = paired_difference(truth, truth, truth)
    assert same.value == 0 and same.p_not_better == 1.0  # never better than itself
