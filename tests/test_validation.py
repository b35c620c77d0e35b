"""A run's whole config is checked before any work: each bad value is a one-paragraph
error with exit code 2 naming the value and what is allowed, and a refused start leaves
no run folder behind."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest
from click.testing import CliRunner

from cli.main import cli
from oneshot.recipes import get_recipe
from strategies.searchers import check_searcher

#: a synthetic-space search (no training): fast, and valid as it stands
SYNTHETIC = ["--space", "synthetic", "--set", "space.depth=4", "--budget", "40"]
#: a GLiT run on the CPU with the quick profile; each test adds one bad value
GLIT = ["--space", "glit", "--set", "space.depth=2", "--device", "cpu"]


def refused(tmp_path, *args: str, message: str | tuple[str, ...]) -> str:
    """Run `archsearch ARGS --out tmp_path/r`: exit 2 with `message`, no folder."""
    out = tmp_path / "r"
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    for part in (message,) if isinstance(message, str) else message:
        assert part in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # one paragraph
    assert not out.exists()  # nothing written, nothing trained
    return result.output


# ---- 1. search settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [("-3", "got -3"), ("abc", "got 'abc'"), ("0", "got 0")]
)
def test_a_bad_search_value_is_refused_before_the_folder(tmp_path, value, shown) -> None:
    refused(
        tmp_path,
        "run",
        *SYNTHETIC,
        "--set",
        f"searcher.population={value}",
        message=("'evolution' searcher option 'population' must be an int >= 1", shown),
    )


def test_an_unknown_search_setting_is_refused(tmp_path) -> None:
    refused(
        tmp_path,
        "run",
        *SYNTHETIC,
        "--set",
        "search.populaton=3",
        message=("unknown search setting(s) populaton", "allowed:", "top_k", "searcher.NAME"),
    )


def test_a_bad_search_value_in_the_config_file_is_refused(tmp_path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'space = "synthetic"\nbudget = "40"\n[space_options]\ndepth = 4\n'
        "[searcher]\npopulation = -5\n"
    )
    refused(
        tmp_path,
        "run",
        "--config",
        str(toml),
        message="'evolution' searcher option 'population' must be an int >= 1, got -5",
    )
    toml.write_text('space = "synthetic"\nbudget = "40"\nseed = "one"\n')
    refused(tmp_path, "run", "--config", str(toml), message="seed must be an int, got 'one'")


# ---- 2. recipe and workbench ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"supernet.epochs": 0}, "recipe.supernet.epochs must be a positive int, got 0"),
        ({"supernet.epochs": 1.5}, "recipe.supernet.epochs must be a positive int"),
        ({"supernet.batch_size": -8}, "recipe.supernet.batch_size must be a positive int"),
        ({"supernet.lr": 0}, "recipe.supernet.lr must be a number > 0"),
        ({"supernet.lr": "fast"}, "recipe.supernet.lr must be a number > 0"),
        ({"supernet.momentum": 1.5}, "recipe.supernet.momentum must be a number in [0, 1)"),
        ({"supernet.nesterov": "yes"}, "recipe.supernet.nesterov must be true or false"),
        ({"supernet.augment": "heavy"}, "recipe.supernet.augment must be one of auto, none"),
        ({"supernet.max_steps_per_epoch": 0}, "max_steps_per_epoch must be a positive int or"),
        ({"retrain.weight_decay": -1e-4}, "recipe.retrain.weight_decay must be a number >= 0"),
        ({"retrain.label_smoothing": 1.0}, "recipe.retrain.label_smoothing must be a number"),
        ({"retrain.mixup": -0.1}, "recipe.retrain.mixup must be a number >= 0"),
        ({"retrain.drop_path": 2}, "recipe.retrain.drop_path must be a number in [0, 1)"),
        ({"retrain.clip_grad": 0}, "recipe.retrain.clip_grad must be a number > 0 or null"),
        ({"retrain.warmup_epochs": -1}, "recipe.retrain.warmup_epochs must be a number >= 0"),
        ({"eval.bn_batches": -1}, "recipe.eval.bn_batches must be a non-negative int"),
        ({"eval.max_images": 0}, "recipe.eval.max_images must be a positive int or null"),
        ({"val_size": 0}, "recipe.val_size as a count must be at least 1"),
        ({"val_size": 1.5}, "recipe.val_size as a fraction must be in (0, 1)"),
        ({"val_size": "10%"}, "recipe.val_size must be an int count"),
        ({"val_max": 0}, "recipe.val_max must be a positive int or null"),
    ],
)
def test_recipe_values_are_checked_by_the_recipe(changes, message) -> None:
    with pytest.raises(ValueError) as error:
        get_recipe("quick").override(**changes)
    assert message in str(error.value)


def test_good_recipe_values_pass() -> None:
    recipe = get_recipe("paper").override(
        **{
            "supernet.lr": 1,
            "supernet.max_steps_per_epoch": None,
            "retrain.clip_grad": None,
            "retrain.augment": "deit",
            "eval.bn_batches": 0,
            "val_size": 500,
            "val_max": None,
        }
    )
    assert recipe.supernet.lr == 1 and recipe.val_size == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "recipe.supernet.epochs=0"],
            "recipe.supernet.epochs must be a positive int, got 0",
        ),
        (["--set", "recipe.retrain.augment=heavy"], "recipe.retrain.augment must be one of"),
        (["--set", "recipe.val_size=2.0"], "recipe.val_size as a fraction must be in (0, 1)"),
        (["--set", "recipe.supernet.epoch=3"], "unknown recipe field 'supernet.epoch'"),
        (["--set", "workbench.num_workers=-1"], "workbench.num_workers must be a non-negative"),
        (["--set", "workbench.threads=two"], "workbench.threads must be a non-negative int"),
        (["--set", "workbench.download=3"], "download must be true or false"),
        (["--set", "workbench.colour=1"], ("unknown workbench setting(s) colour", "allowed:")),
        (["--device", "tpu"], ("unknown device 'tpu'", "allowed: auto, cpu, cuda")),
        (["--data", "mnist:/nowhere"], "Unknown data scheme 'mnist'"),
    ],
)
def test_a_bad_workbench_value_is_refused_before_the_folder(tmp_path, args, message) -> None:
    refused(tmp_path, "run", *GLIT, *args, message=message)


def test_a_missing_gpu_is_refused_before_the_folder(tmp_path) -> None:
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        refused(
            tmp_path,
            "run",
            *GLIT[:-2],
            "--device",
            f"cuda:{count}",
            message=f"device 'cuda:{count}' does not exist",
        )
    else:
        refused(
            tmp_path,
            "run",
            *GLIT[:-2],
            "--device",
            "cuda",
            message=("device 'cuda' was asked for but no CUDA GPU", "--device cpu"),
        )


def test_check_run_settings_of_a_space_without_training_checks_nothing() -> None:
    from archspace import load_space

    load_space("synthetic", depth=4).check_run_settings({"anything": 1})


def test_the_compare_command_checks_too(tmp_path) -> None:
    refused(
        tmp_path,
        "compare",
        *GLIT,
        "--strategies",
        "spos,random",
        "--set",
        "recipe.eval.batch_size=0",
        message="recipe.eval.batch_size must be a positive int, got 0",
    )


# ---- 3. storage ---------------------------------------------------------------------


def test_storage_is_refused_for_a_searcher_that_ignores_it(tmp_path) -> None:
    refused(
        tmp_path,
        "run",
        *SYNTHETIC,
        "--storage",
        "notaurl://x",
        message=("--storage is used only by the searcher(s) optuna", "'evolution'"),
    )


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("notaurl://x", "names no database optuna can use (backend 'notaurl')"),
        ("runs.db", "is not a database URL"),
    ],
)
def test_an_optuna_storage_url_of_the_wrong_form_is_refused(tmp_path, storage, message) -> None:
    refused(
        tmp_path,
        "run",
        *SYNTHETIC,
        "--searcher",
        "optuna",
        "--storage",
        storage,
        message=(message, "sqlite:///"),
    )


@pytest.mark.parametrize(
    "storage", ["sqlite:///runs/optuna.db", "postgresql://u:p@host/db", "mysql+pymysql://u@h/db"]
)
def test_optuna_storage_urls_of_the_right_form_pass(storage) -> None:
    check_searcher("optuna", storage)


# ---- 4. a saved config that is not one -------------------------------------------------


@pytest.mark.parametrize("command", ["resume", "top"])
def test_an_empty_saved_config_names_the_file_and_the_missing_keys(tmp_path, command) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}\n")
    args = ["run", "--resume", str(folder)] if command == "resume" else ["top", str(folder)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert str(folder / "config.json") in result.output
    assert "lacks the required key(s) space, strategy" in result.output
    assert "TypeError" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]  # nothing written


def test_a_saved_config_of_the_wrong_shape_is_refused(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"space": "synthetic", "strategy": 3}))
    result = CliRunner().invoke(cli, ["top", str(folder)])
    assert result.exit_code == 2 and "'strategy' must be a string, got 3" in result.output
    (folder / "config.json").write_text("[1, 2")
    result = CliRunner().invoke(cli, ["run", "--resume", str(folder)])
    assert result.exit_code == 2 and "config.json is not valid JSON" in result.output


# ---- 5. a store that is not a database -------------------------------------------------


def test_a_store_that_is_not_a_database_is_named(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"space": "synthetic", "strategy": "spos", "space_options": {"depth": 4}})
    )
    (folder / "runs.sqlite").write_text("these are not the rows you are looking for\n" * 20)
    for args in (["report", str(folder)], ["top", str(folder)], ["run", "--resume", str(folder)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert str(folder / "runs.sqlite") in result.output
        assert "cannot be read as a run store" in result.output
        assert "DatabaseError" not in result.output and "Traceback" not in result.output


def test_an_sqlite_file_that_is_not_a_run_store_is_named(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    db = sqlite3.connect(folder / "runs.sqlite")
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    result = CliRunner().invoke(cli, ["report", str(folder)])
    assert result.exit_code == 2 and "is an SQLite database but not a run store" in result.output


# ---- 6. unknown names ------------------------------------------------------------------


def test_an_unknown_searcher_leaves_no_folder(tmp_path) -> None:
    refused(
        tmp_path,
        "run",
        *SYNTHETIC,
        "--searcher",
        "nope",
        message=("unknown searcher 'nope'", "evolution", "optuna", "random"),
    )


def test_an_unknown_strategy_leaves_no_folder(tmp_path) -> None:
    refused(tmp_path, "run", *SYNTHETIC, "--strategy", "greedy", message="greedy")


# ---- 7. exported files follow the umask ------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027])
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_exported_files_follow_the_umask(tmp_path, umask, suffix) -> None:
    previous = os.umask(umask)
    try:
        out = tmp_path / f"model{suffix}"
        result = CliRunner().invoke(cli, ["export", "glit-tiny", "--out", str(out)])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    for path in (out, out.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
