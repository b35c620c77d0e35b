"""Zero-cost proxies beyond ground-truth studies: sampled from a space with known truth
(`archsearch proxies --space`), as a search's fitness (the zero-cost pipeline) and as
its warm-up (`search.warmup`), end to end on nb201 and GLiT."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from archspace import SingleProcess, load_space
from cli.main import cli
from oneshot.proxies import jacob_cov
from studies.proxy_study import ProxyStudy, ProxyStudyError
from tests.test_tabular import needs_data


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def store_meta(run, key: str):
    with sqlite3.connect(run / "runs.sqlite") as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def evaluations(run) -> list[tuple[str, float]]:
    with sqlite3.connect(run / "runs.sqlite") as db:
        return db.execute("SELECT key, fitness FROM evaluations ORDER BY id").fetchall()


@needs_data
def test_proxies_of_sampled_nb201_cells_against_the_table(tmp_path) -> None:
    out = tmp_path / "study"
    args = ["proxies", "--space=nb201", "--archs=6", "--proxies=synflow,nwot", "--batch=4"]
    result = invoke(*args, f"--out={out}", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    rows = {row["predictor"]: row for row in summary["predictors"]}
    assert set(rows) == {"synflow", "nwot", "cost:params", "cost:macs"}
    assert all(row["scored"] == 6 for row in rows.values())
    assert -1 <= rows["synflow"]["spearman"]["value"] <= 1
    assert rows["synflow"]["seconds_per_arch"] > 0
    assert (out / "proxies.md").read_text().count("| synflow |") == 1
    assert (out / "scatter-synflow.png").exists()
    # a rerun scores nothing again; other settings in the same folder are refused
    plugin = load_space("nb201")

    class NoScoring:
        ranks = SingleProcess()

        def proxy_scores(self, *args, **kwargs):
            raise AssertionError("scored again")

    ProxyStudy(plugin, out, NoScoring(), archs=6, batch_size=4).score(["synflow", "nwot"])
    with pytest.raises(ProxyStudyError, match="archs: 6 there, 7 now"):
        ProxyStudy(plugin, out, NoScoring(), archs=7, batch_size=4)


@needs_data
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space=nb201", "--archs=1"], "--archs"),
        ([], "STUDY_FOLDER or --space"),
        (["--space=nb201", "--proxies=nope"], "nope"),
        (["--space=nb201", "--set=search.top_k=1"], "space.KEY"),
    ],
)
def test_bad_space_requests_are_refused(tmp_path, args, message) -> None:
    result = invoke("proxies", *args, f"--out={tmp_path / 'x'}")
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_all_of_a_small_space_is_enumerated(tmp_path) -> None:
    plugin = load_space("synthetic", depth=2)
    study = ProxyStudy(plugin, tmp_path, workbench=None, archs=None)
    assert len(study.plan["keys"]) == plugin.space.size == len(set(study.plan["keys"]))


@needs_data
def test_zero_cost_search_on_nb201_with_a_warm_up(tmp_path) -> None:
    """The zero-cost pipeline's fitness is the proxy; the warm-up's first population is
    the best of its scored samples; both keep their scores in the run store."""
    run = tmp_path / "run"
    result = invoke(
        "run", "--space=nb201", "--strategy=zero-cost", "--searcher=regularized-evolution",
        "--set=strategy.proxy=synflow", "--set=search.warmup=synflow",
        "--set=search.warmup_samples=12", "--set=searcher.population=4",
        "--set=searcher.tournament=2", "--set=search.max_evaluations=8", "--set=search.top_k=2",
        f"--out={run}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = store_meta(run, "proxy:synflow")
    evaluated = evaluations(run)
    assert len(evaluated) == 8 and len(scores) >= 12
    assert all(scores[key] == fitness for key, fitness in evaluated)  # fitness = synflow
    warm_up = list(scores.values())[:12]  # scored first, in one batch
    best_four = sorted(warm_up, reverse=True)[:4]
    assert sorted(f for _, f in evaluated[:4]) == sorted(best_four)
    answer = json.loads((run / "architecture.json").read_text())
    assert 0.0 < answer["metrics"]["test_top1"] <= 1.0  # retrained: the table's accuracy
    assert invoke("top", run).exit_code == 0


@needs_data
@pytest.mark.parametrize(
    ("option", "message"), [("strategy.proxy=nope", "nope"), ("search.warmup=nope", "nope")]
)
def test_unknown_proxies_are_refused_before_work(tmp_path, option, message) -> None:
    result = invoke(
        "run", "--space=nb201", "--strategy=zero-cost", f"--set={option}", f"--out={tmp_path / 'r'}"
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "synflow" in result.output
    assert not (tmp_path / "r").exists()


def test_zero_cost_search_on_glit(tmp_path, tiny_glit) -> None:
    run = tmp_path / "run"
    result = invoke(
        "run", "--strategy=zero-cost", "--set=strategy.proxy=snip", *tiny_glit,
        "--set=search.top_k=1", f"--out={run}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = store_meta(run, "proxy:snip")
    assert {key: score for key, score in evaluations(run)} == scores
    assert store_meta(run, "supernet:zero-cost") is None  # no supernet trained
    assert (run / "architecture.json").exists()


def test_jacob_cov_of_a_network_that_ignores_its_input_is_minus_infinity() -> None:
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            return self.head(x * 0.0)

    images, labels = torch.randn(4, 4), torch.tensor([0, 1, 2, 0])
    assert jacob_cov(Constant(), images, labels) == float("-inf")
