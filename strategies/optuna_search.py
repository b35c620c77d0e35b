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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import optuna
from optuna.samplers import BaseSampler, NSGAIISampler, TPESampler
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, Trial, TrialState

from archspace import Constraint, Genotype, InfeasibleError, Space
from archspace.metrics import metric as metric_of
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.options import Option
from strategies.sampling import require_at_least

SAMPLERS: tuple[str, ...] = ("tpe", "nsga2")

KEY_ATTR = "archsearch.key"  # user attribute: the genotype key of an evaluated trial
FAILED_ATTR = "archsearch.error"  # user attribute: why its evaluation failed
CONSTRAINT_NAME = "archsearch"
_VIOLATION_ATTR = "archsearch.violation"  # for Optuna < 5, read by a constraints_func
_HAS_SET_CONSTRAINT = hasattr(Trial, "set_constraint")


class OptunaSearcher(AskTellSearcher):
    """Optuna's TPE (default) or NSGA-II over the space's choices, asked and told in batches.

    * `sampler`: "tpe" (`TPESampler`), "nsga2" (`NSGAIISampler`, two objectives when
      the constraint has a `.cost`: maximise fitness, minimise cost) or a ready
      `optuna.samplers.BaseSampler` (its own seed then applies); a named sampler is
      seeded from the search's generator; `sampler_options` go to its constructor.
    * `trials`: the default budget in distinct evaluations. The study stops asking once
      it holds that many distinct evaluated architectures, counting those already there
      (resumed or from other workers); infeasible suggestions do not count but more than
      `max_infeasible` in a row raise InfeasibleError.
    * `storage`: an Optuna storage URL or object (None: in memory); `study_name` defaults
      to one derived from the space, its pins and the sampler, so each stage gets its own
      study.

    The study's evaluated trials (a resumed run, other workers) are proposed first, and
    given to the driver as known results: they join the result and are never evaluated
    again. With the same seed and in-memory storage a search is deterministic. The
    sampler is slow on long studies: TPE costs O(trials x choices) per suggestion.
    """

    name: ClassVar[str] = "optuna"
    summary: ClassVar[str] = (
        "Optuna's TPE (Bergstra et al. 2011) or NSGA-II (Deb et al. 2002, cost as a "
        "second objective) over the choices; studies persist in --storage"
    )

    def __init__(
        self,
        sampler: str | BaseSampler = "tpe",
        trials: int = 1000,
        batch_size: int = 10,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        sampler_options: Mapping[str, Any] | None = None,
        max_infeasible: int = 1000,
    ) -> None:
        if isinstance(sampler, str) and sampler not in SAMPLERS:
            raise ValueError(
                f"optuna: unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)} "
                "or an optuna.samplers.BaseSampler"
            )
        if not isinstance(sampler, (str, BaseSampler)):
            raise TypeError(f"optuna: sampler must be a name or a BaseSampler, got {sampler!r}")
        require_at_least(
            "optuna", 1, trials=trials, batch_size=batch_size, max_infeasible=max_infeasible
        )
        self.sampler = sampler
        self.trials = trials
        self.batch_size = batch_size
        self.storage = storage
        self.study_name = study_name
        self.sampler_options = dict(sampler_options or {})
        self.max_infeasible = max_infeasible
        self.default_evaluations = trials

    options: ClassVar[tuple[Option, ...]] = (
        Option("sampler", str, "tpe", "Optuna's sampler", choices=tuple(SAMPLERS)),
        Option("trials", int, 1000, "the default budget in trials", low=1, profiles={"quick": 24}),
        Option("batch_size", int, 10, "trials asked at once", low=1),
        Option("max_infeasible", int, 1000, "over-budget suggestions allowed in a row", low=1),
    )

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, Any],
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        **context: Any,
    ) -> OptunaSearcher:
        return cls(**options, storage=storage, study_name=study_name)

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

    # ---- ask / tell ------------------------------------------------------------------

    def start(self, context: SearchContext) -> None:
        super().start(context)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._pending: list[tuple[Trial, Genotype]] = []  # asked, not yet told
        self._keys: set[str] = set()  # keys of the study's evaluated trials seen so far
        self._known: dict[str, float | None] = {}  # restored results not yet handed over
        constraint = context.constraint
        self.multi_objective = self.sampler == "nsga2" and hasattr(constraint, "cost")
        seed = int(context.rng.integers(2**32))
        self.study = self.open_study(context.space, seed, constraint, self.multi_objective)
        self._replay = self._restore()

    def ask(self) -> list[Genotype]:
        self._abandon_pending()
        if self._replay:  # the study's earlier trials first: known, never evaluated again
            replay, self._replay = self._replay, []
            return replay
        left = self.context.max_evaluations - len(self._distinct_evaluated())
        if left <= 0:  # the study is full: other workers' trials not yet seen, then done
            return self._restore()
        batch = self._suggest(min(self.batch_size, left))
        self._pending = batch
        return [genotype for _, genotype in batch]

    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        told, self._pending = self._pending[: len(fitnesses)], self._pending[len(fitnesses) :]
        for (trial, genotype), fitness in zip(told, fitnesses):
            self._keys.add(genotype.key)
            if fitness is None:
                trial.set_user_attr(FAILED_ATTR, "evaluation failed")
                self.study.tell(trial, state=TrialState.FAIL)
            elif self.multi_objective:
                cost = float(self.context.constraint.cost(genotype))  # type: ignore[union-attr]
                self.study.tell(trial, [fitness, cost])
            else:
                self.study.tell(trial, fitness)
        self._abandon_pending()  # cut by the budget: not evaluated, not counted

    def known_results(self) -> Mapping[str, float | None]:
        known, self._known = self._known, {}
        return known

    def close(self) -> None:
        if hasattr(self, "_pending"):  # interrupted mid-batch: not failed, not evaluated
            self._abandon_pending()

    def _abandon_pending(self) -> None:
        for trial, _ in self._pending:
            self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        self._pending = []

    def _distinct_evaluated(self) -> set[str]:
        states = (TrialState.COMPLETE, TrialState.FAIL)
        trials = self.study.get_trials(deepcopy=False, states=states)
        return {t.user_attrs[KEY_ATTR] for t in trials if _evaluated(t)}

    def _restore(self) -> list[Genotype]:
        """The study's evaluated trials not seen yet (earlier runs, other workers), as
        genotypes to propose, their results kept for `known_results`; trials infeasible
        under the current constraint are left out."""
        space, constraint = self.context.space, self.context.constraint
        found: list[Genotype] = []
        states = (TrialState.COMPLETE, TrialState.FAIL)
        for trial in self.study.get_trials(deepcopy=False, states=states):
            if not _evaluated(trial):
                continue
            key = trial.user_attrs[KEY_ATTR]
            if key in self._keys:
                continue
            self._keys.add(key)
            try:
                genotype = space.from_key(key)
            except ValueError as error:
                raise ValueError(
                    f"optuna study {self.study.study_name!r} holds architectures of another "
                    f"space than {space.name!r} ({error}); use another study_name"
                ) from None
            if constraint is not None and not constraint(genotype):
                continue
            self._known[key] = trial.values[0] if trial.state == TrialState.COMPLETE else None
            found.append(genotype)
        return found

    def _suggest(self, n: int) -> list[tuple[Trial, Genotype]]:
        """`n` feasible suggestions; infeasible ones are told as pruned with their violation."""
        study, space, constraint = self.study, self.context.space, self.context.constraint
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
            shown = metric_of(metric).format
            text += f"; their {metric} ranged from {shown(min(costs))} to {shown(max(costs))}"
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


JOURNAL_FILE = "optuna.journal"


def run_storage(
    url: str | None, run_dir: str | Path, *, private: bool = False
) -> str | optuna.storages.BaseStorage:
    """The storage of a run's studies: the user's URL, else a journal file in the run
    folder (optuna's append-only JournalStorage: about 20x faster per trial than SQLite,
    and safe for several processes). Runs made before keep their `optuna.sqlite`.
    `private`: an in-memory copy taken now (see `private_copy`)."""
    if url is None:
        legacy = Path(run_dir) / "optuna.sqlite"
        journal = Path(run_dir) / JOURNAL_FILE
        if legacy.exists() and not journal.exists():
            url = f"sqlite:///{legacy.resolve()}"
        elif private and not journal.exists():
            return optuna.storages.InMemoryStorage()  # do not create the main one's file
        else:
            journal.parent.mkdir(parents=True, exist_ok=True)
            return _maybe_private(
                optuna.storages.JournalStorage(JournalFileBackend(str(journal))), private
            )
    return _maybe_private(url, private)


def _maybe_private(storage: Any, private: bool) -> Any:
    return private_copy(storage) if private else storage


def private_copy(url: str | optuna.storages.BaseStorage) -> optuna.storages.InMemoryStorage:
    """An in-memory copy of every study in the storage at `url`, taken now: what the
    non-main processes of a job search with, so their samplers see the main one's
    history and suggest the same trials, without writing to the shared storage."""
    copy = optuna.storages.InMemoryStorage()
    prefix = "sqlite:///"
    if isinstance(url, str) and url.startswith(prefix) and not Path(url[len(prefix) :]).exists():
        return copy  # do not create the main process's database
    for summary in optuna.get_all_study_summaries(url, include_best_trial=False):
        optuna.copy_study(from_study_name=summary.study_name, from_storage=url, to_storage=copy)
    return copy
