"""`archsearch paper TABLE`: the paper's tables of fixed networks, each row trained
standalone, reported beside the paper's figures, resumable."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from studies.paper import TABLES, render

TINY = [
    "--set=recipe.retrain.epochs=1",
    "--set=recipe.retrain.max_steps_per_epoch=2",
    "--set=recipe.retrain.batch_size=16",
    "--set=recipe.eval.max_images=32",
    "--device=cpu",
]


@pytest.mark.slow
def test_table1_end_to_end_and_resumed(tmp_path, tiny_data) -> None:
    out = tmp_path / "t1"
    args = ["paper", "table1", "--seeds=1", f"--data={tiny_data}", *TINY, f"--out={out}"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    rows = {row["row"]: row for row in summary["rows"]}
    assert list(rows) == ["3-0 (DeiT)", "2-1", "1-2", "0-3"]
    assert [rows[r]["paper_top1"] for r in rows] == [72.20, 72.89, 73.98, 71.02]
    assert rows["3-0 (DeiT)"]["network"] == "split-3-0-cpu"
    assert all(row["test_top1"]["n"] == 1 for row in rows.values())
    assert [r["vs_best"] for r in rows.values()].count(None) == 1  # the best row
    assert all(
        r["vs_best"] in (None, {"welch_p": None, "mannwhitney_p": None}) for r in rows.values()
    )
    assert summary["order"]["paper"] == ["1-2", "2-1", "3-0 (DeiT)", "0-3"]
    assert sorted(summary["order"]["ours"]) == sorted(rows)
    text = (out / "table1.md").read_text()
    assert "| 1-2 |" in text and "in the paper: 1-2 > 2-1 > 3-0 (DeiT) > 0-3" in text
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/seeds/*.json")}
    again = CliRunner().invoke(cli, args)  # resumes: nothing trained again
    assert again.exit_code == 0, again.output
    assert len(stamps) == 4 and all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_the_report_says_whether_the_order_reproduces() -> None:
    row = {"costs": {"macs": 2e7, "params": 4e5}, "paper_top1": 72.2}
    stats = {"n": 2, "mean": 0.8, "sd": 0.01, "ci_low": 0.71, "ci_high": 0.89}
    summary = {
        "title": TABLES["table3"].title,
        "width": "tiny",
        "rows": [{**row, "row": "DeiT-Tiny", "test_top1": stats}],
        "order": {"ours": ["DeiT-Tiny"], "paper": ["DeiT-Tiny"], "same": True},
    }
    text = render(summary)
    assert "80.00 ± 1.00 [71.00, 89.00] (2) | n/a | 72.20 |" in text and "(the same)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["table9"], "Invalid value for 'TABLE'"),
        (["table1", "--seeds=0"], "at least 1"),
        (["table1", "--set=space.depth=2"], "only the recipe and the workbench"),
    ],
)
def test_bad_requests_are_refused_before_any_work(tmp_path, args, message) -> None:
    result = CliRunner().invoke(cli, ["paper", *args, f"--out={tmp_path / 'x'}"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x").exists()


def test_table5_names_the_comparison_that_runs_it() -> None:
    result = CliRunner().invoke(cli, ["paper", "table5"])
    assert result.exit_code == 0 and "compare --space glit --strategies" in result.output


@pytest.mark.slow
def test_search_tables_run_each_row_as_a_search_and_resume(tmp_path, tiny_data) -> None:
    """Table 6 end to end on a 2-block space: three searches (Conv1d, local-area
    attention, Conv2d) under one budget, each a normal run folder, run in two processes,
    resumed as a whole."""
    out = tmp_path / "t6"
    search = [
        "--set=space.depth=2",
        "--set=search.max_evaluations=2",
        "--set=search.top_k=1",
        "--set=searcher.population=2",
        "--set=searcher.parents=1",
        "--set=searcher.mutants=1",
        "--set=searcher.crossovers=1",
        "--set=recipe.supernet.epochs=1",
        "--set=recipe.supernet.max_steps_per_epoch=2",
        "--set=recipe.supernet.batch_size=16",
        "--set=recipe.eval.bn_batches=1",
        "--set=recipe.eval.bn_batch_size=16",
    ]
    args = ["paper", "table6", "--seeds=1", f"--data={tiny_data}", *TINY, *search, f"--out={out}"]
    result = CliRunner().invoke(cli, [*args, "--jobs=2", "--json"])  # runs in 2 processes
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    rows = {row["row"]: row for row in summary["rows"]}
    assert list(rows) == ["Conv1d", "local-area attention", "Conv2d"]
    assert rows["Conv2d"]["network"] == "search: hierarchical-ea (locality=conv2d)"
    assert all(row["test_top1"]["n"] == 1 for row in rows.values())
    configs = [json.loads(p.read_text()) for p in sorted(out.glob("*/seed0/config.json"))]
    assert len(configs) == 3 and len({json.dumps(c["budgets"]) for c in configs}) == 1
    assert {c["space_options"].get("locality", "conv1d") for c in configs} == {
        "conv1d",
        "conv2d",
        "local-attention",
    }
    answers = sorted(out.glob("*/seed0/architecture.json"))
    stamps = {p: p.stat().st_mtime_ns for p in answers}
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_table4_refuses_space_options_beside_its_fixed_deit(tmp_path) -> None:
    result = CliRunner().invoke(
        cli, ["paper", "table4", "--set=space.depth=2", f"--out={tmp_path / 'x'}"]
    )
    assert result.exit_code == 2 and "fixed networks (DeiT)" in result.output, result.output


def test_a_search_row_takes_the_same_finished_run_of_another_table(tmp_path, tiny_data) -> None:
    """Table 4's full space and Table 6's Conv1d are one search: with --reuse, the second
    table copies the first's finished seed instead of searching again; a run of another
    config (another seed, an unfinished one) is not taken."""
    from archspace.files import write_json
    from studies.paper import PaperStudy

    workbench = {"data": tiny_data, "device": "cpu"}
    table4 = PaperStudy("table4", tmp_path / "t4", seeds=2, workbench=workbench)
    full = table4.trainings[-1][1]
    finished, unfinished = full.configs
    write_json(full.folder_of(0) / "config.json", finished.to_dict())
    write_json(full.folder_of(0) / "architecture.json", {"costs": {"macs": 1.0}})
    write_json(full.folder_of(1) / "config.json", unfinished.to_dict())

    said = []
    table6 = PaperStudy(
        "table6", tmp_path / "t6", seeds=1, workbench=workbench, reuse=[table4.folder]
    )
    conv1d = table6.trainings[0][1]
    conv1d.run(say=said.append)
    copied = conv1d.folder_of(0)
    assert json.loads((copied / "architecture.json").read_text()) == {"costs": {"macs": 1.0}}
    assert said == [f"Conv1d seed 0: the same run finished in {full.folder_of(0)}"]

    from strategies.run import find_finished_run

    assert find_finished_run(unfinished, [table4.folder]) is None  # not finished
    other = PaperStudy("table6", tmp_path / "o", seeds=1, workbench=workbench)
    attention = other.trainings[1][1].configs[0]
    assert find_finished_run(attention, [table4.folder, table6.folder]) is None


def test_table3_at_another_width_is_deit_against_the_search_there(tmp_path, tiny_data) -> None:
    """GLiT-Tiny exists at the tiny width only: at the cpu width Table 3 is DeiT against
    the hierarchical search, Table 4's DeiT and full space (so --reuse takes them)."""
    from studies.paper import PaperStudy

    workbench = {"data": tiny_data, "device": "cpu"}
    tiny = PaperStudy("table3", tmp_path / "a", width="tiny", workbench=workbench)
    assert [row.preset for row, _ in tiny.trainings] == ["deit-tiny", "glit-tiny"]
    cpu = PaperStudy("table3", tmp_path / "b", width="cpu", workbench=workbench)
    assert [row.label for row, _ in cpu.trainings] == ["DeiT", "GLiT (searched)"]
    table4 = PaperStudy("table4", tmp_path / "c", width="cpu", workbench=workbench)
    assert cpu.trainings[1][1].configs == table4.trainings[-1][1].configs

    from archspace.files import write_json

    deit = table4.trainings[0][1]  # trained by table 4: table 3 copies it, seeds and all
    write_json(deit.folder / "train.json", deit.settings)
    write_json(deit.seed_path(0), {"seed": 0, "metrics": {"test_top1": 0.5}})
    said = []
    again = PaperStudy("table3", tmp_path / "d", workbench=workbench, reuse=[tmp_path / "c"])
    again.adopt_fixed_rows(say=said.append)
    assert again.trainings[0][1].seed_path(0).exists()
    assert said == [f"DeiT: the same training is in {deit.folder}"]
    cpu.adopt_fixed_rows()  # nothing to reuse: nothing copied
    assert not cpu.trainings[0][1].folder.exists()


def test_a_fixed_row_is_the_same_training_whatever_the_supernet_recipe(tmp_path, tiny_data):
    """The supernet's recipe never shapes a standalone training: Table 4's DeiT (run with
    the searches' supernet settings) is Table 1's 3-0 row, so --reuse takes it."""
    from studies.paper import PaperStudy

    alone = {"data": tiny_data, "device": "cpu", "recipe": {"retrain.epochs": 1}}
    beside = {**alone, "recipe": {"retrain.epochs": 1, "supernet.epochs": 1}}
    table1 = PaperStudy("table1", tmp_path / "a", workbench=alone)
    table4 = PaperStudy("table4", tmp_path / "b", workbench=beside)
    assert table1.trainings[0][1].settings == table4.trainings[0][1].settings
    longer = PaperStudy(
        "table4", tmp_path / "c", workbench={**beside, "recipe": {"retrain.epochs": 2}}
    )
    assert longer.trainings[0][1].settings != table1.trainings[0][1].settings


def test_each_row_is_tested_against_the_best(tmp_path, tiny_data) -> None:
    """Whether an ordering reproduces depends on the seeds telling rows apart: each row
    carries Welch's p against the best row's seeds."""
    from archspace.files import write_json
    from studies.paper import PaperStudy

    study = PaperStudy("table1", tmp_path, seeds=2, workbench={"data": tiny_data})
    top1 = {"3-0 (DeiT)": (0.50, 0.52), "2-1": (0.70, 0.72), "1-2": (0.71, 0.69), "0-3": (0.2, 0.9)}
    for row, training in study.trainings:
        for seed, value in enumerate(top1[row.label]):
            metrics = {"val_top1": value, "test_top1": value}
            write_json(training.seed_path(seed), {"seed": seed, "metrics": metrics})
    rows = {r["row"]: r for r in study.summary()["rows"]}
    assert rows["2-1"]["vs_best"] is None  # the best mean, 0.71
    assert rows["3-0 (DeiT)"]["vs_best"]["welch_p"] < 0.05  # 20 points below, tight seeds
    assert rows["1-2"]["vs_best"]["welch_p"] > 0.5  # within the seeds' spread
    assert rows["0-3"]["vs_best"]["welch_p"] > 0.5  # far below, but its seeds disagree
    assert "| best |" in render(study.summary())
