"""Searchers by name (`--searcher`), built with a profile's search sizes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from archspace import Registry
from strategies.searcher import Searcher
from strategies.settings import SearchSettings

#: third-party searchers register under the `archsearch.searchers` entry-point group
searchers: Registry[type[Searcher]] = Registry("archsearch.searchers", "searcher")


def _builtin() -> None:
    from strategies.evolution import EvolutionSearcher
    from strategies.optuna_search import OptunaSearcher
    from strategies.random_search import RandomSearcher

    for cls in (EvolutionSearcher, RandomSearcher, OptunaSearcher):
        searchers.register(cls.name, cls)


_builtin()


def make_searcher_factory(
    name: str,
    settings: SearchSettings,
    storage: str | None,
    run_dir: Path,
    private: bool = False,
) -> Callable[[str], Searcher]:
    """stage -> a fresh searcher sized by `settings` (optuna: one study per stage).

    `private` (the non-main processes of a job): optuna searches a copy of the run's
    storage taken now, in memory, instead of writing to it."""
    cls = searchers.get(name)
    optuna_storage: Any = storage or f"sqlite:///{Path(run_dir).resolve() / 'optuna.sqlite'}"
    if name == "optuna" and private:
        from strategies.optuna_search import private_copy

        optuna_storage = private_copy(optuna_storage)

    def make(stage: str) -> Searcher:
        if name == "evolution":
            return cls(
                population=settings.population,
                parents=settings.parents,
                mutants=settings.mutants,
                crossovers=settings.crossovers,
                generations=settings.generations,
                mutation_prob=settings.mutation_prob,
            )
        if name == "random":
            return cls(samples=settings.samples)
        if name == "optuna":
            return cls(trials=settings.samples, storage=optuna_storage, study_name=stage)
        return cls()

    return make
