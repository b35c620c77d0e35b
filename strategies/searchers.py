"""Searchers by name (`--searcher`), each built from its own declared options.

Every searcher is an `AskTellSearcher` class that declares its `options` and builds
itself with `from_options(options, **context)`; the context carries `storage` and
`study_name` (the stage) for searchers that keep a database, and a searcher ignores
what it does not use. There is no switch on names here: a third-party searcher
registered under the `archsearch.searchers` entry-point group, or with
`searchers.register`, is checked, listed and built the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from archspace import Registry
from strategies.asktell import AskTellSearcher
from strategies.options import resolve_options

#: third-party searchers register under the `archsearch.searchers` entry-point group
searchers: Registry[type[AskTellSearcher]] = Registry("archsearch.searchers", "searcher")


#: the built-in searchers by name, "module:class", imported when first used: optuna and
#: deap take a third of a second to import, which a refused flag should not wait for
BUILTIN = {
    "evolution": "strategies.evolution:EvolutionSearcher",
    "random": "strategies.random_search:RandomSearcher",
    "optuna": "strategies.optuna_search:OptunaSearcher",
    "regularized-evolution": "strategies.regularized_evolution:RegularizedEvolution",
    "local": "strategies.local_search:LocalSearch",
    "bananas": "strategies.bananas:Bananas",
}
for _name, _target in BUILTIN.items():
    searchers.register_lazy(_name, _target)

#: the searchers that keep their state in a database (`--storage`); others ignore one
STORAGE_SEARCHERS = ("optuna",)
#: SQLAlchemy backends optuna's RDBStorage is known to run on
STORAGE_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql")
_STORAGE_FORMS = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DB or mysql://USER@HOST/DB"


def searcher_options(name: str, given: Mapping[str, Any], profile: str) -> dict[str, Any]:
    """Every option of searcher `name` for a run: `given` (checked against what the
    searcher declares), else its default under `profile`."""
    return resolve_options(f"{name!r} searcher", searchers.get(name).options, given, profile)


def build_searcher(
    name: str, options: Mapping[str, Any] | None = None, profile: str = "paper", **context: Any
) -> AskTellSearcher:
    """Searcher `name` with `options` (checked; the rest at `profile`'s defaults), as a
    run builds it; the context (`storage`, `study_name`, `run_dir`) goes to searchers
    that use it."""
    resolved = searcher_options(name, options or {}, profile)
    return searchers.get(name).from_options(resolved, **context)


def check_searcher(
    name: str, storage: str | None = None, options: Mapping[str, Any] | None = None
) -> None:
    """Refuse, before any work, an unknown searcher (naming the known ones), resolved
    `options` it cannot be built from (e.g. parents above the population), a storage
    given to a searcher that does not use one, and a storage URL of the wrong form."""
    searcher = searchers.get(name)  # unknown: an error listing the known searchers
    if options is not None:
        searcher.from_options(options)  # builds nothing heavy: a searcher starts later
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
    options: Mapping[str, Any],
    storage: str | None,
    run_dir: Path,
    private: bool = False,
) -> Callable[[str], AskTellSearcher]:
    """stage -> a fresh searcher built by its class from its resolved `options` (the
    context gives `storage` and `study_name=stage`: optuna keeps one study per stage).

    `private` (the non-main processes of a job): the storage is a copy of the run's
    taken now, in memory, so that those processes search without writing to it."""
    cls = searchers.get(name)
    url: Any = storage
    if name in STORAGE_SEARCHERS:
        from strategies.optuna_search import run_storage

        url = run_storage(storage, run_dir, private=private)

    def make(stage: str) -> AskTellSearcher:
        return cls.from_options(options, storage=url, study_name=stage, run_dir=run_dir)

    return make
