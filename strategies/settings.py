"""Search sizes per profile: the paper's SPOS settings and a 2-core-CPU `quick` set."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchSettings:
    """How much searching each stage does; every field can be overridden by name."""

    population: int = 50
    parents: int = 10
    mutants: int = 25
    crossovers: int = 25
    generations: int = 20
    mutation_prob: float = 0.1
    samples: int = 1000  # candidates of the random and optuna searchers
    # the budget in distinct evaluations per stage; None: the searcher's own default
    # (evolution: population x generations; random and optuna: samples)
    max_evaluations: int | None = None
    top_k: int = 5  # architectures retrained per stage (paper: 5)
    aging_population: int = 30  # regularized evolution's population (NASLib's default)
    tournament: int = 10  # regularized evolution's tournament size (NASLib's default)
    random_architectures: int = 5  # the random pipeline's retrained samples
    max_consecutive_failures: int = 10
    evaluation_chunk: int = 1  # genotypes per workbench.evaluate call, recorded after each
    selection_metric: str = "val_top1"  # the retrained metric that picks a stage's winner
    # searcher knobs; None: the searcher's own default (see its class)
    local_initial: int | None = None  # local search: random samples per (re)start
    local_restart: int | None = None  # local search: samples of each restart
    bananas_initial: int | None = None  # BANANAS: random evaluations before the model
    bananas_batch_size: int | None = None  # BANANAS: proposals per ask
    bananas_ensemble: int | None = None  # BANANAS: predictors in the ensemble
    bananas_predictor: str | None = None  # BANANAS: the predictor's kind
    bananas_acquisition: str | None = None  # BANANAS: the acquisition function

    def __post_init__(self) -> None:
        """Refuse a bad value by name before any work (a typo must not cost a supernet)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = str(f.type).replace(" ", "")
            optional = kind.endswith("|None")
            if optional:
                if value is None:
                    continue
                kind = kind.removesuffix("|None")
            if kind == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(
                        f"search.{f.name} must be a positive int"
                        + (" (or absent)" if optional else "")
                        + f", got {value!r}"
                    )
            elif kind == "float":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not 0.0 <= value <= 1.0
                ):
                    raise ValueError(
                        f"search.{f.name} must be a probability in [0, 1], got {value!r}"
                    )
            elif not isinstance(value, str) or not value:
                raise ValueError(f"search.{f.name} must be a non-empty string, got {value!r}")
        if self.parents > self.population:
            raise ValueError(
                f"search.parents ({self.parents}) cannot exceed search.population "
                f"({self.population})"
            )
        if self.tournament > self.aging_population:
            raise ValueError(
                f"search.tournament ({self.tournament}) cannot exceed "
                f"search.aging_population ({self.aging_population})"
            )

    def override(self, **changes: Any) -> SearchSettings:
        allowed = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise KeyError(
                f"unknown search setting(s) {', '.join(unknown)}; allowed: "
                + ", ".join(sorted(allowed))
            )
        return dataclasses.replace(self, **changes)


SETTINGS: dict[str, SearchSettings] = {
    "paper": SearchSettings(),
    "quick": SearchSettings(
        population=8,
        parents=4,
        mutants=4,
        crossovers=4,
        generations=3,
        samples=24,
        top_k=2,
        random_architectures=2,
    ),
}


def get_settings(profile: str) -> SearchSettings:
    if profile not in SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(SETTINGS)}")
    return SETTINGS[profile]
