"""The `archsearch` command: listings, cost, run/compare/export, and bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from strategies.store import RunStore

SYNTHETIC = [
    "--space",
    "synthetic",
    "--set",
    "space.depth=4",
    "--set",
    "searcher.generations=2",
    "--set",
    "searcher.population=8",
    "--budget",
    "40",
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_has_help_with_examples() -> None:
    for command in ("run", "compare", "report", "top", "cost", "export", "spaces", "strategies"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example" in result.output, command


def test_help_lists_what_the_registries_hold() -> None:
    """--space, --strategy and --searcher list every registered name, one added from
    code included: their help is generated, not written by hand."""
    from archspace import spaces, strategies
    from archspace.synthetic import SyntheticPlugin
    from strategies.searchers import searchers

    spaces.register("my-space", SyntheticPlugin)
    strategies.register("my-strategy", strategies.get("spos"))
    searchers.register("my-searcher", searchers.get("random"))

    def unwrapped(*args: str) -> str:  # help is wrapped at 80 columns, also at hyphens
        return " ".join(invoke(*args, "--help").output.split()).replace("- ", "-")

    try:
        run_help, compare_help = unwrapped("run"), unwrapped("compare")
        latency_help = unwrapped("latency", "build")
    finally:
        spaces.unregister("my-space")
        strategies.unregister("my-strategy")
        searchers.unregister("my-searcher")
    for name in (*searchers.names(), "my-searcher", "my-strategy", "my-space", "nb201"):
        assert name in run_help and name in compare_help, name
    assert "my-space" in latency_help and "{names}" not in run_help + latency_help


def test_listings() -> None:
    result = invoke("spaces", "--json")
    names = {row["name"] for row in json.loads(result.output)}
    assert {"glit", "synthetic"} <= names
    listed = json.loads(invoke("strategies", "--json").output)
    assert {row["name"] for row in listed["strategies"]} >= {"random", "spos", "hierarchical-ea"}
    searchers = {row["name"]: row for row in listed["searchers"]}
    assert set(searchers) >= {"evolution", "random", "optuna", "bananas", "local"}
    ensemble = next(o for o in searchers["bananas"]["options"] if o["name"] == "ensemble")
    assert ensemble["default"] == 5 and ensemble["allowed"] == "an int >= 1"
    population = next(o for o in searchers["evolution"]["options"] if o["name"] == "population")
    assert (population["default"], population["profiles"]) == (50, {"quick": 8})
    shared = {row["name"]: row for row in listed["search"]}
    assert (shared["top_k"]["default"], shared["top_k"]["quick"]) == (5, 2)
    assert shared["warmup"]["default"] == "" and "zero-cost proxy" in shared["warmup"]["help"]
    assert "zero-cost" in {row["name"] for row in listed["strategies"]}


def test_cost_of_presets_and_per_block_view() -> None:
    data = json.loads(invoke("cost", "glit-tiny", "-v", "--json").output)
    assert data["params"] == 7_264_456 and len(data["parts"]) == 14
    assert "MACs" in invoke("cost", "deit-tiny").output


def test_run_on_the_synthetic_space_then_resume_and_report(tmp_path) -> None:
    out = tmp_path / "run"
    result = invoke("run", *SYNTHETIC, "--strategy", "spos", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["costs"]["cost"] <= 40 and summary["strategy"] == "spos"
    again = invoke("run", "--resume", str(out), "--json")
    assert json.loads(again.stdout)["key"] == summary["key"]
    assert json.loads((out / "config.json").read_text())["budgets"] == {"cost": 40}
    top = json.loads(
        invoke("top", str(out), "-k", "3", "--export", str(tmp_path / "t"), "--json").stdout
    )
    fitness = [row["fitness"] for row in top["top"]]
    assert len(fitness) == 3 and fitness == sorted(fitness, reverse=True)
    assert invoke("cost", top["exported"][0], "--space", "synthetic").exit_code == 0
    missing = CliRunner().invoke(cli, ["top", str(out), "--stage", "nope"])
    assert missing.exit_code == 2 and "no evaluations in stage 'nope'" in missing.output


def test_a_toml_config_equals_the_flags(tmp_path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'space = "synthetic"\nstrategy = "spos"\nbudget = "40"\nseed = 2\n'
        "[space_options]\ndepth = 4\n"
        '[searcher]\nname = "evolution"\ngenerations = 2\npopulation = 8\n'
    )
    by_file = invoke("run", "--config", str(toml), "--out", str(tmp_path / "a"), "--json")
    by_flags = invoke(
        "run",
        *SYNTHETIC,
        "--strategy",
        "spos",
        "--seed",
        "2",
        "--out",
        str(tmp_path / "b"),
        "--json",
    )
    assert by_file.exit_code == 0 and by_flags.exit_code == 0, by_file.output
    configs = [json.loads((tmp_path / d / "config.json").read_text()) for d in "ab"]
    assert configs[0] == configs[1]
    assert json.loads(by_file.stdout)["key"] == json.loads(by_flags.stdout)["key"]
    bad = tmp_path / "bad.toml"
    bad.write_text("speed = 3\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "unknown key(s) speed" in result.output
    old = tmp_path / "old.toml"  # an earlier version's spelling is answered with the new
    old.write_text('space = "synthetic"\n[search]\npopulation = 8\n')
    result = CliRunner().invoke(cli, ["run", "--config", str(old)])
    assert result.exit_code == 2, result.output
    assert "search.population is now an option of the searcher" in result.output
    assert "--set searcher.population=8" in result.output and "[searcher]" in result.output


def test_compare_writes_a_table(tmp_path) -> None:
    result = invoke(
        "compare",
        *SYNTHETIC,
        "--strategies",
        "hierarchical-ea,spos,random",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["table"]
    assert [r["strategy"] for r in rows] == ["hierarchical-ea", "spos", "random"]
    table = (tmp_path / "comparison.md").read_text()
    assert "hierarchical-ea" in table and "rank corr" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--space", "glitt"], "unknown space 'glitt'. Did you mean 'glit'?"),
        (["run", *SYNTHETIC, "--strategy", "hierarchical"], "Did you mean 'hierarchical-ea'?"),
        (["cost", "glit-tnyi"], "Did you mean 'glit-tiny'?"),
        (["train", "glit-tiny", "--width", "cpu"], "preset 'glit-tiny' fixes width='tiny'"),
        (["run", *SYNTHETIC, "--budget", "5"], "cheapest architecture there costs 20"),
        (
            ["run", "--budget-macs", "1M", "--set", "space.depth=2"],
            "the cheapest architecture there costs",
        ),
        (["run", "--budget-macs", "lots"], "cannot read 'lots' as a count"),
        (["run", "--data", "imagefolder:/no/such/folder"], "/no/such/folder"),
        (["run", "--data", "mnist:/tmp"], "Did you mean 'fashion-mnist'?"),
        (["run", *SYNTHETIC, "--set", "search.populaton=3"], "unknown search setting(s) populaton"),
        (
            ["run", *SYNTHETIC[:-2], "--budget", "cost=40,cost=50"],
            "bounds the metric 'cost' more than once",
        ),
        (
            ["run", *SYNTHETIC[:-2], "--budget", "40,cost=50"],  # a bare bound is the first metric
            "bounds the metric 'cost' more than once",
        ),
    ],
)
def test_bad_input_is_one_paragraph_with_exit_code_2(tmp_path, args, message) -> None:
    result = CliRunner().invoke(
        cli, [*args, "--out", str(tmp_path / "r")] if args[0] == "run" else args
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()  # nothing half-written


BAD_FLAGS = [
    ["run", "--space", "nope"],
    ["run", "--strategy", "nope"],
    ["run", "--searcher", "nope"],
    ["run", "--set", "nope=1"],
    ["run", "--space", "glit", "--set", "nope=1"],
    ["run", "--space", "glit", "--budget", "macs=1G,macs=2G"],  # after the space's data check
    ["latency", "build", "--space", "nope", "--out", "lut.json"],
]


def test_bad_flags_are_refused_before_torch_scipy_optuna_or_matplotlib_is_imported(
    tmp_path,
) -> None:
    """Check first, import later: each import takes seconds on a busy 2-core machine, and
    a refusal (exit 2) should not wait for them. One process tries every bad flag, so
    none of them may import the heavy modules."""
    code = (
        "import json, sys\n"
        "from cli.main import cli\n"
        "codes = []\n"
        f"for args in {BAD_FLAGS!r}:\n"
        "    try:\n"
        "        cli(args, prog_name='archsearch')\n"
        "    except SystemExit as exit:\n"
        "        codes.append(exit.code)\n"
        "heavy = [m for m in ('torch', 'scipy', 'optuna', 'matplotlib') if m in sys.modules]\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found == {"codes": [2] * len(BAD_FLAGS), "heavy": []}, done.stderr
    assert done.stderr.count("Error:") == len(BAD_FLAGS) and not (tmp_path / "lut.json").exists()


def test_bad_architecture_files(tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(cli, ["cost", str(broken)])
    assert result.exit_code == 2 and "is not valid JSON" in result.output
    wrong = tmp_path / "wrong.json"
    block = {"heads": [3, 0], "qkv": 1.0, "ffn": 5}
    wrong.write_text(json.dumps({"blocks": [block] * 12}))
    result = CliRunner().invoke(cli, ["cost", str(wrong)])
    assert result.exit_code == 2 and "'blocks.0.ffn' got 5; allowed: 2, 4, 6" in result.output


def test_a_run_folder_in_use_is_refused(tmp_path) -> None:
    with RunStore(tmp_path):
        result = CliRunner().invoke(cli, ["run", *SYNTHETIC, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "is in use by process" in result.output


@pytest.mark.slow
def test_default_command_in_a_subprocess_then_export(tmp_path, tiny_glit) -> None:
    """The real console script end to end on GLiT, reduced to a few steps per stage."""
    out = tmp_path / "glit"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [
            Path(sys.executable).with_name("archsearch"),
            "run",
            "--space",
            "glit",
            "--strategy",
            "hierarchical-ea",
            *tiny_glit,
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert 0.0 <= summary["metrics"]["test_top1"] <= 1.0
    assert "[distribution] training the supernet" in done.stderr
    trained = re.search(r"\[distribution\] supernet trained: \d+ steps, [\d,]+ img/s", done.stderr)
    assert trained, done.stderr  # its speed and the loader's, said after training
    exported = invoke("export", str(out), "--out", str(tmp_path / "model.safetensors"))
    assert exported.exit_code == 0, exported.output
    assert "retrained weights" in exported.output
    assert (tmp_path / "model.safetensors").stat().st_size > 1000
    described = json.loads((tmp_path / "model.json").read_text())
    assert described["key"] == summary["key"]
