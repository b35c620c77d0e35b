"""The space-plugin protocol: what a search space must provide to the toolkit.

Strategies see a plugin only through this interface (never its module), so a new space
is one class registered under the `archsearch.spaces` entry point. The encoding and cost
parts are required; the training hooks (`workbench`) are what weight-sharing pipelines
call and may be left out by spaces that are only searched, not trained.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from archspace.constraints import Budget, Budgets
from archspace.cost_providers import CostProvider
from archspace.errors import EvaluatorError, FailedEvaluation
from archspace.genotype import Genotype
from archspace.latency import LatencyTableError
from archspace.metrics import Metric, declare
from archspace.parallel import RankGroup, SingleProcess
from archspace.space import Space

#: the data spec a run trains on when it names none (`data_options`, the workbench)
DEFAULT_DATA = "builtin:fashion-mnist"


class Workbench(ABC):
    """Training hooks of a plugin: supernet training, fitness evaluation, retraining.

    Three are required; the optional ones have defaults here, so the pipelines call
    them without probing.
    """

    #: the process group. A workbench that runs as several processes (torchrun) sets
    #: its own: every process then runs the same search in step, only the main one
    #: writes, and `evaluate` receives `world_size` genotypes at a time.
    ranks: RankGroup = SingleProcess()

    @abstractmethod
    def train_supernet(self, space: Space, stage: str) -> Any:
        """Train the weight-sharing supernet over (sub-)space `space`, one path per step.
        Returns what the run store keeps of it (a dataclass or dict); a result with a
        `summary()` gives the line the run prints after it (speed, data loading)."""

    @abstractmethod
    def evaluate(self, genotypes: Sequence[Genotype], stage: str) -> list[float | FailedEvaluation]:
        """Fitness (higher is better, e.g. search-validation top-1) with supernet weights;
        a `FailedEvaluation` in place of one that failed (raising fails the whole batch,
        which is then retried one by one). Raise `EvaluatorError` for the evaluator's own
        failures (out of memory): they stop the search."""

    @abstractmethod
    def retrain(
        self, genotype: Genotype, stage: str, *, seed: int | None = None, alone: bool = False
    ) -> dict[str, float]:
        """Train the standalone architecture from scratch; metrics incl. the test top-1.

        Ground-truth studies (`studies.ground_truth`) pass `seed` (another training seed
        on the same data splits) and `alone` (under torchrun: a training in this process
        only, so that processes share out whole trainings); a workbench whose results
        are known without training ignores both."""

    def data_summary(self) -> str | None:
        """One line on what the train, search-validation and test splits hold, printed
        before any training; None (the default): nothing to say."""
        return None

    def proxy_scores(
        self, genotype: Genotype, names: Sequence[str], *, batch_size: int = 64, seed: int = 0
    ) -> dict[str, float]:
        """Zero-cost proxies (`archspace.proxies`) of the untrained standalone network,
        on a seeded minibatch of the training split. Default: this space has none."""
        raise NotImplementedError("this space's workbench computes no zero-cost proxies")

    def proxy_scores_many(
        self,
        genotypes: Sequence[Genotype],
        names: Sequence[str],
        *,
        batch_size: int = 64,
        seed: int = 0,
    ) -> list[dict[str, float]]:
        """`proxy_scores` of each genotype, in order. In a job of several processes a
        shard each, gathered by `ranks.map_each`, so that each network is scored once in
        the job; a failure on any process raises on every one (none is left waiting in
        a collective)."""

        def score(genotype: Genotype) -> dict[str, float]:
            return self.proxy_scores(genotype, names, batch_size=batch_size, seed=seed)

        if self.ranks.world_size == 1:
            return [score(genotype) for genotype in genotypes]
        results = self.ranks.map_each(score, list(genotypes))
        for genotype, result in zip(genotypes, results):
            if isinstance(result, FailedEvaluation):
                raise EvaluatorError(f"zero-cost proxies of {genotype.key}: {result.reason}")
        return results


class SpacePlugin(ABC):
    """A search space with its cost model (and optionally its training backend).

    Required: `name`, `space`, `cost`. Everything else has a default that says "this
    space cannot": the command line, reports and pipelines use nothing beyond this class,
    so a new space gets every command its capabilities allow.

    Optional capabilities, by group:
    - run set-up: `profile_options` (options a profile implies, e.g. a small width for
      "quick"), `data_options` (options the data implies, e.g. num_classes);
    - naming: `presets` / `from_preset`, `describe_genotype`, `block_layout`;
    - cost: `cost_batch`, `cost_range`, `cost_breakdown`;
    - costs from outside the space (a latency table): given, not implemented, through
      `add_cost_provider`; callers read every metric through the composed views
      `cost_metrics`, `costs`, `costs_batch`, `metric_range` and `budget`;
    - benchmarks: `optimum` (the best reachable metric, for regret);
    - models: `build`, `input_shape`, `export_model` (a standalone module, with a run's
      trained weights when given a run folder);
    - training: `workbench`.
    Levels come from the space itself (`space.levels`, in the order searched).
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    #: cost metrics reported by `cost`, the first being the default budget metric; a
    #: metric beyond the well-known ones (`archspace.metrics`) is declared here with its
    #: unit, e.g. `(Metric("energy", unit="mJ"), "macs")`, and kept as its name
    metrics: ClassVar[tuple[str, ...]] = ("cost",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        metrics = cls.__dict__.get("metrics")
        if isinstance(metrics, tuple):
            cls.metrics = tuple(
                declare(m).name if isinstance(m, Metric) else str(m) for m in metrics
            )

    @property
    @abstractmethod
    def space(self) -> Space:
        """The full search space."""

    @abstractmethod
    def cost(self, genotype: Genotype) -> dict[str, float]:
        """Analytic cost metrics of one genotype, e.g. {"macs": ..., "params": ...}."""

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Costs of a population array; override with a vectorised version when possible."""
        costs = [self.cost(g) for g in self.space.from_array(rows)]
        return {m: np.array([c[m] for c in costs]) for m in self.metrics}

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float] | None:
        """Exact (cheapest, dearest) cost over `space`, when the plugin can tell; else None."""
        return None

    # ---- costs from outside the space, and the composed views -------------------------

    #: the providers this plugin was given (`add_cost_provider`), in order
    cost_providers: tuple[CostProvider, ...] = ()

    def add_cost_provider(self, provider: CostProvider, *, replace: bool = False) -> SpacePlugin:
        """Give this plugin one more cost metric (returns the plugin). `replace` drops a
        provider of the same metric first; otherwise a metric the plugin already
        reports is refused."""
        name = provider.metric.name
        kept = tuple(p for p in self.cost_providers if not (replace and p.metric.name == name))
        if name in self.metrics or any(p.metric.name == name for p in kept):
            raise ValueError(f"space {self.name!r} already reports a metric {name!r}")
        provider.check(self)
        self.cost_providers = (*kept, provider)
        return self

    def cost_provider(self, metric: str) -> CostProvider | None:
        return next((p for p in self.cost_providers if p.metric.name == metric), None)

    @property
    def cost_metrics(self) -> tuple[str, ...]:
        """Every cost metric: the space's own (`metrics`), then its providers'."""
        return (*self.metrics, *(p.metric.name for p in self.cost_providers))

    def costs(self, genotype: Genotype) -> dict[str, float]:
        """Every cost metric of one genotype (`cost` plus the providers')."""
        found = dict(self.cost(genotype))
        for provider in self.cost_providers:
            found[provider.metric.name] = provider.value(self, genotype)
        return found

    def costs_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        found = dict(self.cost_batch(rows))
        for provider in self.cost_providers:
            found[provider.metric.name] = provider.values(self, rows)
        return found

    def metric_range(self, metric: str, space: Space | None = None) -> tuple[float, float] | None:
        """`cost_range`, for any of `cost_metrics`."""
        provider = self.cost_provider(metric)
        if provider is None:
            return self.cost_range(metric, space)
        return provider.value_range(self, space or self.space)

    def load_options(self) -> dict[str, Any]:
        """What `load_space(name, **options)` needs to give this plugin back: its own
        `options()` and its providers' (recorded as a run's space options)."""
        found = self.options()
        for provider in self.cost_providers:
            found.update(provider.options())
        return found

    def budget(self, maximum: float, metric: str | None = None) -> Budget:
        """A `Budget` constraint `metric <= maximum` over any of `cost_metrics`."""
        metric = metric or self.cost_metrics[0]
        if metric not in self.cost_metrics:
            raise ValueError(
                f"space {self.name!r} has no cost metric {metric!r} to budget; its metrics: "
                + ", ".join(self.cost_metrics)
            )
        if isinstance(maximum, bool) or not isinstance(maximum, (int, float)) or maximum <= 0:
            raise ValueError(f"a budget on {metric} must be a positive number, got {maximum!r}")
        provider = self.cost_provider(metric)
        if provider is not None:
            return Budget(
                cost=lambda g: provider.value(self, g),
                maximum=maximum,
                metric=metric,
                cost_batch=lambda rows: provider.values(self, rows),
            )
        return Budget(
            cost=lambda g: self.cost(g)[metric],
            maximum=maximum,
            metric=metric,
            cost_batch=lambda rows: self.cost_batch(rows)[metric],
        )

    # ---- run set-up --------------------------------------------------------------------

    @classmethod
    def profile_options(cls, profile: str) -> dict[str, Any]:
        """Options a run profile ("quick", "paper") implies unless the user sets them."""
        return {}

    @classmethod
    def data_options(cls, data: str, download: bool = False) -> dict[str, Any]:
        """Options the run's data implies (e.g. num_classes); {} for spaces without data."""
        return {}

    def check_run_settings(self, workbench: Mapping[str, Any]) -> None:
        """Refuse, before a run starts (and before its folder exists), workbench settings
        that `workbench` would reject later: raise ValueError naming the setting and
        what is allowed. `workbench` holds what `workbench` will get, without `run_dir`.
        Default: nothing to check."""
        return None

    # ---- naming --------------------------------------------------------------------------

    def default_budgets(self) -> dict[str, float]:
        """The budget of a run that names none: what the space's default architecture
        costs in the first metric (GLiT: DeiT at the width)."""
        metric = self.metrics[0]
        return {metric: float(self.cost(self.space.default())[metric])}

    def budgets(self, limits: Mapping[str, float]) -> Budget | Budgets:
        """`metric <= maximum` for every item of `limits` (e.g. {"macs": 1.4e9,
        "params": 6e6}), each checked against the metrics this space reports."""
        if not limits:
            raise ValueError("give at least one budget, e.g. macs=1.4G")
        found = tuple(self.budget(maximum, metric) for metric, maximum in limits.items())
        return found[0] if len(found) == 1 else Budgets(found)

    def presets(self) -> Mapping[str, Genotype]:
        """Named architectures of the space at this plugin's options (e.g. published ones)."""
        return {}

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        """Every preset the space knows, at any width."""
        return tuple(cls().presets())

    @classmethod
    def from_preset(cls, name: str) -> tuple[SpacePlugin, Genotype]:
        """The plugin at the preset's own options and the preset's genotype."""
        plugin = cls()
        presets = plugin.presets()
        if name not in presets:
            raise KeyError(
                f"{name!r} is not a preset of space {cls.name!r} (presets: "
                + (", ".join(cls.preset_names()) or "none")
                + ")"
            )
        return plugin, presets[name]

    def describe_genotype(self, genotype: Genotype) -> str:
        """One short human-readable line about an architecture (default: its key)."""
        return genotype.key

    # ---- cost ----------------------------------------------------------------------------

    def cost_breakdown(self, genotype: Genotype) -> list[tuple[str, dict[str, float]]] | None:
        """Costs per part (e.g. per block), summing to `cost`; None when not known."""
        return None

    # ---- benchmarks ----------------------------------------------------------------------

    def optimum(self, budgets: Mapping[str, float] | None = None) -> float | None:
        """The best final metric any architecture within `budgets` reaches, where the
        space knows it (tabular and synthetic spaces): comparisons then report regret.
        None: unknown (every trained space)."""
        return None

    # ---- latency tables (optional; measured by oneshot.latency) ------------------------------

    def latency_parts(self, genotype: Genotype) -> list[str] | None:
        """The building blocks a genotype's network runs, as keys of a latency table, in
        order, each in the one form of `archspace.latency.part_key` (e.g. ["patch_embed",
        "block:heads=3,mlp_ratio=4", ..., "head"]); a key may repeat.
        A network's predicted latency is the sum of its parts' entries. None: the space
        has no latency table."""
        return None

    def latency_part_keys(self) -> list[str]:
        """Every distinct key `latency_parts` can give for this plugin's space: what a
        table measures."""
        return []

    def build_latency_table(self, out: str | Path, **settings: Any) -> tuple[Any, int]:
        """Measure every part into the latency table at `out` (resuming it): the table
        and how many parts this call measured. `settings`: device, batch, threads,
        dtype, min_run_time, speed_reference, progress."""
        raise LatencyTableError(
            f"space {self.name!r} has no latency table: it builds no networks to measure"
        )

    def check_latency_table(self, table: Any, **settings: Any) -> dict[str, Any]:
        """Measure whole networks and report how well `table` predicts them (errors,
        rank correlations, MACs as a predictor). `settings`: samples, seed,
        include_presets, fit, force, min_run_time, progress, networks."""
        raise LatencyTableError(
            f"space {self.name!r} has no latency table: it builds no networks to measure"
        )

    # ---- models --------------------------------------------------------------------------

    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of one input of a built model (e.g. (3, 224, 224)); None if no model."""
        return None

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0) -> Any:
        """A standalone model (e.g. a torch `nn.Module`) of one genotype, untrained."""
        raise NotImplementedError(
            f"space {self.name!r} builds no models (it is searched, not trained)"
        )

    def export_model(
        self, genotype: Genotype, run_dir: str | Path | None = None, stages: Sequence[str] = ()
    ) -> tuple[Any, str]:
        """A standalone model and where its weights came from: the weights a run folder
        trained for it in the latest of `stages` when `run_dir` is given, else fresh."""
        if run_dir is not None:
            raise NotImplementedError(f"space {self.name!r} keeps no trained weights in runs")
        return self.build(genotype), "freshly initialised weights (not trained)"

    def block_layout(self, genotype: Genotype) -> list[dict[str, Any]] | None:
        """Per block, what a drawing of the architecture shows: numbers under "bars"
        (label -> height) are stacked as bars (GLiT: {"global heads": 1, "local heads":
        2}), other entries are printed; None when the space has no block structure."""
        return None

    def options(self) -> dict[str, Any]:
        """The resolved plugin options, for the run's saved config."""
        return {}

    def workbench(self, config: Mapping[str, Any]) -> Workbench:
        raise NotImplementedError(f"space {self.name!r} provides no training backend")

    def describe(self) -> dict[str, Any]:
        """A summary for listings: levels, choice counts and exact sizes."""
        space = self.space
        return {
            "name": self.name,
            "summary": self.summary,
            "choices": len(space),
            "levels": {
                level: sum(1 for c in space.choices if c.level == level) for level in space.levels
            },
            "size": space.size,
            "log10_size": space.log10_size,
            "nominal_size": space.nominal_size,
            "metrics": list(self.cost_metrics),
            "presets": sorted(self.presets()),
        }
