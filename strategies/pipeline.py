"""The staged search every pipeline shares (`Pipeline`): train a stage's supernet (or
take a training-free score), search it with the run's searcher, retrain the top k and
keep the best; the run store records each step, and a finished stage is skipped on
resume. The concrete pipelines `--strategy` picks are in `strategies.pipelines`.

The retrained models are ranked by their search-validation top-1 (`val_top1`); the
test top-1 is reported, never used to choose. Every pipeline that searches can warm its
searcher up (`search.warmup=PROXY`: the first population is the best of many
proxy-scored samples, `strategies.warmup`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from archspace import (
    Constraint,
    Genotype,
    InfeasibleError,
    Space,
    SpacePlugin,
    Workbench,
    budgets_of,
    ranks_of,
)
from archspace.metrics import metric as metric_of
from archspace.seeds import stage_seed32
from strategies.archive import fitness_text
from strategies.asktell import AskTellSearcher
from strategies.driver import run_search
from strategies.evaluations import Evaluations
from strategies.options import Option, resolve_options
from strategies.settings import SearchSettings
from strategies.store import RunStore
from strategies.warmup import WarmUp

#: proxy scores computed between two saves to the run store
PROXY_SAVE_EVERY = 16


@dataclass
class StageOutcome:
    stage: str
    best: Genotype
    metrics: dict[str, float]
    costs: dict[str, float]
    candidates: list[tuple[Genotype, float]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {
            "best": self.best.key,
            "genotype": self.best.to_dict(),
            "metrics": self.metrics,
            "costs": self.costs,
            "candidates": [[g.key, f] for g, f in self.candidates],
        }


@dataclass
class PipelineResult:
    strategy: str
    genotype: Genotype
    metrics: dict[str, float]
    costs: dict[str, float]
    stages: list[str]
    evaluations: int
    retrains: int
    seconds: float


class Pipeline(ABC):
    """A staged search: subclasses say which stages run over which (sub-)spaces."""

    name: ClassVar[str]
    #: one line for `archsearch strategies`
    summary: ClassVar[str] = ""
    #: what a run may set as `--set strategy.NAME=VALUE` (resolved into `self.options`)
    options: ClassVar[tuple[Option, ...]] = ()

    def __init__(
        self,
        plugin: SpacePlugin,
        workbench: Workbench,
        store: RunStore,
        *,
        make_searcher: Callable[[str], AskTellSearcher],
        settings: SearchSettings,
        options: Mapping[str, Any] | None = None,
        constraint: Constraint | None = None,
        seed: int = 0,
        say: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.plugin, self.workbench, self.store = plugin, workbench, store
        self.make_searcher, self.settings = make_searcher, settings
        self.options = self.resolve_options(options or {}, "paper")
        self.constraint, self.seed, self.say = constraint, seed, say
        self._proxy_scores: dict[str, dict[str, float]] = {}  # by proxy: {key: score}

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any], profile: str) -> dict[str, Any]:
        """Every declared option: `given` (checked), else its default under `profile`."""
        return resolve_options(f"{cls.name!r} strategy", cls.options, given, profile)

    @abstractmethod
    def execute(self) -> StageOutcome:
        """Run the stages; return the final stage's outcome."""

    @classmethod
    def check_space(cls, space: Space, options: Mapping[str, Any]) -> None:
        """Refuse (ValueError naming what is allowed), before a run starts, a space or
        resolved options this pipeline cannot search. Default: anything."""
        return None

    @classmethod
    def supernet_spaces(cls, plugin: SpacePlugin, store: RunStore) -> dict[str, Space]:
        """The (sub-)space each supernet of a run of this pipeline was trained over, by
        stage, for the supernets that finished training (what a ranking study samples
        from and scores with)."""
        return {}

    def run(self) -> PipelineResult:
        started = time.monotonic()
        outcome = self.execute()
        result = PipelineResult(
            strategy=self.name,
            genotype=outcome.best,
            metrics=outcome.metrics,
            costs=outcome.costs,
            stages=self.store.stages(),
            evaluations=len(self.store.evaluations()),
            retrains=len(self.store.retrains()),
            seconds=time.monotonic() - started,
        )
        return result

    # ---- shared steps ---------------------------------------------------------------------

    def check_budget(self, space: Space, stage: str) -> None:
        check_budget(self.plugin, self.constraint, space, stage)

    def finished(self, stage: str) -> StageOutcome | None:
        record = self.store.stage_result(stage)
        if record is None:
            return None
        space = self.plugin.space
        return StageOutcome(
            stage=stage,
            best=space.from_dict(record["genotype"]),
            metrics=record["metrics"],
            costs=record["costs"],
            candidates=[(space.from_key(k), f) for k, f in record["candidates"]],
        )

    def search(
        self,
        stage: str,
        space: Space,
        score: Callable[[Sequence[Genotype]], list[float]] | None = None,
    ) -> list[tuple[Genotype, float]]:
        """Train the stage's supernet over `space`, search it; the top k by fitness.
        With `score` (e.g. a zero-cost proxy) no supernet is trained: `score` is the
        fitness."""
        self.check_budget(space, stage)
        if score is None:
            self.say(f"[{stage}] training the supernet over {space.size:.3g} architectures")
            trained = self.workbench.train_supernet(space, stage)
            if trained is not None:
                self.store.set_meta(f"supernet:{stage}", _plain(trained))
                if callable(summary := getattr(trained, "summary", None)):
                    self.say(f"[{stage}] supernet trained: {summary()}")

            def score(genotypes: Sequence[Genotype]) -> list[float]:
                return self.workbench.evaluate(genotypes, stage)

        def record(
            genotype: Genotype, fitness: float | None, error: str | None, seconds: float
        ) -> None:
            self.store.record_evaluation(
                stage,
                genotype.key,
                genotype.to_dict(),
                fitness,
                error,
                seconds,
                self.plugin.costs(genotype),
            )

        evaluations = Evaluations(
            score,
            max_consecutive_failures=self.settings.max_consecutive_failures,
            on_result=record,
            # one candidate per process at a time: the processes of a job share each chunk
            chunk_size=self.settings.evaluation_chunk * ranks_of(self.workbench).world_size,
        )
        cached = self.store.cached_fitness(stage)
        evaluations.preload(cached)
        searcher = self.make_searcher(stage)
        self.say(
            f"[{stage}] searching with {searcher.name}"
            + (f" ({len(cached)} evaluations restored)" if cached else "")
        )

        def generation(record: Any) -> None:
            self.store.record_generation(stage, record.generation, _plain(record))
            best = "none yet" if record.best_fitness is None else fitness_text(record.best_fitness)
            self.say(
                f"[{stage}] generation {record.generation}: best {best}, "
                f"{record.evaluated_so_far} evaluated"
            )

        result = run_search(
            searcher,
            space,
            evaluations,
            self.constraint,
            seed=stage_seed32(self.seed, stage),
            max_evaluations=self.settings.max_evaluations,
            top_k=self.settings.top_k,
            on_generation=generation,
            stage=stage,
            warmup=self.warmup(stage),
            proxy=self.proxy_score,
        )
        return result.top

    def warmup(self, stage: str) -> WarmUp | None:
        """The warm-up `search.warmup` asks for (None: uniform first populations)."""
        name = self.settings.warmup
        if not name:
            return None
        self.say(f"[{stage}] first population: the best by zero-cost proxy {name}")
        return WarmUp(self.proxy_score(name), self.settings.warmup_samples, f"warm-up {name}")

    def proxy_score(self, name: str) -> Callable[[Sequence[Genotype]], list[float]]:
        """genotypes -> zero-cost proxy `name` of each untrained network (the
        workbench's `proxy_scores`), kept in the run store as they are made (every
        `PROXY_SAVE_EVERY`), so a resumed run does not score them again."""
        meta = f"proxy:{name}"
        if name not in self._proxy_scores:  # one record per proxy (warm-up and fitness)
            self._proxy_scores[name] = dict(self.store.meta(meta) or {})
        kept = self._proxy_scores[name]

        def score(genotypes: Sequence[Genotype]) -> list[float]:
            missing = list({g.key: g for g in genotypes if g.key not in kept}.values())
            for start in range(0, len(missing), PROXY_SAVE_EVERY):
                chunk = missing[start : start + PROXY_SAVE_EVERY]
                # under torchrun the processes share each chunk out and gather it
                for genotype, scores in zip(chunk, self.workbench.proxy_scores_many(chunk, [name])):
                    kept[genotype.key] = float(scores[name])
                self.store.set_meta(meta, kept)
            return [kept[g.key] for g in genotypes]

        return score

    def retrain_best(
        self,
        stage: str,
        candidates: Sequence[tuple[Genotype, float]],
        carried: Sequence[StageOutcome] = (),
    ) -> StageOutcome:
        """Retrain each candidate (unless already done), keep the best by the selection
        metric (`search.selection_metric`, by default the search-validation top-1).

        `carried` are earlier stages' winners that lie in this stage's space too: they
        compete with their measured metrics (no retraining), so a stage never ends with
        a worse architecture than the one it started from.
        """
        selection = self.settings.selection_metric
        best: tuple[Genotype, dict[str, float]] | None = None
        for k, (genotype, _) in enumerate(candidates):
            metrics = self.store.retrain(stage, genotype.key)
            if metrics is None:
                self.say(
                    f"[{stage}] retraining candidate {k + 1}/{len(candidates)} ({genotype.key})"
                )
                metrics = self.workbench.retrain(genotype, stage)
                self.store.record_retrain(
                    stage, genotype.key, genotype.to_dict(), metrics, self.plugin.costs(genotype)
                )
            if selection not in metrics:
                raise KeyError(
                    f"search.selection_metric is {selection!r} but the workbench's retrain() "
                    f"reported only {', '.join(sorted(metrics))}"
                )
            if best is None or metrics[selection] > best[1][selection]:
                best = (genotype, metrics)
        for earlier in carried:
            if best is None or earlier.metrics[selection] > best[1][selection]:
                self.say(f"[{stage}] no candidate beat {earlier.stage}'s {earlier.best.key}")
                best = (earlier.best, earlier.metrics)
        assert best is not None, "no candidates to retrain"
        outcome = StageOutcome(
            stage, best[0], best[1], self.plugin.costs(best[0]), list(candidates)
        )
        self.store.finish_stage(stage, outcome.to_record())
        self.say(f"[{stage}] kept {outcome.best.key}: {selection} {outcome.metrics[selection]:.4f}")
        return outcome

    def search_and_retrain(
        self, stage: str, space: Space, carried: Sequence[StageOutcome] = ()
    ) -> StageOutcome:
        done = self.finished(stage)
        if done is not None:
            self.say(f"[{stage}] already finished: {done.best.key}")
            return done
        return self.retrain_best(stage, self.search(stage, space), carried)


def check_budget(
    plugin: SpacePlugin, constraint: Constraint | None, space: Space, stage: str | None = None
) -> None:
    """Fail fast, naming the cheapest and dearest cost, when nothing in `space` fits a
    budget (each bound on its own; a combination can still be infeasible, which the
    sampler reports)."""
    for budget in budgets_of(constraint):
        if budget.maximum is None:
            continue
        bounds = plugin.metric_range(budget.metric, space)
        if bounds is not None and bounds[0] > budget.maximum:
            shown = metric_of(budget.metric).format
            raise InfeasibleError(
                f"budget {budget} is infeasible"
                + (f" for stage {stage!r} of" if stage else " in")
                + f" space {plugin.name!r}: "
                f"the cheapest architecture there costs {shown(bounds[0])} "
                f"{budget.metric} (the dearest {shown(bounds[1])}); raise the budget "
                f"to at least {shown(bounds[0])}"
            )


def supernet_trained(store: RunStore, stage: str) -> bool:
    """Whether the run store records stage `stage`'s supernet as trained."""
    return store.meta(f"supernet:{stage}") is not None


def _plain(obj: Any) -> Any:
    """Dataclass/objects -> JSON-ready dicts for the store."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
