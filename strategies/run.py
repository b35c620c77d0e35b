"""Runs: a folder holding a resolved config, the run store, checkpoints and the answer.

`start_run` begins a run or, when the folder already holds the same config, resumes
it; `resume_run` continues a folder from its saved config. Nothing evaluated is lost
and nothing finished is repeated (see `strategies.store`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archspace import RankGroup, SpacePlugin, Workbench, load_space, ranks_of
from archspace import strategies as strategy_registry
from archspace.files import folders_holding, write_json
from archspace.latency import plain_json
from strategies.pipeline import PipelineResult, check_budget
from strategies.searchers import check_searcher, make_searcher_factory, searcher_options
from strategies.settings import SearchSettings, get_settings, migrate
from strategies.store import RunStore

CONFIG_FILE = "config.json"
ARCHITECTURE_FILE = "architecture.json"


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run; saved as config.json in the run folder."""

    space: str
    strategy: str
    space_options: dict[str, Any] = field(default_factory=dict)
    searcher: str = "evolution"
    profile: str = "quick"
    #: upper bounds by cost metric, e.g. {"macs": 1.4e9, "params": 6e6}; empty: none
    budgets: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    search: dict[str, Any] = field(default_factory=dict)  # SearchSettings overrides
    searcher_options: dict[str, Any] = field(default_factory=dict)  # the searcher's own
    strategy_options: dict[str, Any] = field(default_factory=dict)  # the pipeline's own
    workbench: dict[str, Any] = field(default_factory=dict)  # data, device, recipe, ...
    storage: str | None = None  # optuna storage URL; default: the run's own SQLite

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def budget_metric(self) -> str | None:
        """The primary budget's metric (what plots put on their cost axis)."""
        return next(iter(self.budgets), None)

    @property
    def budget(self) -> float | None:
        """The primary budget's bound."""
        return self.budgets.get(self.budget_metric) if self.budgets else None

    def settings(self) -> SearchSettings:
        """The shared search settings: the profile's, with this run's overrides."""
        return get_settings(self.profile).override(**self.search)

    def resolved_searcher_options(self) -> dict[str, Any]:
        """Every option of the searcher, checked: this run's, else the profile's default."""
        return searcher_options(self.searcher, self.searcher_options, self.profile)

    def resolved_strategy_options(self) -> dict[str, Any]:
        """Every option of the pipeline, checked: this run's, else the profile's default."""
        pipeline = strategy_registry.get(self.strategy)
        return pipeline.resolve_options(self.strategy_options, self.profile)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Read a saved config.json (also the forms of earlier versions: one budget, and
        searcher and pipeline options among the search settings)."""
        if not isinstance(data, dict):
            raise ValueError(f"a run config must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        if "budget" in data or "budget_metric" in data:
            bound, metric = data.pop("budget", None), data.pop("budget_metric", None)
            data.setdefault("budgets", {} if bound is None else {metric or "macs": bound})
        fields = dataclasses.fields(cls)
        known = {f.name for f in fields}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown run config key(s) {', '.join(unknown)}; allowed: "
                + ", ".join(sorted(known))
            )
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(
                f"the run config lacks the required key(s) {', '.join(missing)} (a run config "
                f"names at least {', '.join(required)}; optional: "
                + ", ".join(sorted(known - set(required)))
                + ")"
            )
        kinds = {"space": str, "strategy": str, "searcher": str, "profile": str, "seed": int}
        kinds.update(space_options=dict, budgets=dict, search=dict, workbench=dict)
        kinds.update(searcher_options=dict, strategy_options=dict)
        for name, kind in kinds.items():
            if name in data and (not isinstance(data[name], kind) or isinstance(data[name], bool)):
                raise ValueError(
                    f"run config key {name!r} must be {_KIND_NAMES[kind]}, got {data[name]!r}"
                )
        if data.get("storage") is not None and not isinstance(data["storage"], str):
            raise ValueError(
                f"run config key 'storage' must be a URL or null, got {data['storage']!r}"
            )
        search, searcher, strategy = migrate(
            data.get("search", {}),
            data.get("searcher", cls.searcher),
            data["strategy"],
        )
        data["search"] = search
        data["searcher_options"] = {**searcher, **data.get("searcher_options", {})}
        data["strategy_options"] = {**strategy, **data.get("strategy_options", {})}
        return cls(**data)


_KIND_NAMES = {str: "a string", int: "an int", dict: "a JSON object"}


def check_search(
    profile: str,
    search: Mapping[str, Any],
    searcher: str,
    searcher_given: Mapping[str, Any],
    strategy: str,
    strategy_given: Mapping[str, Any],
) -> dict[str, Any]:
    """The search settings and the searcher's and pipeline's own options, checked
    without the space (a command line refuses them before loading it, which may import
    torch); returns the searcher's resolved options."""
    get_settings(profile).override(**search)
    strategy_registry.get(strategy).resolve_options(strategy_given, profile)
    return searcher_options(searcher, searcher_given, profile)


def check_config(config: RunConfig, plugin: SpacePlugin, workbench: bool = True) -> None:
    """Everything a run will use, checked before any work and before its folder is made:
    the strategy, the search settings, the searcher and its storage, the budgets and
    (with `workbench`) the plugin's workbench settings. Raises with the value at fault
    and what is allowed."""
    resolved = check_search(
        config.profile,
        config.search,
        config.searcher,
        config.searcher_options,
        config.strategy,
        config.strategy_options,
    )
    check_searcher(config.searcher, config.storage, resolved)
    pipeline = strategy_registry.get(config.strategy)
    pipeline.check_space(
        plugin.space, pipeline.resolve_options(config.strategy_options, config.profile)
    )
    if config.budgets:
        plugin.budgets(config.budgets)
    if workbench:
        plugin.check_run_settings(
            {**config.workbench, "seed": config.seed, "profile": config.profile}
        )


def start_run(
    config: RunConfig,
    run_dir: str | Path,
    *,
    plugin: SpacePlugin | None = None,
    workbench: Workbench | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> PipelineResult:
    """Run (or resume) the search described by `config` in `run_dir`."""
    run_dir = Path(run_dir)
    pipeline_class = strategy_registry.get(config.strategy)
    plugin = plugin or load_space(config.space, **config.space_options)
    check_config(config, plugin, workbench=workbench is None)  # nothing written yet
    constraint = plugin.budgets(config.budgets) if config.budgets else None
    check_budget(plugin, constraint, plugin.space)  # before anything is written
    if workbench is None:  # joins the process group when launched by torchrun
        workbench = plugin.workbench(
            {**config.workbench, "run_dir": run_dir, "seed": config.seed, "profile": config.profile}
        )
    if not isinstance(workbench, Workbench):
        raise TypeError(
            f"space {plugin.name!r} gave a workbench of type {type(workbench).__name__}, "
            "which is not an archspace.Workbench: subclass it (train_supernet, evaluate "
            "and retrain are required)"
        )
    ranks = ranks_of(workbench)
    if not ranks.is_main:
        say = _quiet
    summary = workbench.data_summary()
    if summary:  # what train, search-val and test hold, before any work
        say(summary)
    with _open_store(config, plugin.load_options(), run_dir, ranks, say) as store:
        pipeline = pipeline_class(
            plugin,
            workbench,
            store,
            make_searcher=make_searcher_factory(
                config.searcher,
                config.resolved_searcher_options(),
                config.storage,
                run_dir,
                private=not ranks.is_main,
            ),
            settings=config.settings(),
            options=config.resolved_strategy_options(),
            constraint=constraint,
            seed=config.seed,
            say=say,
        )
        ranks.barrier()  # the other processes have copied the store: the main one may write
        result = pipeline.run()
        if ranks.is_main:
            answer = {
                "space": plugin.name,
                "space_options": plugin.load_options(),
                "strategy": result.strategy,
                "key": result.genotype.key,
                "genotype": result.genotype.to_dict(),
                "costs": result.costs,
                "metrics": result.metrics,
                "stages": result.stages,
                "evaluations": result.evaluations,
                "retrains": result.retrains,
            }
            write_json(run_dir / ARCHITECTURE_FILE, answer)
            store.set_meta("result", answer)
    return result


def _open_store(
    config: RunConfig,
    plugin_options: dict[str, Any],
    run_dir: Path,
    ranks: RankGroup,
    say: Callable[[str], None],
) -> RunStore:
    """The run store: the main process opens (and locks) the folder's, checks or writes
    config.json; the others, once it has, take a private copy of what it holds."""
    if not ranks.is_main:
        ranks.barrier()
        return RunStore.private_copy(run_dir)
    store = RunStore(run_dir)
    try:
        config_path = run_dir / CONFIG_FILE
        if config_path.exists():
            saved = plain_json(RunConfig.from_dict(json.loads(config_path.read_text())).to_dict())
            current = plain_json(config.to_dict())
            if saved != current:
                differs = sorted(k for k in saved if saved.get(k) != current.get(k))
                raise ValueError(
                    f"run folder {run_dir} holds a different run (its config differs in: "
                    f"{', '.join(differs)}); continue it with --resume {run_dir} or choose "
                    "another folder"
                )
            say(f"resuming the run in {run_dir}")
        else:
            write_json(config_path, config.to_dict())
        store.set_meta("config", config.to_dict())
        store.set_meta("plugin_options", plugin_options)
    except BaseException:
        store.close()
        raise
    ranks.barrier()
    return store


def _quiet(message: str) -> None:
    """`say` of the non-main processes: the main one speaks for the job."""


def load_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has no {CONFIG_FILE}")
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); it should hold the run's config as "
            "written by `archsearch run`"
        ) from None
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None


def resume_run(run_dir: str | Path, **kwargs: Any) -> PipelineResult:
    """Continue the run in `run_dir` from its saved config."""
    return start_run(load_config(run_dir), run_dir, **kwargs)


def find_finished_run(config: RunConfig, folders: Iterable[str | Path]) -> Path | None:
    """A finished run of exactly `config` anywhere under `folders`, or None: studies that
    would run the same search twice (one table's row is another's) take it instead."""
    wanted = plain_json(config.to_dict())
    for run_dir in folders_holding(ARCHITECTURE_FILE, folders):
        try:
            saved = load_config(run_dir)
        except (FileNotFoundError, ValueError):  # not a run: another file of that name
            continue
        if plain_json(saved.to_dict()) == wanted:
            return run_dir
    return None
