"""Pipelines: what `--strategy` picks. Each trains, searches and retrains in stages
(the shared machinery is `strategies.pipeline.Pipeline`).

- `random`: sample k architectures under the budget, retrain each, keep the best
  (the paper's random baseline, Table 5).
- `spos`: one supernet over the whole space, searched by a searcher (evolution by
  default), the top k retrained, the best kept (flat SPOS).
- `hierarchical-ea`: stage "distribution" searches the distribution level with the
  detail level at its defaults; stage "detail" fixes the winning distribution and
  searches the details the same way (the paper's hierarchical search).
- `zero-cost`: no supernet; a zero-cost proxy of the untrained network is the fitness,
  the top k retrained (training-free search).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from archspace import Genotype, Space, SpacePlugin
from archspace.seeds import stage_seed32
from archspace.space import as_rng
from strategies.options import Option
from strategies.pipeline import (
    Pipeline,
    PipelineResult,
    StageOutcome,
    check_budget,
    supernet_trained,
)
from strategies.store import RunStore


class RandomPipeline(Pipeline):
    """Random baseline: k architectures sampled under the budget, each retrained."""

    name = "random"
    summary = "sample k architectures under the budget and retrain each (GLiT Table 5's baseline)"
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "architectures",
            int,
            5,
            "architectures sampled and retrained",
            low=1,
            profiles={"quick": 2},
        ),
    )

    def execute(self) -> StageOutcome:
        done = self.finished("random")
        if done is not None:
            return done
        space = self.plugin.space
        self.check_budget(space, "random")
        rng = as_rng(stage_seed32(self.seed, "random"))
        chosen: dict[str, Genotype] = {}
        attempts = 0
        while len(chosen) < self.options["architectures"] and attempts < 100:
            genotype = (
                space.sample_feasible(self.constraint, rng)
                if self.constraint
                else space.sample(rng)
            )
            chosen.setdefault(genotype.key, genotype)
            attempts += 1
        return self.retrain_best("random", [(g, float("nan")) for g in chosen.values()])


class SposPipeline(Pipeline):
    """Flat SPOS: one supernet over the whole space."""

    name = "spos"
    summary = (
        "one supernet over the whole space, searched, the top k retrained "
        "(flat SPOS, Guo et al. 2020)"
    )

    def execute(self) -> StageOutcome:
        return self.search_and_retrain("flat", self.plugin.space)

    @classmethod
    def supernet_spaces(cls, plugin: SpacePlugin, store: RunStore) -> dict[str, Space]:
        return {"flat": plugin.space} if supernet_trained(store, "flat") else {}


class HierarchicalPipeline(Pipeline):
    """GLiT's hierarchical search, for any number of levels: one stage per level of the
    space, in the order the space declares them (GLiT: distribution, then detail).

    A stage searches its level with every other level fixed: levels already searched at
    the previous stage's winner, later ones at the space's defaults. The previous winner
    competes in each stage, so a stage never ends worse than it started. `stop_after`
    ends the search after that level, the later ones at their defaults (the paper's
    Table 4 "only distribution": `--set strategy.stop_after=distribution`).
    """

    name = "hierarchical-ea"
    summary = "one supernet and search per level of the space, in order (GLiT, Chen et al. 2021)"
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "stop_after",
            str,
            "",
            "the last level searched, later ones at their defaults ('': every level)",
        ),
    )

    @classmethod
    def levels_searched(cls, space: Space, options: Mapping[str, Any]) -> list[str]:
        """The levels searched, in order (up to `stop_after`)."""
        levels = list(space.levels)
        if len(levels) < 2:
            raise ValueError(
                f"hierarchical search needs a space with at least two levels; space "
                f"{space.name!r} has {len(levels)} ({', '.join(levels)}): use --strategy spos"
            )
        last = options["stop_after"]
        if last and last not in levels:
            raise ValueError(
                f"strategy.stop_after={last!r} is not a level of space {space.name!r}; "
                f"its levels, in the order searched: {', '.join(levels)}"
            )
        return levels[: levels.index(last) + 1] if last else levels

    @classmethod
    def check_space(cls, space: Space, options: Mapping[str, Any]) -> None:
        cls.levels_searched(space, options)

    def execute(self) -> StageOutcome:
        space = self.plugin.space
        best, carried, outcome = space.default(), [], None
        for level in self.levels_searched(space, self.options):
            outcome = self.search_and_retrain(level, space.restrict(level, best), carried)
            best, carried = outcome.best, [outcome]
        assert outcome is not None
        return outcome

    @classmethod
    def supernet_spaces(cls, plugin: SpacePlugin, store: RunStore) -> dict[str, Space]:
        """Each level's sub-space, rebuilt the way `execute` built it: the levels before
        at the previous stage's winner, the later ones at their defaults."""
        space = plugin.space
        best, found = space.default(), {}
        for level in space.levels:
            if supernet_trained(store, level):
                found[level] = space.restrict(level, best)
            record = store.stage_result(level)
            if record is None:
                break
            best = space.from_dict(record["genotype"])
        return found


class ZeroCostPipeline(Pipeline):
    """Training-free search: a zero-cost proxy of each untrained network is the fitness
    (no supernet), the searcher's top k are retrained and the best kept (Abdelfattah
    et al. 2021; Mellor et al. 2021)."""

    name = "zero-cost"
    summary = (
        "no supernet: a zero-cost proxy of the untrained network is the fitness, the top k "
        "retrained (Abdelfattah et al. 2021)"
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("proxy", str, "synflow", "the zero-cost proxy searched on (archspace.proxies)"),
    )

    @classmethod
    def check_space(cls, space: Space, options: Mapping[str, Any]) -> None:
        from archspace.proxies import proxies

        proxies.check(options["proxy"])

    def execute(self) -> StageOutcome:
        stage = "zero-cost"
        done = self.finished(stage)
        if done is not None:
            self.say(f"[{stage}] already finished: {done.best.key}")
            return done
        name = self.options["proxy"]
        self.say(f"[{stage}] searching on zero-cost proxy {name} (no supernet)")
        top = self.search(stage, self.plugin.space, score=self.proxy_score(name))
        return self.retrain_best(stage, top)


PIPELINES: dict[str, type[Pipeline]] = {
    p.name: p for p in (RandomPipeline, SposPipeline, HierarchicalPipeline, ZeroCostPipeline)
}


__all__ = [
    "PIPELINES",
    "HierarchicalPipeline",
    "Pipeline",
    "PipelineResult",
    "RandomPipeline",
    "SposPipeline",
    "StageOutcome",
    "ZeroCostPipeline",
    "check_budget",
]
