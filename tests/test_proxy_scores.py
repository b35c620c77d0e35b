"""Proxy scores shared out between processes (`studies.proxy_scores`): each process
scores its share, the parts merge, a killed sharded job resumes with any number of
processes and nothing scored is scored again; and `archsearch proxies` under torchrun."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from archspace import SingleProcess
from archspace.synthetic import SyntheticPlugin
from studies.proxy_scores import read_scores, read_timing, score_and_keep
from tests.conftest import ThreadRanks
from tests.test_tabular import needs_data

SPACE = SyntheticPlugin(depth=4).space
GENOTYPES = list({g.key: g for g in SPACE.from_array(
    SPACE.sample_batch(40, np.random.default_rng(0)))}.values())[:23]  # fmt: skip


class Scorer:
    """Scores an architecture by its key; remembers what it scored, can die midway."""

    def __init__(self, ranks, die_after: int | None = None) -> None:
        self.ranks, self.die_after, self.scored = ranks, die_after, []

    def proxy_scores(self, genotype, names, *, batch_size, seed):
        if self.die_after is not None and len(self.scored) == self.die_after:
            raise KeyboardInterrupt  # the process is killed
        self.scored.append(genotype.key)
        return {name: float(sum(genotype.indices)) + len(name) for name in names}


def run_ranks(folder: Path, world: int, die_after: int | None = None) -> list[Scorer]:
    gate = threading.Barrier(world)
    scorers = [Scorer(ThreadRanks(r, world, gate), die_after) for r in range(world)]
    errors = []

    def work(scorer):
        try:
            score_and_keep(scorer, GENOTYPES, ["a", "bb"], lambda n: folder / f"{n}.json",
                           batch_size=2, seed=0, timing_path=folder / "seconds.json")  # fmt: skip
        except KeyboardInterrupt:
            pass  # this process died (every one dies after the same count, before the end)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in scorers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return scorers


def expected(name: str) -> dict[str, float]:
    return {g.key: float(sum(g.indices)) + len(name) for g in GENOTYPES}


def test_two_processes_share_the_work_and_merge_their_parts(tmp_path) -> None:
    scorers = run_ranks(tmp_path, 2)
    first, second = (set(s.scored) for s in scorers)
    assert not first & second and len(first | second) == len(GENOTYPES)  # each once
    assert {len(first), len(second)} == {11, 12}
    for name in ("a", "bb"):
        assert json.loads((tmp_path / f"{name}.json").read_text()) == expected(name)
    assert not list(tmp_path.glob("*.part*"))  # merged, then removed
    timing = read_timing(tmp_path / "seconds.json")
    assert {name: count for name, (_, count) in timing.items()} == {"a": 23, "bb": 23}


def test_a_killed_sharded_job_resumes_with_one_process_scoring_only_the_rest(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr("studies.proxy_scores.SAVE_EVERY", 2)
    killed = run_ranks(tmp_path, 2, die_after=5)  # 2 architectures x 2 proxies saved, each
    assert sorted(p.name for p in tmp_path.glob("*.part*")) == [
        "a.json.part0", "a.json.part1", "bb.json.part0", "bb.json.part1", "seconds.json.part0",
        "seconds.json.part1"]  # fmt: skip
    kept = {key for scorer in killed for key in scorer.scored[:4]}
    assert read_scores(tmp_path / "a.json").keys() == kept and len(kept) == 4
    (scorer,) = run_ranks(tmp_path, 1)
    assert len(scorer.scored) == 2 * (len(GENOTYPES) - 4) and not kept & set(scorer.scored)
    for name in ("a", "bb"):
        assert json.loads((tmp_path / f"{name}.json").read_text()) == expected(name)
    assert not list(tmp_path.glob("*.part*"))
    assert read_timing(tmp_path / "seconds.json")["a"][1] == len(GENOTYPES)
    (again,) = run_ranks(tmp_path, 1)
    assert again.scored == []


def test_one_process_keeps_its_scores_in_the_proxy_file(tmp_path) -> None:
    scorer = Scorer(SingleProcess())
    score_and_keep(scorer, GENOTYPES[:4], ["a"], lambda n: tmp_path / f"{n}.json",
                   batch_size=2, seed=0)  # fmt: skip
    assert len(json.loads((tmp_path / "a.json").read_text())) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@needs_data
@pytest.mark.slow
def test_proxies_of_nb201_under_torchrun(tmp_path) -> None:
    """Two gloo processes each score half the cells; one report, no parts left."""
    out = tmp_path / "study"
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    command = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "cli", "proxies",
               "--space", "nb201", "--archs", "8", "--proxies", "synflow", "--batch", "4",
               "--out", str(out), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)["summary"]  # only the main process printed
    rows = {row["predictor"]: row for row in summary["predictors"]}
    assert rows["synflow"]["scored"] == 8
    assert len(json.loads((out / "scores-synflow.json").read_text())) == 8
    assert not list(out.glob("*.part*"))
    timing = json.loads((out / "proxy-seconds.json").read_text())
    assert timing["synflow"][1] == 8


def test_a_search_s_proxy_scores_are_shared_out_between_processes(monkeypatch) -> None:
    """`Workbench.proxy_scores_many` (what the zero-cost pipeline and the warm-up call):
    under torchrun each process scores its shard only, the results come back in order,
    and a failure on another process raises here too."""
    import oneshot.distributed
    from archspace import EvaluatorError, FailedEvaluation, Workbench
    from oneshot.distributed import Ranks

    genotypes = GENOTYPES[:5]
    others: list = [{"synflow": -1.0}] * 3  # what rank 0 scored: items 0, 2 and 4

    def all_gather_object(parts: list, local: list) -> None:
        parts[0], parts[1] = list(others), local

    monkeypatch.setattr(oneshot.distributed.dist, "all_gather_object", all_gather_object)
    second = Scorer(Ranks(1, 2))  # the second of two processes
    results = Workbench.proxy_scores_many(second, genotypes, ["synflow"])
    assert second.scored == [g.key for g in genotypes[1::2]]  # this process's shard only
    assert results[0::2] == others and results[1::2] == [
        {"synflow": float(sum(g.indices)) + 7} for g in genotypes[1::2]
    ]
    alone = Scorer(SingleProcess())
    assert Workbench.proxy_scores_many(alone, genotypes, ["synflow"])[0::2] != others
    assert alone.scored == [g.key for g in genotypes]
    others[1] = FailedEvaluation("rank 0: ValueError: the proxy broke")
    with pytest.raises(EvaluatorError, match=f"{genotypes[2].key}: rank 0: ValueError"):
        Workbench.proxy_scores_many(Scorer(Ranks(1, 2)), genotypes, ["synflow"])
