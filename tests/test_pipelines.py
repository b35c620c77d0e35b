"""Pipelines and the run store on the synthetic plugin: stages, resume, failures, budget."""

from __future__ import annotations

import pytest

from archspace import InfeasibleError
from archspace.synthetic import SyntheticPlugin, SyntheticWorkbench
from strategies.run import RunConfig, resume_run, start_run
from strategies.store import RunInUseError, RunStore

EVOLUTION = {"population": 12, "parents": 4, "mutants": 4, "crossovers": 4, "generations": 4}


def config(strategy: str, **changes) -> RunConfig:
    base = dict(
        space="synthetic",
        strategy=strategy,
        space_options={"depth": 6},
        budgets={"cost": 60},
        profile="quick",
        search={"top_k": 3},
        searcher_options=EVOLUTION,
        strategy_options={"architectures": 4} if strategy == "random" else {},
        seed=3,
    )
    return RunConfig(**{**base, **changes})


def run(strategy: str, tmp_path, workbench=None, **changes):
    plugin = SyntheticPlugin(depth=6)
    bench = workbench or SyntheticWorkbench(plugin)
    result = start_run(config(strategy, **changes), tmp_path, plugin=plugin, workbench=bench)
    return plugin, bench, result


def test_hierarchical_follows_the_paper_stage_order(tmp_path) -> None:
    plugin, bench, result = run("hierarchical-ea", tmp_path)
    assert result.stages == ["distribution", "detail"]
    kinds = [(kind, stage) for kind, stage in bench.calls if kind != "evaluate"]
    assert (
        kinds
        == [("train_supernet", "distribution")]
        + [("retrain", "distribution")] * 3
        + [("train_supernet", "detail")]
        + [("retrain", "detail")] * 3
    )
    with RunStore(tmp_path, readonly=True) as store:
        first = plugin.space.from_dict(store.stage_result("distribution")["genotype"])
        mixes = {f"blocks.{i}.mix": first[f"blocks.{i}.mix"] for i in range(6)}
        detail = store.evaluations("detail")
        assert detail and all(
            plugin.space.from_dict(e["genotype"])[name] == value
            for e in detail
            for name, value in mixes.items()
        )
        stage1 = store.evaluations("distribution")
        assert all(plugin.space.from_dict(e["genotype"])["blocks.0.ffn"] == 2 for e in stage1)
        assert all(e["costs"]["cost"] <= 60 for e in store.evaluations())
    assert result.costs["cost"] <= 60
    assert result.metrics["val_top1"] == pytest.approx(plugin.fitness(result.genotype))
    assert result.metrics["val_top1"] >= plugin.fitness(first)  # never worse than stage 1
    assert (tmp_path / "architecture.json").exists() and (tmp_path / "config.json").exists()


def test_hierarchical_stops_after_a_chosen_level(tmp_path) -> None:
    """Table 4's "only distribution": the detail level stays at the space's defaults."""
    plugin, bench, result = run(
        "hierarchical-ea", tmp_path, strategy_options={"stop_after": "distribution"}
    )
    assert result.stages == ["distribution"]
    assert ("train_supernet", "detail") not in bench.calls
    details = {c.name: c.default for c in plugin.space.choices if c.level == "detail"}
    chosen = {n: v for n, v in result.genotype.values.items() if n in details}
    assert chosen and all(value == details[name] for name, value in chosen.items())


def test_a_level_not_in_the_space_is_refused_before_the_run(tmp_path) -> None:
    from cli.runconfig import build_config

    with pytest.raises(ValueError, match="its levels, in the order searched: distribution, detail"):
        build_config(
            {"space": "synthetic", "strategy": "hierarchical-ea"}, {"strategy.stop_after": "macro"}
        )


@pytest.mark.parametrize(
    ("strategy", "stages", "retrains"), [("spos", ["flat"], 3), ("random", ["random"], 4)]
)
def test_flat_and_random_pipelines(tmp_path, strategy, stages, retrains) -> None:
    _, bench, result = run(strategy, tmp_path)
    assert result.stages == stages and result.retrains == retrains
    assert result.costs["cost"] <= 60
    if strategy == "random":
        assert not any(kind == "train_supernet" for kind, _ in bench.calls)


class Killer(SyntheticWorkbench):
    """Dies (like a kill, not a failed evaluation) at the n-th evaluation."""

    def __init__(self, plugin, die_at: int | None) -> None:
        super().__init__(plugin)
        self.die_at, self.count = die_at, 0

    def evaluate(self, genotypes, stage):
        out = []
        for g in genotypes:
            self.count += 1
            if self.count == self.die_at:
                raise KeyboardInterrupt("killed")
            out += super().evaluate([g], stage)
        return out


@pytest.mark.parametrize("die_at", [5, 40])
def test_kill_and_resume_gives_the_same_result(tmp_path, die_at) -> None:
    plugin = SyntheticPlugin(depth=6)
    straight = start_run(
        config("hierarchical-ea"), tmp_path / "a", plugin=plugin, workbench=Killer(plugin, None)
    )
    with pytest.raises(KeyboardInterrupt):
        start_run(
            config("hierarchical-ea"),
            tmp_path / "b",
            plugin=plugin,
            workbench=Killer(plugin, die_at),
        )
    resumed_bench = Killer(plugin, None)
    resumed = resume_run(tmp_path / "b", plugin=plugin, workbench=resumed_bench)
    assert resumed.genotype == straight.genotype
    assert resumed.evaluations == straight.evaluations
    assert resumed_bench.count == straight.evaluations - (die_at - 1)  # nothing repeated


def test_failed_evaluations_are_recorded_and_the_search_goes_on(tmp_path) -> None:
    class Flaky(SyntheticWorkbench):
        def evaluate(self, genotypes, stage):
            if any(g.indices[0] == 1 for g in genotypes) and len(genotypes) == 1:
                raise ValueError("out of memory (simulated)")
            if any(g.indices[0] == 1 for g in genotypes):
                raise ValueError("batch failed")
            return super().evaluate(genotypes, stage)

    _, _, result = run("spos", tmp_path, workbench=Flaky(SyntheticPlugin(depth=6)))
    with RunStore(tmp_path, readonly=True) as store:
        failed = [e for e in store.evaluations() if e["status"] == "failed"]
        assert failed and all("out of memory" in e["error"] for e in failed)
        assert any(e["status"] == "ok" for e in store.evaluations())
    assert result.genotype.indices[0] != 1


def test_infeasible_budget_names_the_cheapest_cost(tmp_path) -> None:
    with pytest.raises(InfeasibleError, match=r"cheapest architecture there costs 30 cost"):
        run("spos", tmp_path, budgets={"cost": 10})


def test_a_run_folder_is_locked_and_configs_must_match(tmp_path) -> None:
    with RunStore(tmp_path), pytest.raises(RunInUseError, match="is in use by process"):
        RunStore(tmp_path)
    run("spos", tmp_path)
    with pytest.raises(ValueError, match=r"holds a different run .*differs in: seed"):
        run("spos", tmp_path, seed=4)
