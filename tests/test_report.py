"""The run report: Markdown and readable PNGs from a real (synthetic) run folder, the
`report` command's exit codes, and a report on a run that never finished."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from cli.report import PLOT_FILES, report_command, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small hierarchical run on the synthetic space, shared by the tests (read-only)."""
    from archspace.synthetic import SyntheticPlugin, SyntheticWorkbench
    from strategies.run import RunConfig, start_run

    folder = tmp_path_factory.mktemp("run")
    plugin = SyntheticPlugin(depth=6)
    config = RunConfig(
        space="synthetic",
        strategy="hierarchical-ea",
        space_options={"depth": 6},
        budgets={"cost": 60},
        profile="quick",
        search={"top_k": 2},
        searcher_options={
            "population": 12,
            "parents": 4,
            "mutants": 4,
            "crossovers": 4,
            "generations": 3,
        },
        seed=0,
    )
    start_run(config, folder, plugin=plugin, workbench=SyntheticWorkbench(plugin))
    return folder


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A private copy, so a test may change the run folder."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report", ".lock"))
    return copy


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)


def test_report_of_a_finished_run(run_dir: Path, tmp_path: Path) -> None:
    answer = json.loads((run_dir / "architecture.json").read_text())
    report = write_report(run_dir, tmp_path / "out")
    assert report == tmp_path / "out" / "report.md"
    text = report.read_text()
    assert "hierarchical-ea" in text
    assert answer["key"] in text
    assert "test top-1" in text and "search-validation top-1" in text
    assert "has not finished" not in text
    for stage in ("distribution", "detail"):
        assert f"Stage `{stage}` (finished)" in text
    for name in PLOT_FILES:
        assert f"]({name})" in text  # embedded with a relative link
        assert_png(report.parent / name)


def test_report_defaults_to_the_run_folder(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    assert write_report(run) == run / "report" / "report.md"


def test_command_writes_and_prints_json(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(report_command, [str(run_dir), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["report"] == str(out / "report.md")
    assert [Path(p).name for p in printed["plots"]] == list(PLOT_FILES)
    assert all(Path(p).is_file() for p in printed["plots"])


def test_command_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a run")
    result = CliRunner().invoke(report_command, [str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run folder" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(report_command, [str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


def test_report_of_an_interrupted_run(run_dir: Path, tmp_path: Path) -> None:
    """Killed while retraining the detail stage: no answer, the last stage unfinished."""
    run = copy_run(run_dir, tmp_path)
    (run / "architecture.json").unlink()
    with sqlite3.connect(run / "runs.sqlite") as db:
        db.execute("DELETE FROM stages WHERE stage = 'detail'")
        db.execute("DELETE FROM retrains WHERE stage = 'detail'")
    db.close()
    report = write_report(run)
    text = report.read_text()
    assert "has not finished" in text
    assert "Best architecture so far" in text
    assert "Stage `detail` (not finished)" in text
    for name in PLOT_FILES:
        assert_png(report.parent / name)
