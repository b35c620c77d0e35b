"""Ground-truth ranking studies: does a run's supernet rank architectures the way
training them does?

For each search space a run's supernets were trained over (hierarchical-ea: each
stage's restricted space; spos: the whole space) the study draws N architectures,
stratified over the cost range under the run's budget, retrains each standalone with
the run's retraining recipe for K seeds, and scores each with every supernet that
covers it, the supernets of other runs named too, exactly as a search scores a
candidate (the workbench's `evaluate`: the same BatchNorm recalibration and
search-validation images). `studies.ground_truth_report` turns the result into rank
correlations with intervals, the retraining ceiling, a table file and plots.

Long work, done so that a kill loses at most one training's progress: the plan (which
architectures, which supernets) is written first and fixed; every retraining writes
its own result file as it finishes (and checkpoints meanwhile), every supernet's
scores are written chunk by chunk, and a rerun does only what is missing. Under
torchrun the processes share out whole retrainings (each trains alone) and evaluate
candidates shard by shard; the folder must be one every process sees.

Torch-free: the study reaches the networks only through the plugin protocol and the
workbench.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archspace import (
    EvaluatorError,
    FailedEvaluation,
    Genotype,
    Space,
    SpacePlugin,
    load_space,
    ranks_of,
)
from archspace import strategies as strategy_registry
from archspace.files import write_json
from strategies.run import RunConfig, load_config
from strategies.store import RunStore
from studies.proxy_scores import read_scores, score_and_keep

PLAN_FILE = "plan.json"
TRUTH_DIR = "truth"
SCORES_DIR = "scores"
PROXIES_DIR = "proxies"
#: the settings a study can change about retraining (the rest is the run's)
RETRAIN_PREFIX = "recipe.retrain."


class StudyError(ValueError):
    """A study that cannot start as asked (bad folder, mismatched runs, bad settings)."""


@dataclass(frozen=True)
class Source:
    """A run folder whose supernets score the architectures."""

    label: str
    folder: Path
    config: RunConfig
    spaces: dict[str, Space]  # stage -> the space its supernet was trained over


@dataclass
class Plan:
    """What a study measures; written once and checked on every resume."""

    settings: dict[str, Any]
    samples: dict[str, list[str]]  # sample name -> architecture keys
    genotypes: dict[str, dict[str, Any]]  # key -> genotype dict
    supernets: list[dict[str, Any]]  # label, source, stage, covered keys
    seeds: list[int]  # retraining seeds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, folder: Path) -> Plan:
        return cls(**json.loads((folder / PLAN_FILE).read_text()))


def truth_path(folder: Path, key: str, seed: int) -> Path:
    """Where a study keeps one retraining's result."""
    return folder / TRUTH_DIR / f"{key}-s{seed}.json"


def scores_path(folder: Path, label: str) -> Path:
    """Where a study keeps one supernet's scores ({key: fitness})."""
    return folder / SCORES_DIR / (label.replace("/", "_").replace(":", "-") + ".json")


def proxy_path(folder: Path, name: str) -> Path:
    """Where a study keeps one zero-cost proxy's scores ({key: score})."""
    return folder / PROXIES_DIR / f"{name}.json"


def _as_json(data: Any) -> Any:
    """`data` as it reads back from JSON (tuples become lists), so saved and asked-for
    settings compare equal."""
    return json.loads(json.dumps(data))


def covers(space: Space, genotype: Genotype) -> bool:
    """Whether `genotype` is an architecture of (sub-)space `space`."""
    return space.canonical(genotype.indices).indices == genotype.indices


def stratified_sample(
    plugin: SpacePlugin,
    space: Space,
    count: int,
    *,
    metric: str,
    constraint: Callable[[Genotype], bool] | None = None,
    bins: int = 5,
    seed: int = 0,
    pool: int | None = None,
) -> list[Genotype]:
    """`count` distinct architectures of `space` within `constraint`, spread over the
    cost range: a seeded pool of feasible samples is cut into `bins` equal-width bins of
    `metric` (between the pool's cheapest and dearest), and the bins are drawn from in
    turn, each without replacement, until `count` are chosen or the pool runs out.
    Uniform per-choice samples crowd the middle of the range; this keeps small and large
    networks in the sample."""
    rng = np.random.default_rng([seed, 0x5EED])
    draws = pool or max(50 * count, 2000)
    found: dict[str, Genotype] = {}
    for _ in range(draws):
        genotype = space.sample(rng)
        if genotype.key not in found and (constraint is None or constraint(genotype)):
            found[genotype.key] = genotype
    candidates = list(found.values())
    if not candidates:
        raise StudyError(f"no architecture of space {space.name!r} met the budget in {draws} draws")
    costs = np.asarray(plugin.costs_batch(space.to_array(candidates))[metric], dtype=float)
    low, high = float(costs.min()), float(costs.max())
    edges = np.linspace(low, high, bins + 1)
    which = np.clip(np.searchsorted(edges, costs, side="right") - 1, 0, bins - 1)
    queues = [list(rng.permutation(np.flatnonzero(which == b))) for b in range(bins)]
    chosen: list[Genotype] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(candidates[int(queue.pop())])
    return chosen


def load_sources(folders: Sequence[Path]) -> tuple[SpacePlugin, list[Source]]:
    """The runs of a study, checked: folders of runs on one space (same options and
    data), at least one with a trained supernet. Raises StudyError naming the fault."""
    if not folders:
        raise StudyError("name at least one run folder")
    sources: list[Source] = []
    plugin: SpacePlugin | None = None
    for folder in map(Path, folders):
        config = load_config(folder)  # FileNotFoundError / ValueError name the folder
        run_plugin = load_space(config.space, **config.space_options)
        if plugin is None:
            plugin = run_plugin
        elif (config.space, run_plugin.options()) != (plugin.name, plugin.options()):
            raise StudyError(
                f"run {folder} searched space {config.space} {run_plugin.options()}, but "
                f"{folders[0]} searched {plugin.name} {plugin.options()}: a study compares "
                "supernets of one space"
            )
        elif (data := config.workbench.get("data")) != sources[0].config.workbench.get("data"):
            raise StudyError(
                f"run {folder} used data {data!r}, but {folders[0]} used "
                f"{sources[0].config.workbench.get('data')!r}: a study needs the same data"
            )
        with RunStore(folder, readonly=True) as store:
            spaces = strategy_registry.get(config.strategy).supernet_spaces(run_plugin, store)
        taken = {s.label for s in sources}
        label = folder.name if folder.name not in taken else f"{folder.parent.name}/{folder.name}"
        sources.append(Source(label, folder, config, spaces))
    if not any(s.spaces for s in sources):
        raise StudyError(
            "none of the runs has a trained supernet (strategy random trains none; a run "
            "stopped before its first supernet finished has none yet): run spos or "
            "hierarchical-ea first"
        )
    assert plugin is not None
    return plugin, sources


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Retraining settings the study may change (`recipe.retrain.*`), as the nested
    recipe overrides a workbench takes."""
    recipe: dict[str, Any] = {}
    for key, value in overrides.items():
        if not key.startswith(RETRAIN_PREFIX):
            raise StudyError(
                f"a ranking study can change only the retraining recipe "
                f"({RETRAIN_PREFIX}NAME=VALUE, e.g. recipe.retrain.epochs=2); got {key!r}"
            )
        recipe[key.removeprefix("recipe.")] = value
    return recipe


class GroundTruthStudy:
    """One study folder: plan, retrainings, supernet scores (see the module docstring).

    `runs[0]` is the primary run: its supernets' spaces are sampled, its data splits,
    seed and retraining recipe (with `overrides`, `recipe.retrain.*` keys) make the
    ground truth. The other runs' supernets score the same architectures.
    """

    def __init__(
        self,
        runs: Sequence[Path],
        folder: Path,
        *,
        archs: int = 30,
        seeds: int = 2,
        bins: int = 5,
        sample_seed: int = 0,
        overrides: Mapping[str, Any] | None = None,
        device: str | None = None,
    ) -> None:
        if archs < 3:
            raise StudyError(
                f"--archs must be at least 3 (a rank correlation needs 3), got {archs}"
            )
        if seeds < 1:
            raise StudyError(f"--seeds must be at least 1, got {seeds}")
        if bins < 1:
            raise StudyError(f"--bins must be at least 1, got {bins}")
        self.folder = Path(folder)
        self.plugin, self.sources = load_sources(runs)
        self.recipe = check_overrides(overrides or {})
        self.device = device
        primary = self.sources[0].config
        self.settings = _as_json(
            {
                "runs": [str(s.folder) for s in self.sources],
                "archs": archs,
                "seeds": seeds,
                "bins": bins,
                "sample_seed": sample_seed,
                "retrain_overrides": dict(overrides or {}),
                "metric": primary.budget_metric or self.plugin.cost_metrics[0],
                "budgets": primary.budgets,
            }
        )
        self.plugin.check_run_settings(self._workbench_config(0, retrain=True))
        self._workbenches: dict[Any, Any] = {}

    @classmethod
    def open(cls, folder: str | Path, device: str | None = None) -> GroundTruthStudy:
        """The study in `folder`, with the settings it was planned with."""
        folder = Path(folder)
        if not (folder / PLAN_FILE).exists():
            raise StudyError(
                f"{folder} is not a ground-truth study folder (no {PLAN_FILE}): make one with "
                "`archsearch rank RUN_FOLDER`"
            )
        settings = Plan.read(folder).settings
        return cls(
            [Path(run) for run in settings["runs"]],
            folder,
            archs=settings["archs"],
            seeds=settings["seeds"],
            bins=settings["bins"],
            sample_seed=settings["sample_seed"],
            overrides=settings["retrain_overrides"],
            device=device,
        )

    # ---- set-up -------------------------------------------------------------------------

    def _workbench_config(self, source: int, retrain: bool = False) -> dict[str, Any]:
        config = self.sources[source].config
        settings = dict(config.workbench)
        if retrain:
            settings["recipe"] = {**settings.get("recipe", {}), **self.recipe}
        if self.device is not None:
            settings["device"] = self.device
        return {**settings, "seed": config.seed, "profile": config.profile}

    def workbench(self, source: int | None) -> Any:
        """Source `i`'s workbench on its own folder (its supernets), or with None the
        retraining workbench on the study folder (the primary run's data and seed)."""
        if source not in self._workbenches:
            if source is None:
                config = {**self._workbench_config(0, retrain=True), "run_dir": self.folder}
            else:
                config = {**self._workbench_config(source), "run_dir": self.sources[source].folder}
            self._workbenches[source] = self.plugin.workbench(config)
        return self._workbenches[source]

    def plan(self) -> Plan:
        """The plan in the folder, or a new one; refused when the folder holds a study
        with other settings."""
        if (self.folder / PLAN_FILE).exists():
            plan = Plan.read(self.folder)
            if plan.settings != self.settings:
                differs = sorted(
                    k
                    for k in {*plan.settings, *self.settings}
                    if plan.settings.get(k) != self.settings.get(k)
                )
                raise StudyError(
                    f"{self.folder} holds a study with other settings (differing: "
                    f"{', '.join(differs)}); rerun with the same ones to resume it, or "
                    "choose another --out"
                )
            return plan
        return self._new_plan()

    def _new_plan(self) -> Plan:
        primary = self.sources[0]
        constraint = self.plugin.budgets(primary.config.budgets) if primary.config.budgets else None
        samples: dict[str, list[str]] = {}
        genotypes: dict[str, Genotype] = {}
        for number, (stage, space) in enumerate(primary.spaces.items()):
            chosen = stratified_sample(
                self.plugin,
                space,
                self.settings["archs"],
                metric=self.settings["metric"],
                constraint=constraint,
                bins=self.settings["bins"],
                seed=self.settings["sample_seed"] * 1000 + number,
            )
            samples[stage] = [g.key for g in chosen]
            genotypes.update((g.key, g) for g in chosen)
        supernets = []
        for index, source in enumerate(self.sources):
            for stage, space in source.spaces.items():
                covered = [k for k, g in genotypes.items() if covers(space, g)]
                supernets.append(
                    {
                        "label": f"{source.label}:{stage}",
                        "source": index,
                        "stage": stage,
                        "keys": covered,
                    }
                )
        seed = primary.config.seed
        return Plan(
            self.settings,
            samples,
            {k: g.to_dict() for k, g in genotypes.items()},
            supernets,
            [seed + k for k in range(self.settings["seeds"])],
        )

    # ---- work ---------------------------------------------------------------------------

    def run(
        self,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
    ) -> Plan:
        """Plan (or resume), score with every supernet, retrain every architecture for
        every seed; everything finished is kept and never repeated."""
        trainer = self.workbench(None)
        ranks = ranks_of(trainer)
        if ranks.is_main:
            plan = self.plan()
            write_json(self.folder / PLAN_FILE, plan.to_dict(), indent=1)
        ranks.barrier()  # the others read the plan the main process wrote
        if not ranks.is_main:
            plan = self.plan()
        space = self.plugin.space
        genotypes = {k: space.from_dict(d) for k, d in plan.genotypes.items()}
        say(
            f"{len(genotypes)} architectures in {len(plan.samples)} sample(s) "
            f"({', '.join(f'{n}: {len(k)}' for n, k in plan.samples.items())}), "
            f"{len(plan.seeds)} retraining seed(s), {len(plan.supernets)} supernet(s)"
        )
        self._score(plan, genotypes, ranks, say)
        self._retrain(plan, genotypes, trainer, ranks, say, progress)
        return plan

    def _score(self, plan: Plan, genotypes: dict[str, Genotype], ranks: Any, say) -> None:
        for supernet in plan.supernets:
            path = scores_path(self.folder, supernet["label"])
            scores = json.loads(path.read_text()) if path.exists() else {}
            pending = [k for k in supernet["keys"] if k not in scores]
            if not pending:
                continue
            say(f"scoring {len(pending)} architectures with supernet {supernet['label']}")
            bench = self.workbench(supernet["source"])
            chunk = 8 * ranks.world_size
            for start in range(0, len(pending), chunk):
                keys = pending[start : start + chunk]
                fitness = bench.evaluate([genotypes[k] for k in keys], supernet["stage"])
                for key, value in zip(keys, fitness):
                    if isinstance(value, FailedEvaluation):
                        raise EvaluatorError(
                            f"supernet {supernet['label']} could not score {key}: {value.reason}"
                        )
                    scores[key] = float(value)
                if ranks.is_main:
                    write_json(path, scores, indent=1)

    def _retrain(
        self, plan: Plan, genotypes: dict[str, Genotype], trainer: Any, ranks: Any, say, progress
    ) -> None:
        jobs = [(key, seed) for key in genotypes for seed in plan.seeds]
        pending = [job for job in jobs if not truth_path(self.folder, *job).exists()]
        ranks.barrier()  # every process has seen the same finished files
        done = len(jobs) - len(pending)
        say(f"retraining: {done} of {len(jobs)} done before, {len(pending)} to go")
        progress(done, len(jobs), "")
        mine = pending[ranks.rank :: ranks.world_size]
        alone = ranks.world_size > 1
        for key, seed in mine:
            metrics = trainer.retrain(genotypes[key], f"truth-s{seed}", seed=seed, alone=alone)
            record = {
                "key": key,
                "seed": seed,
                "metrics": {k: float(v) for k, v in metrics.items()},
                "costs": self.plugin.costs(genotypes[key]),
            }
            write_json(truth_path(self.folder, key, seed), record, indent=1)
            done += ranks.world_size if alone else 1
            progress(min(done, len(jobs)), len(jobs), f"{key} seed {seed}")
        ranks.barrier()

    def score_proxies(
        self,
        names: Sequence[str],
        *,
        batch_size: int = 64,
        seed: int = 0,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
    ) -> None:
        """Every planned architecture's zero-cost proxies (`archspace.proxies`), untrained,
        on a minibatch of the training split; kept per proxy as each architecture is
        scored, so a rerun scores only what is missing."""
        plan = Plan.read(self.folder)
        score_and_keep(
            self.workbench(None),
            [self.plugin.space.from_dict(d) for d in plan.genotypes.values()],
            names,
            lambda name: proxy_path(self.folder, name),
            batch_size=batch_size,
            seed=seed,
            say=say,
            progress=progress,
        )

    # ---- results ------------------------------------------------------------------------

    def results(self, plan: Plan | None = None) -> dict[str, Any]:
        """Everything measured so far: per architecture its costs, per-seed metrics and
        supernet scores."""
        plan = plan or Plan.read(self.folder)
        return collect_results(self.folder, plan, self.plugin)


def collect_results(folder: Path, plan: Plan, plugin: SpacePlugin) -> dict[str, Any]:
    """Read a study folder: {"archs": {key: {"costs", "truth": {seed: metrics},
    "scores": {supernet label: fitness}}}, "plan": ...}."""
    space = plugin.space
    archs: dict[str, dict[str, Any]] = {}
    for key, data in plan.genotypes.items():
        genotype = space.from_dict(data)
        truth = {}
        for seed in plan.seeds:
            path = truth_path(folder, key, seed)
            if path.exists():
                truth[seed] = json.loads(path.read_text())["metrics"]
        archs[key] = {"costs": plugin.costs(genotype), "truth": truth, "scores": {}}
    for supernet in plan.supernets:
        path = scores_path(folder, supernet["label"])
        if path.exists():
            for key, fitness in json.loads(path.read_text()).items():
                archs[key]["scores"][supernet["label"]] = fitness
    proxies = []
    for path in sorted((folder / PROXIES_DIR).glob("*.json")):
        proxies.append(f"proxy:{path.stem}")
        for key, score in read_scores(path).items():
            archs[key]["scores"][proxies[-1]] = score
    return {"plan": plan.to_dict(), "archs": archs, "proxies": proxies}
