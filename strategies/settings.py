"""What every search shares, per profile: the budget, failures allowed, top-k.

Everything that belongs to one searcher or one pipeline (evolution's population, the
random pipeline's architectures, BANANAS' ensemble) is that class's own declared option
(`strategies.options`), set with `searcher.NAME` / `strategy.NAME`, not a field here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

PROFILES = ("paper", "quick")


@dataclass(frozen=True)
class SearchSettings:
    """The settings every searcher and pipeline shares; each can be set as search.NAME."""

    # the budget in distinct evaluations per stage; None: the searcher's own default
    # (evolution: population x generations; random and optuna: their samples)
    max_evaluations: int | None = None
    top_k: int = 5  # architectures retrained per stage (paper: 5)
    max_consecutive_failures: int = 10
    evaluation_chunk: int = 1  # genotypes per workbench.evaluate call, recorded after each
    selection_metric: str = "val_top1"  # the retrained metric that picks a stage's winner
    # a zero-cost proxy ('' none) that picks a searcher's first population: the best of
    # `warmup_samples` uniform samples (None: 10 x the population); see strategies.warmup
    warmup: str = ""
    warmup_samples: int | None = None

    def __post_init__(self) -> None:
        """Refuse a bad value by name before any work (a typo must not cost a supernet)."""
        optional = ("max_evaluations", "warmup_samples")
        for name in (*optional, "top_k", "max_consecutive_failures", "evaluation_chunk"):
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"search.{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.warmup, str):
            raise ValueError(f"search.warmup must be a proxy name or '', got {self.warmup!r}")
        if self.warmup:
            from archspace.proxies import proxies

            if self.warmup not in proxies:
                raise ValueError(
                    f"search.warmup={self.warmup!r} is no zero-cost proxy; known: "
                    + ", ".join(proxies.names())
                )
        if not isinstance(self.selection_metric, str) or not self.selection_metric:
            raise ValueError(
                f"search.selection_metric must be a metric name, got {self.selection_metric!r}"
            )

    def override(self, **changes: Any) -> SearchSettings:
        allowed = {f.name for f in dataclasses.fields(self)}
        for key in changes:
            if key in MOVED:
                raise KeyError(moved_message(key, changes[key]))
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise KeyError(
                f"unknown search setting(s) {', '.join(unknown)}; allowed: "
                + ", ".join(sorted(allowed))
                + " (a searcher's own options are searcher.NAME, a pipeline's strategy.NAME:"
                " `archsearch strategies` lists them)"
            )
        return dataclasses.replace(self, **changes)


#: what each shared setting does, for `archsearch strategies`
SETTING_HELP: dict[str, str] = {
    "max_evaluations": "distinct evaluations per stage (None: the searcher's own default)",
    "top_k": "architectures retrained per stage",
    "max_consecutive_failures": "failed evaluations in a row before the search stops",
    "evaluation_chunk": "genotypes per evaluate call, recorded after each",
    "selection_metric": "the retrained metric that picks a stage's winner",
    "warmup": "a zero-cost proxy ('' none) picking a searcher's first population",
    "warmup_samples": "samples the warm-up scores (None: 10 x the population)",
}

SETTINGS: dict[str, SearchSettings] = {
    "paper": SearchSettings(),
    "quick": SearchSettings(top_k=2),
}


def get_settings(profile: str) -> SearchSettings:
    if profile not in SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(SETTINGS)}")
    return SETTINGS[profile]


#: search settings of earlier versions that are now options of one searcher or
#: pipeline: old name -> (section, {owner: option name})
MOVED: dict[str, tuple[str, dict[str, str]]] = {
    **{
        name: ("searcher", {"evolution": name})
        for name in ("population", "parents", "mutants", "crossovers", "generations")
    },
    "mutation_prob": ("searcher", {"evolution": "mutation_prob"}),
    "samples": ("searcher", {"random": "samples", "optuna": "trials"}),
    "aging_population": ("searcher", {"regularized-evolution": "population"}),
    "tournament": ("searcher", {"regularized-evolution": "tournament"}),
    "local_initial": ("searcher", {"local": "initial"}),
    "local_restart": ("searcher", {"local": "restart"}),
    **{
        f"bananas_{name}": ("searcher", {"bananas": name})
        for name in ("initial", "batch_size", "ensemble", "predictor", "acquisition")
    },
    "random_architectures": ("strategy", {"random": "architectures"}),
}


def moved_message(key: str, value: Any) -> str:
    """What to write instead of an earlier version's search.KEY."""
    section, owners = MOVED[key]
    kind = "searcher" if section == "searcher" else "pipeline (--strategy)"
    spelled = " or ".join(
        f"--set {section}.{name}={value!r} (with {owner!r} as the {kind})"
        for owner, name in owners.items()
    )
    first_owner, first_name = next(iter(owners.items()))
    return (
        f"search.{key} is now an option of the {kind} that uses it: write {spelled}; "
        f"in a TOML file, [{section}] name = {first_owner!r}, {first_name} = {value!r}"
    )


def migrate(
    search: dict[str, Any], searcher: str, strategy: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An earlier version's saved search settings split into (search, searcher options,
    strategy options) for a run of `searcher` and `strategy`; a moved setting the run's
    searcher or pipeline does not use is dropped (it never had an effect)."""
    kept: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {"searcher": {}, "strategy": {}}
    owner_of = {"searcher": searcher, "strategy": strategy}
    for key, value in search.items():
        if key not in MOVED:
            kept[key] = value
            continue
        section, owners = MOVED[key]
        if owner_of[section] in owners:
            options[section][owners[owner_of[section]]] = value
    return kept, options["searcher"], options["strategy"]
