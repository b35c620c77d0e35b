"""`compare --seeds`: every arm over several seeds, stored, resumable, with statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from cli.main import cli
from strategies.statistics import Summary, best_of, best_so_far, compare_to

ARGS = [
    "compare",
    "--space=synthetic",
    "--strategies=spos",
    "--searchers=random,evolution",
    "--seeds=3",
    "--budget=60",
    "--set=searcher.generations=2",
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_summary_matches_a_t_interval() -> None:
    values = [0.1, 0.3, 0.2, 0.4]
    summary = Summary.of(values)
    low, high = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert summary.mean == pytest.approx(0.25) and summary.sd == pytest.approx(
        np.std(values, ddof=1)
    )
    assert (summary.ci_low, summary.ci_high) == pytest.approx((low, high))


def test_tests_tell_apart_two_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 30), rng.normal(2, 1, 30)
    result = compare_to(a, b)
    assert result.welch_p < 0.01 and result.mannwhitney_p < 0.01
    assert compare_to(b, b).mannwhitney_p == 1.0
    assert best_of({"a": a, "b": b}, lower_is_better=True) == "a"
    assert best_so_far([0.2, None, 0.1, 0.5]) == [0.2, 0.2, 0.2, 0.5]


def test_compare_over_seeds_is_stored_resumable_and_reported(tmp_path) -> None:
    out = tmp_path / "study"
    result = invoke(*ARGS, f"--out={out}", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["quantity"] == "regret" and summary["seeds"] == [0, 1, 2]
    final = summary["table"]["final"]
    assert set(final["arms"]) == {"random", "evolution"}
    for row in final["arms"].values():
        assert row["n"] == 3 and row["ci_low"] <= row["mean"] <= row["ci_high"]
        assert row["mean"] >= 0  # regret against the exact optimum under the budget
    stored = json.loads((out / "study.json").read_text())
    assert len(stored["runs"]) == 6 and all(r["fitnesses"] for r in stored["runs"])
    trajectories = sorted(out.glob("*/s*/trajectory.json"))
    stamps = [p.stat().st_mtime_ns for p in trajectories]
    assert len(trajectories) == 6
    again = invoke(*ARGS, f"--out={out}", "--json")  # resumes: nothing is rerun
    assert again.exit_code == 0 and [p.stat().st_mtime_ns for p in trajectories] == stamps
    assert json.loads(again.stdout)["summary"] == summary
    report = invoke("report", str(out), f"--out={tmp_path / 'rendered'}")
    assert report.exit_code == 0, report.output
    assert "Comparison over 3 seeds" in (tmp_path / "rendered" / "study.md").read_text()
    assert (tmp_path / "rendered" / "study.png").stat().st_size > 0


@pytest.mark.slow
def test_compare_over_seeds_on_a_one_shot_space(tmp_path, tiny_glit) -> None:
    """Table 5 with statistics on a tiny GLiT: no optimum, so retrained test and
    search-val top-1 and the chosen MACs; random (no supernet) is an arm like the
    others, and the end of the command (summary, plot, report) is reached."""
    out = tmp_path / "table5"
    result = invoke(
        "compare",
        "--space=glit",
        "--strategies=hierarchical-ea,spos,random",
        "--seeds=2",
        *tiny_glit,
        "--set=spos:search.top_k=2",
        f"--out={out}",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["quantity"] == "test_top1" and summary["optimum"] is None
    assert set(summary["table"]) == {"final", "final:val_top1"}  # no evaluation checkpoints
    for block in summary["table"].values():
        assert set(block["arms"]) == {"hierarchical-ea", "spos", "random"}
        assert all(row["n"] == 2 and 0 <= row["mean"] <= 1 for row in block["arms"].values())
    assert set(summary["costs"]["macs"]) == {"hierarchical-ea", "spos", "random"}
    configs = {
        p.parent.parent.name: json.loads(p.read_text()) for p in out.glob("*/s0/config.json")
    }
    assert configs["spos"]["search"]["top_k"] == 2 and configs["random"]["search"]["top_k"] == 1
    training = {k: {arm: v["mean"] for arm, v in d.items()} for k, d in summary["training"].items()}
    # 3 steps of 16 per supernet: two stages, one, none (random trains no supernet)
    assert training["supernet_images"] == {"hierarchical-ea": 96, "spos": 48, "random": 0}
    for arm, images in training["retrain_images"].items():
        assert images > 0 and images % 48 == 0  # whole retrainings of 3 steps of 16
        assert training["images"][arm] == images + training["supernet_images"][arm]
    text = (out / "study.md").read_text()
    assert "retrained test top-1" in text and "MACs, mean" in text
    assert "| spos | 48 ± 0 |" in text  # the training per run, beside the results
    assert (out / "study.png").stat().st_size > 0


def test_an_arm_setting_must_name_an_arm(tmp_path) -> None:
    result = CliRunner().invoke(
        cli, [*ARGS, "--set=evolutoin:searcher.generations=3", f"--out={tmp_path}"]
    )
    assert result.exit_code == 2 and "the arms are random, evolution" in result.output
