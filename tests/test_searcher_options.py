"""Searchers and pipelines own their options: declared once, checked before any work,
listed, reachable as searcher.NAME / strategy.NAME, and earlier spellings answered."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archspace import strategies
from cli.main import cli
from strategies import RunConfig, start_run
from strategies.asktell import AskTellSearcher
from strategies.options import Option, resolve_options
from strategies.searchers import build_searcher, searchers
from strategies.settings import migrate

HAS_NB201 = importlib.util.find_spec("analognasbench") is not None


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_an_option_checks_kind_range_and_choices() -> None:
    count = Option("ensemble", int, 5, "predictors", low=1)
    assert count.check(3, "x") == 3
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"x option 'ensemble' must be an int >= 1"):
            count.check(bad, "x")
    rate = Option("rate", float, 0.1, "a rate", low=0.0, high=1.0)
    assert rate.check(1, "x") == 1.0 and isinstance(rate.check(1, "x"), float)
    with pytest.raises(ValueError, match=r"a number in \[0, 1\], got 1.5"):
        rate.check(1.5, "x")
    kind = Option("predictor", str, "mlp", "the model", choices=("mlp", "ridge"))
    with pytest.raises(ValueError, match="one of mlp, ridge, got 'nope'"):
        kind.check("nope", "x")
    flag = Option("neighbours", bool, True, "add neighbours")
    assert flag.check(False, "x") is False
    with pytest.raises(ValueError, match="true or false"):
        flag.check(1, "x")
    with pytest.raises(ValueError, match="cannot be an option name"):
        Option("name", str, "", "reserved for the command line")


def test_resolving_fills_profile_defaults_and_names_the_options_on_a_typo() -> None:
    declared = (
        Option("population", int, 50, "size", low=1, profiles={"quick": 8}),
        Option("tournament", int, 10, "size", low=1),
    )
    assert resolve_options("s", declared, {}, "paper") == {"population": 50, "tournament": 10}
    assert resolve_options("s", declared, {"tournament": 3}, "quick") == {
        "population": 8,
        "tournament": 3,
    }
    with pytest.raises(ValueError) as error:
        resolve_options("'s' searcher", declared, {"populaton": 3}, "paper")
    assert "unknown option(s) populaton of the 's' searcher" in str(error.value)
    assert "population (an int >= 1; default 50, quick: 8): size" in str(error.value)


@pytest.mark.parametrize("name", searchers.names())
def test_declared_defaults_are_the_constructor_defaults(name: str) -> None:
    """An option's declared default is what the class itself defaults to, so a searcher
    built directly in Python behaves as one built for a run."""
    cls = searchers.get(name)
    parameters = inspect.signature(cls.__init__).parameters
    for option in cls.options:
        assert parameters[option.name].default == option.default, (name, option.name)
    for pipeline in strategies.names():
        for option in strategies.get(pipeline).options:
            assert option.default == option.check(option.default, pipeline)


def test_profiles_size_the_searchers() -> None:
    quick = build_searcher("evolution", profile="quick")
    assert (quick.population, quick.generations, quick.default_evaluations) == (8, 3, 24)
    assert build_searcher("evolution").default_evaluations == 1000  # SPOS: 50 x 20
    optuna = build_searcher("optuna", {"trials": 7}, study_name="flat")
    assert (optuna.trials, optuna.study_name) == (7, "flat")
    with pytest.raises(ValueError, match="parents"):
        build_searcher("evolution", {"population": 4, "parents": 5})


@pytest.mark.skipif(not HAS_NB201, reason="analog-nasbench is not installed")
def test_a_searcher_option_reaches_the_searcher_end_to_end(tmp_path) -> None:
    base = ["run", "--space=nb201", "--strategy=spos", "--searcher=bananas"]
    out = tmp_path / "run"
    result = invoke(
        *base, "--set=searcher.ensemble=3", "--set=search.max_evaluations=30", f"--out={out}"
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["searcher_options"] == {"ensemble": 3}
    assert json.loads((out / "architecture.json").read_text())["evaluations"] == 30


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "searcher.nope=1",
            "unknown option(s) nope of the 'bananas' searcher; its options: initial (an int "
            ">= 1; default 10): random evaluations before the predictor; batch_size",
        ),
        ("searcher.ensemble=0", "'bananas' searcher option 'ensemble' must be an int >= 1"),
        ("searcher.predictor=nope", "must be one of mlp, ridge, features"),
        ("strategy.architectures=2", "unknown option(s) architectures of the 'spos' strategy"),
        ("search.bananas_ensemble=3", "--set searcher.ensemble=3 (with 'bananas' as the"),
        ("search.local_restart=0", "--set searcher.restart=0"),
        ("search.population=8", "[searcher] name = 'evolution', population = 8"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path, setting, message) -> None:
    out = tmp_path / "run"
    result = invoke(
        "run", "--space=synthetic", "--strategy=spos", "--searcher=bananas", f"--set={setting}",
        f"--out={out}",
    )  # fmt: skip
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def test_a_registered_searcher_gets_its_options_checked_and_listed(tmp_path) -> None:
    class Patient(AskTellSearcher):
        name = "patient"
        summary = "samples until patience runs out"
        options = (Option("patience", int, 3, "rounds without improvement", low=1),)

        def __init__(self, patience: int = 3) -> None:
            self.patience = patience

        def ask(self):
            return self.context.sample(4)

        def tell(self, genotypes, fitnesses) -> None:
            pass

    searchers.register("patient", Patient)
    try:
        listing = invoke("strategies", "--json").output
        base = ["run", "--space=synthetic", "--strategy=spos", "--searcher=patient"]
        refused = invoke(*base, "--set=searcher.patience=0", f"--out={tmp_path / 'a'}")
        built = build_searcher("patient", {"patience": 5})
    finally:
        searchers.unregister("patient")
    row = next(r for r in json.loads(listing)["searchers"] if r["name"] == "patient")
    assert row["options"][0]["name"] == "patience" and row["summary"] == Patient.summary
    assert refused.exit_code == 2 and "'patient' searcher option 'patience'" in refused.output
    assert built.patience == 5


def test_an_earlier_versions_run_folder_resumes(tmp_path) -> None:
    """config.json of earlier versions kept searcher and pipeline options among the
    search settings: they are read as the options they now are, and the run resumes."""
    assert migrate({"population": 8, "top_k": 1, "samples": 9}, "evolution", "random") == (
        {"top_k": 1},
        {"population": 8},
        {},
    )
    assert migrate({"random_architectures": 3, "samples": 9}, "optuna", "random") == (
        {},
        {"trials": 9},
        {"architectures": 3},
    )
    config = RunConfig(
        space="synthetic",
        strategy="spos",
        budgets={"cost": 60},
        search={"top_k": 1, "max_evaluations": 16},
        searcher_options={"population": 4, "generations": 4},
    )
    first = start_run(config, tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    old = {k: v for k, v in saved.items() if not k.endswith("_options") or k == "space_options"}
    old["search"] = {**saved["search"], "population": 4, "generations": 4}
    (tmp_path / "config.json").write_text(json.dumps(old))
    (tmp_path / "architecture.json").unlink()
    result = invoke("run", "--resume", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["key"] == first.genotype.key


def test_compare_applies_a_shared_option_where_it_is_declared(tmp_path) -> None:
    base = [
        "compare", "--space=synthetic", "--strategies=spos,random", "--budget=60",
        "--set=searcher.population=4", "--set=searcher.generations=2", "--set=search.top_k=1",
    ]  # fmt: skip
    result = invoke(*base, "--set=strategy.architectures=1", f"--out={tmp_path / 'a'}", "--json")
    assert result.exit_code == 0, result.output
    configs = {
        c["strategy"]: c
        for c in (json.loads(p.read_text()) for p in (tmp_path / "a").glob("*/config.json"))
    }
    assert configs["random"]["strategy_options"] == {"architectures": 1}
    assert configs["spos"]["strategy_options"] == {}
    refused = invoke(*base, "--set=strategy.nope=1", f"--out={tmp_path / 'b'}")
    assert refused.exit_code == 2 and "'strategy.nope' is an option of no strategy" in (
        refused.output
    )
    assert not (tmp_path / "b").exists()


def test_example_toml_with_a_searcher_table(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'space = "synthetic"\nstrategy = "spos"\nbudget = "60"\n'
        '[searcher]\nname = "local"\ninitial = 3\n[search]\nmax_evaluations = 12\n'
    )
    result = invoke("run", "--config", str(toml), "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["searcher"], config["searcher_options"]) == ("local", {"initial": 3})
