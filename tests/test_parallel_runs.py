"""Run-level behaviour of a job of several processes, simulated with threads.

Each "process" runs `start_run` on the same folder with a workbench that reports its
rank; only the main one may write, every one must take the same path (same cache,
same candidates in the same chunks), and a resumed job must skip the same work.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from archspace.synthetic import SyntheticPlugin, SyntheticWorkbench
from strategies.run import RunConfig, start_run
from strategies.store import RunStore
from tests.conftest import ThreadRanks

SEARCH = {"population": 8, "parents": 4, "mutants": 4, "crossovers": 4, "generations": 3}


class RankedWorkbench(SyntheticWorkbench):
    """Records each evaluate() call's candidates; dies at the n-th call if asked."""

    def __init__(self, plugin, ranks: ThreadRanks, die_at: int | None = None) -> None:
        super().__init__(plugin)
        self.ranks, self.die_at = ranks, die_at
        self.batches: list[list[str]] = []

    def evaluate(self, genotypes, stage):
        self.batches.append([g.key for g in genotypes])
        if len(self.batches) == self.die_at:
            raise KeyboardInterrupt("killed")
        return super().evaluate(genotypes, stage)


def config(searcher: str = "evolution") -> RunConfig:
    return RunConfig(
        space="synthetic",
        strategy="hierarchical-ea",
        space_options={"depth": 5},
        searcher=searcher,
        budgets={"cost": 60},
        searcher_options=SEARCH if searcher == "evolution" else {"trials": 20},
        seed=1,
    )


def job(run_dir, world_size: int, searcher: str = "evolution", die_at=None):
    """Run the job's processes as threads; their workbenches and results (or errors)."""
    plugin = SyntheticPlugin(depth=5)
    gate = threading.Barrier(world_size)
    benches = [
        RankedWorkbench(plugin, ThreadRanks(rank, world_size, gate), die_at)
        for rank in range(world_size)
    ]

    def one(bench):
        try:
            return start_run(config(searcher), run_dir, plugin=plugin, workbench=bench)
        except KeyboardInterrupt as error:
            return error

    with ThreadPoolExecutor(world_size) as pool:
        return benches, list(pool.map(one, benches))


@pytest.mark.parametrize("searcher", ["evolution", "optuna"])
def test_ranks_run_in_step_and_only_the_main_one_writes(tmp_path, searcher) -> None:
    benches, results = job(tmp_path / "job", 2, searcher)
    _, (alone,) = job(tmp_path / "alone", 1, searcher)
    main, other = benches
    assert results[0].genotype == results[1].genotype == alone.genotype
    assert main.batches == other.batches  # the same candidates, in the same chunks
    assert max(len(b) for b in main.batches) == 2  # world_size candidates at a time
    assert main.calls == other.calls  # the same supernets trained, the same retrains
    assert files(tmp_path / "job") == files(tmp_path / "alone")
    with RunStore(tmp_path / "job", readonly=True) as store:
        assert len(store.evaluations()) == alone.evaluations
        assert store.stages() == ["distribution", "detail"]


def files(folder) -> list[str]:
    """What a run wrote (SQLite's -wal/-shm side files come and go with readers)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))


def test_a_killed_job_resumes_with_every_rank_skipping_the_same_work(tmp_path) -> None:
    _, (straight,) = job(tmp_path / "straight", 1)
    killed, errors = job(tmp_path / "job", 2, die_at=4)
    assert all(isinstance(e, KeyboardInterrupt) for e in errors)
    benches, results = job(tmp_path / "job", 2)
    assert results[0].genotype == results[1].genotype == straight.genotype
    assert benches[0].batches == benches[1].batches
    evaluated_before = sum(len(b) for b in killed[0].batches[:-1])
    evaluated_now = sum(len(b) for b in benches[0].batches)
    assert evaluated_before + evaluated_now == straight.evaluations  # nothing repeated
