"""`archsearch train ARCH`: one architecture trained standalone per seed, resumable,
reported with mean and interval, exported like a run's answer."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archspace import spaces
from cli.main import cli
from studies.standalone import on_data

TINY_RETRAIN = [
    "--set=recipe.retrain.epochs=1",
    "--set=recipe.retrain.max_steps_per_epoch=2",
    "--set=recipe.retrain.batch_size=16",
    "--set=recipe.eval.max_images=32",
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_preset_gets_the_head_of_its_data() -> None:
    plugin, genotype = spaces.get("glit").from_preset("glit-tiny")
    assert plugin.options()["num_classes"] == 1000
    moved, same = on_data(plugin, genotype, "builtin:fashion-mnist")
    assert moved.options()["num_classes"] == 10 and moved.options()["width"] == "tiny"
    assert same.key == genotype.key
    assert on_data(moved, same, "builtin:fashion-mnist")[0] is moved  # nothing to change


@pytest.mark.slow
def test_train_a_run_answer_for_seeds_resume_add_and_export(tmp_path, tiny_glit) -> None:
    run = tmp_path / "run"
    result = invoke("run", "--space=glit", "--strategy=spos", *tiny_glit, f"--out={run}")
    assert result.exit_code == 0, result.output
    result = invoke("train", str(run), "--seeds=2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    answer = json.loads((run / "architecture.json").read_text())
    assert summary["key"] == answer["key"] and set(summary["seeds"]) == {"0", "1"}
    for name in ("val_top1", "test_top1"):
        row = summary["summary"][name]
        values = [summary["seeds"][s][name] for s in ("0", "1")]
        assert row["n"] == 2 and row["mean"] == pytest.approx(sum(values) / 2)
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    folder = run / "train"
    settings = json.loads((folder / "train.json").read_text())
    recipe = json.loads((run / "config.json").read_text())["workbench"]["recipe"]
    assert settings["workbench"]["recipe"] == {  # the run's own retraining recipe
        key: value for key, value in recipe.items() if not key.startswith("supernet.")
    } and any(key.startswith("retrain.") for key in recipe)
    assert "| 0 |" in (folder / "train.md").read_text()

    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "seeds").iterdir()}
    again = invoke("train", str(run), "--seeds=3", "--json")  # one more seed, none repeated
    assert again.exit_code == 0, again.output
    assert set(json.loads(again.stdout)["summary"]["seeds"]) == {"0", "1", "2"}
    assert all((folder / "seeds" / n).stat().st_mtime_ns == t for n, t in stamps.items())

    exported = invoke("export", str(folder), f"--out={tmp_path / 'model.pt'}")
    assert exported.exit_code == 0, exported.output
    seeds = json.loads(again.stdout)["summary"]["seeds"]
    best = int(max(seeds, key=lambda s: seeds[s]["val_top1"]))
    chosen = json.loads((folder / "architecture.json").read_text())
    assert (chosen["seed"], chosen["stages"]) == (best, [f"train-s{best}"])
    assert f"train-s{best}-{answer['key']}.pt" in exported.output  # that seed's weights

    refused = CliRunner().invoke(cli, ["train", str(run), *TINY_RETRAIN])
    assert refused.exit_code == 2 and "other settings" in refused.output


@pytest.mark.slow
def test_train_an_architecture_file(tmp_path, tiny_data) -> None:
    plugin = spaces.get("glit")(width="cpu")
    arch = tmp_path / "arch.json"
    arch.write_text(plugin.space.default().to_json())
    out = tmp_path / "t"
    result = invoke(
        "train", str(arch), "--space=glit", "--width=cpu", f"--data={tiny_data}",
        "--device=cpu", *TINY_RETRAIN, f"--out={out}", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert list(summary["seeds"]) == ["0"] and summary["summary"]["test_top1"]["n"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["glit-tiny", "--seeds=0"], "at least 1"),
        (["glit-tiny", "--set=space.depth=2"], "only the recipe and the workbench"),
        (["glit-tiny", "--set=recipe.retrain.epocs=2"], "epocs"),
        (["glit-tiny", "--device=tpu"], "unknown device 'tpu'"),
        (["glit-tiny", "--data=builtin:mnist"], "Unknown builtin data set"),
        (["no-such-preset"], "neither a file nor a preset"),
    ],
)
def test_bad_requests_are_refused_before_any_work(tmp_path, args, message) -> None:
    result = CliRunner().invoke(cli, ["train", *args, f"--out={tmp_path / 'x'}"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x").exists()
