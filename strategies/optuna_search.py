"""Search with an Optuna sampler (TPE, or NSGA-II trading fitness against cost).

Each choice of the space becomes one categorical parameter over its option *indices*,
suggested in the space's order and only while active (a kernel size is not asked for
when the block has no local heads), so Optuna sees the space's conditional structure.
The constraint is reported to the sampler as a violation value (cost - maximum, <= 0
feasible) and an infeasible suggestion is never evaluated: it is told as pruned and the
sampler learns to avoid that region.

A study can live in any Optuna storage (e.g. "sqlite:///RUN/optuna.db") and be shared:
workers that use the same storage and study name fill one trial budget together (give
them different seeds). Resuming reuses the study's finished trials without evaluating
them again, but Optuna does not promise to replay its suggestions, so a resumed search
is not required to end exactly where an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import optuna
from optuna.samplers import BaseSampler, NSGAIISampler, TPESampler
from optuna.trial import FrozenTrial, Trial, TrialState

from archspace import Constraint, Genotype, InfeasibleError, Space
from archspace.units import format_count
from strategies.searcher import (
    Archive,
    Evaluations,
    FeasibleSampler,
    GenerationRecord,
    Searcher,
    SearchResult,
    require_at_least,
)

SAMPLERS: tuple[str, ...] = ("tpe", "nsga2")

KEY_ATTR = "archsearch.key"  # user attribute: the genotype key of an evaluated trial
FAILED_ATTR = "archsearch.error"  # user attribute: why its evaluation failed
CONSTRAINT_NAME = "archsearch"
_VIOLATION_ATTR = "archsearch.violation"  # for Optuna < 5, read by a constraints_func
_HAS_SET_CONSTRAINT = hasattr(Trial, "set_constraint")


class OptunaSearcher(Searcher):
    """Optuna's TPE (default) or NSGA-II over the space's choices, asked and told in batches.

    * `sampler`: "tpe" (`TPESampler(seed=seed)`), "nsga2" (`NSGAIISampler`, two
      objectives when the constraint has a `.cost`: maximise fitness, minimise cost) or
      a ready `optuna.samplers.BaseSampler` (its own seed then applies);
      `sampler_options` go to the sampler's constructor.
    * `trials`: evaluated trials the study should hold in the end, counting those
      already there (resumed or from other workers); infeasible suggestions do not count
      but more than `max_infeasible` in a row raise InfeasibleError.
    * `storage`: an Optuna storage URL or object (None: in memory); `study_name` defaults to one
      derived from the space, its pins and the sampler, so each stage gets its own study.

    The study's evaluated trials (a resumed run, other workers) join the result and are
    preloaded into `evaluations`, so they are never evaluated again. With the same seed
    and in-memory storage a search is deterministic. The sampler is
    slow on long studies: TPE costs O(trials x choices) per suggestion.
    """

    name: ClassVar[str] = "optuna"

    def __init__(
        self,
        sampler: str | BaseSampler = "tpe",
        trials: int = 1000,
        batch_size: int = 10,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        sampler_options: Mapping[str, Any] | None = None,
        max_infeasible: int = 1000,
        max_tries: int = 10_000,
        top_k: int = 10,
    ) -> None:
        if isinstance(sampler, str) and sampler not in SAMPLERS:
            raise ValueError(
                f"optuna: unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)} "
                "or an optuna.samplers.BaseSampler"
            )
        if not isinstance(sampler, (str, BaseSampler)):
            raise TypeError(f"optuna: sampler must be a name or a BaseSampler, got {sampler!r}")
        require_at_least(
            "optuna",
            1,
            trials=trials,
            batch_size=batch_size,
            max_infeasible=max_infeasible,
            max_tries=max_tries,
            top_k=top_k,
        )
        self.sampler = sampler
        self.trials = trials
        self.batch_size = batch_size
        self.storage = storage
        self.study_name = study_name
        self.sampler_options = dict(sampler_options or {})
        self.max_infeasible = max_infeasible
        self.max_tries = max_tries
        self.top_k = top_k

    # ---- study set-up ----------------------------------------------------------------

    @property
    def sampler_name(self) -> str:
        return self.sampler if isinstance(self.sampler, str) else type(self.sampler).__name__

    def make_sampler(self, seed: int, constrained: bool) -> BaseSampler:
        """The Optuna sampler for one search (a given instance is used as is)."""
        if isinstance(self.sampler, BaseSampler):
            return self.sampler
        options: dict[str, Any] = {"seed": seed, **self.sampler_options}
        if constrained and not _HAS_SET_CONSTRAINT:  # Optuna < 5: constraints_func
            options.setdefault("constraints_func", _violation_of)
        if self.sampler == "nsga2":
            return NSGAIISampler(**options)
        return TPESampler(**options)

    def default_study_name(self, space: Space, directions: list[str]) -> str:
        """Stable per (sub-)space and sampler, so stages and resumed runs find their study."""
        spec = json.dumps([space.to_spec(), directions], sort_keys=True, default=str)
        digest = hashlib.sha256(spec.encode()).hexdigest()[:10]
        return f"{space.name}-{self.sampler_name}-{digest}"

    def open_study(
        self, space: Space, seed: int, constraint: Constraint | None, multi_objective: bool
    ) -> optuna.Study:
        directions = ["maximize", "minimize"] if multi_objective else ["maximize"]
        name = self.study_name or self.default_study_name(space, directions)
        study = optuna.create_study(
            storage=self.storage,
            study_name=name,
            sampler=self.make_sampler(seed, constraint is not None),
            directions=directions,
            load_if_exists=True,
        )
        found = [d.name.lower() for d in study.directions]
        if found != directions:
            raise ValueError(
                f"optuna study {name!r} optimises {found}, this search needs {directions}; "
                "use another study_name"
            )
        return study

    # ---- the search ------------------------------------------------------------------

    def search(
        self,
        space: Space,
        evaluations: Evaluations,
        constraint: Constraint | None = None,
        seed: int = 0,
        on_generation: Callable[[GenerationRecord], None] | None = None,
    ) -> SearchResult:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if constraint is not None:  # fail fast, with the cost range, when nothing fits
            FeasibleSampler(space, constraint, np.random.default_rng(seed), self.max_tries)()
        multi_objective = self.sampler == "nsga2" and hasattr(constraint, "cost")
        study = self.open_study(space, seed, constraint, multi_objective)
        archive = Archive()
        _restore(study, space, constraint, evaluations, archive)
        generation = 0
        while (done := _evaluated_trials(study)) < self.trials:
            batch = self._ask(study, space, constraint, min(self.batch_size, self.trials - done))
            genotypes = [g for _, g in batch]
            try:
                fitnesses = evaluations(genotypes)
            except BaseException:
                for trial, _ in batch:  # interrupted, not failed: not counted as evaluated
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                raise
            for (trial, genotype), fitness in zip(batch, fitnesses):
                if fitness is None:
                    error = evaluations.error(genotype) or "evaluation failed"
                    trial.set_user_attr(FAILED_ATTR, error)
                    study.tell(trial, state=TrialState.FAIL)
                elif multi_objective:
                    study.tell(trial, [fitness, float(constraint.cost(genotype))])  # type: ignore[union-attr]
                else:
                    study.tell(trial, fitness)
            archive.record(generation, genotypes, fitnesses, on_generation)
            generation += 1
        _restore(study, space, constraint, evaluations, archive)  # other workers' trials
        return archive.result(self.top_k)

    def _ask(
        self, study: optuna.Study, space: Space, constraint: Constraint | None, n: int
    ) -> list[tuple[Trial, Genotype]]:
        """`n` feasible suggestions; infeasible ones are told as pruned with their violation."""
        batch: list[tuple[Trial, Genotype]] = []
        misses, costs = 0, []
        try:
            while len(batch) < n:
                trial = study.ask()
                genotype = suggest(trial, space)
                trial.set_user_attr(KEY_ATTR, genotype.key)
                if constraint is not None:
                    violation = violation_of(constraint, genotype)
                    _set_violation(trial, violation)
                    if violation > 0:
                        study.tell(trial, state=TrialState.PRUNED)
                        misses += 1
                        if hasattr(constraint, "cost"):
                            costs.append(float(constraint.cost(genotype)))
                        if misses >= self.max_infeasible:
                            raise InfeasibleError(self._stuck_message(constraint, costs))
                        continue
                misses, costs = 0, []
                batch.append((trial, genotype))
        except BaseException:
            for trial, _ in batch:
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        return batch

    def _stuck_message(self, constraint: Constraint, costs: list[float]) -> str:
        text = (
            f"the {self.sampler_name} sampler suggested {self.max_infeasible} architectures "
            f"in a row that violate {constraint}"
        )
        if costs:
            metric = getattr(constraint, "metric", "cost")
            text += (
                f"; their {metric} ranged from {format_count(min(costs))} to "
                f"{format_count(max(costs))}"
            )
        return text + "; raise the budget or max_infeasible"


def suggest(trial: Trial, space: Space) -> Genotype:
    """Ask `trial` for each active, free choice in order (option indices), then canonicalise.

    Pinned choices take their pin and inactive ones their default without being asked,
    so a sub-space's study has only the parameters that vary.
    """
    row = list(space.defaults)
    for position, choice in enumerate(space.choices):
        if position in space.pins:
            row[position] = space.pins[position]
            continue
        test = space.tests[position]
        if (test is not None and not test[0](row)) or space.counts[position] < 2:
            continue
        row[position] = trial.suggest_categorical(choice.name, list(range(len(choice))))
    return space.canonical(row)


def violation_of(constraint: Constraint, genotype: Genotype) -> float:
    """Optuna's constraint value: > 0 when violated (by how much, for a `Budget`)."""
    feasible = bool(constraint(genotype))
    cost_fn = getattr(constraint, "cost", None)
    maximum, minimum = getattr(constraint, "maximum", None), getattr(constraint, "minimum", None)
    if cost_fn is None or (maximum is None and minimum is None):
        return 0.0 if feasible else 1.0
    cost = float(cost_fn(genotype))
    excess = max(
        cost - maximum if maximum is not None else -math.inf,
        minimum - cost if minimum is not None else -math.inf,
    )
    if feasible:
        return min(excess, 0.0)
    return excess if excess > 0 else 1.0


def _set_violation(trial: Trial, value: float) -> None:
    if _HAS_SET_CONSTRAINT:
        trial.set_constraint(CONSTRAINT_NAME, value)
    else:
        trial.set_user_attr(_VIOLATION_ATTR, value)


def _violation_of(trial: FrozenTrial) -> tuple[float]:
    return (float(trial.user_attrs.get(_VIOLATION_ATTR, 0.0)),)


def _evaluated(trial: FrozenTrial) -> bool:
    """Did this trial cost a fitness evaluation (completed, or failed while evaluating)?"""
    if KEY_ATTR not in trial.user_attrs:
        return False
    return trial.state == TrialState.COMPLETE or FAILED_ATTR in trial.user_attrs


def _evaluated_trials(study: optuna.Study) -> int:
    states = (TrialState.COMPLETE, TrialState.FAIL)
    return sum(_evaluated(t) for t in study.get_trials(deepcopy=False, states=states))


def private_copy(url: str) -> optuna.storages.InMemoryStorage:
    """An in-memory copy of every study in the storage at `url`, taken now: what the
    non-main processes of a job search with, so their samplers see the main one's
    history and suggest the same trials, without writing to the shared storage."""
    copy = optuna.storages.InMemoryStorage()
    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix) :]).exists():
        return copy  # do not create the main process's database
    for summary in optuna.get_all_study_summaries(url, include_best_trial=False):
        optuna.copy_study(from_study_name=summary.study_name, from_storage=url, to_storage=copy)
    return copy


def _restore(
    study: optuna.Study,
    space: Space,
    constraint: Constraint | None,
    evaluations: Evaluations,
    archive: Archive,
) -> None:
    """Add the study's evaluated trials (earlier runs, other workers) to the archive and
    the cache; trials infeasible under the current constraint are left out."""
    known: dict[str, float | None] = {}
    states = (TrialState.COMPLETE, TrialState.FAIL)
    for trial in study.get_trials(deepcopy=False, states=states):
        if not _evaluated(trial):
            continue
        key = trial.user_attrs[KEY_ATTR]
        if key in archive or key in known:
            continue
        try:
            genotype = space.from_key(key)
        except ValueError as error:
            raise ValueError(
                f"optuna study {study.study_name!r} holds architectures of another space "
                f"than {space.name!r} ({error}); use another study_name"
            ) from None
        if constraint is not None and not constraint(genotype):
            continue
        fitness = trial.values[0] if trial.state == TrialState.COMPLETE else None
        known[key] = fitness
        archive.add([genotype], [fitness])
    evaluations.preload(known)
