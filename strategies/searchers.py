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

#: the searchers that keep their state in a database (`--storage`); others ignore one
STORAGE_SEARCHERS = ("optuna",)
#: SQLAlchemy backends optuna's RDBStorage is known to run on
STORAGE_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql")
_STORAGE_FORMS = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DB or mysql://USER@HOST/DB"


def check_searcher(name: str, storage: str | None = None) -> None:
    """Refuse, before any work, an unknown searcher (naming the known ones), a storage
    given to a searcher that does not use one, and a storage URL of the wrong form."""
    searchers.get(name)  # unknown: an error listing the known searchers
    if storage is None:
        return
    if name not in STORAGE_SEARCHERS:
        raise ValueError(
            f"--storage is used only by the searcher(s) {', '.join(STORAGE_SEARCHERS)}; "
            f"the {name!r} searcher would ignore it: drop --storage or choose "
            + " or ".join(f"--searcher {s}" for s in STORAGE_SEARCHERS)
        )
    check_storage_url(storage)


def check_storage_url(storage: Any) -> None:
    """A storage URL optuna can open: `dialect[+driver]://...` of a database backend."""
    if not isinstance(storage, str) or not storage.strip():
        raise ValueError(f"--storage must be a database URL ({_STORAGE_FORMS}), got {storage!r}")
    try:
        from sqlalchemy.engine import make_url
    except ImportError:  # optuna needs sqlalchemy for URLs anyway; a scheme check will do
        scheme, sep, _ = storage.partition("://")
        backend = scheme.partition("+")[0].lower() if sep else ""
    else:
        try:
            backend = make_url(storage).get_backend_name()
        except Exception as error:  # sqlalchemy's ArgumentError and the like
            raise ValueError(
                f"--storage {storage!r} is not a database URL ({error}); expected {_STORAGE_FORMS}"
            ) from None
    if backend not in STORAGE_BACKENDS:
        raise ValueError(
            f"--storage {storage!r} names no database optuna can use"
            + (f" (backend {backend!r})" if backend else "")
            + f"; expected {_STORAGE_FORMS} (backends: {', '.join(STORAGE_BACKENDS)})"
        )


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
