"""The ask/tell searcher interface: a searcher proposes, one driver owns the loop.

A searcher only decides *what to evaluate next*. The driver (`strategies.driver`) owns
everything else: the evaluation cache, the budget in distinct evaluations
(`search.max_evaluations`), the constraint check, failure handling, the archive and
top-k, the generation records and the run store, and resume (a resumed search replays
the same proposals against a preloaded cache and pays only for what is new). Compare
Optuna's ask-and-tell interface and Nevergrad's ask/tell.

Contract for a searcher:
- `start(context)` is called once per search, before any `ask`; all randomness comes
  from `context.rng`, so the same seed gives the same proposals.
- `ask()` returns the next batch of genotypes to evaluate (canonical, of
  `context.space`, satisfying `context.constraint`: use `context.sampler` for uniform
  feasible samples and `context.feasible` to check others); an empty list means the
  searcher has nothing more to propose. A searcher that starts from a population draws
  it with `context.initial_population(n)`, so a warm-up (`strategies.warmup`) can
  choose it.
- `tell(genotypes, fitnesses)` reports results, in the order asked, for a prefix of the
  last batch (the driver may stop mid-batch when the budget runs out); a fitness is None
  when the evaluation failed. Genotypes evaluated before are told their cached fitness
  and cost no budget.
- options: a searcher declares what a run may set as `options` (`strategies.options`)
  and is built from their values by `from_options`.
- optional: `known_results()` returns results the searcher already holds (e.g. the
  trials of a persistent Optuna study) as {key: fitness or None}; the driver calls it
  after each `ask` and preloads them into the cache, so they are never evaluated again
  (they still count against the budget when proposed). `close()` is called once when
  the search ends, normally or by an exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from archspace import Constraint, Genotype, Space
from strategies.options import Option

if TYPE_CHECKING:
    from strategies.sampling import FeasibleSampler
    from strategies.warmup import WarmUp

#: a zero-cost proxy's name -> a function scoring genotypes by it (higher is better)
ProxyScorer = Callable[[str], Callable[[Sequence[Genotype]], Sequence[float]]]


@dataclass
class SearchContext:
    """What a searcher may use during one search."""

    space: Space  # the (sub-)space searched; may carry pins
    constraint: Constraint | None
    rng: np.random.Generator  # the only source of randomness
    sampler: FeasibleSampler  # sampler.rows(n): n uniform feasible canonical rows
    max_evaluations: int  # the budget in distinct evaluations (for searchers that plan)
    stage: str = "search"
    warmup: WarmUp | None = None  # how the first population is chosen (default: uniform)
    #: a zero-cost proxy by name -> its scorer (genotypes -> scores, higher better), for
    #: searchers that use training-free signals; None when the search was given none
    proxy: ProxyScorer | None = None

    def feasible(self, genotype: Genotype) -> bool:
        return self.constraint is None or bool(self.constraint(genotype))

    def sample(self, n: int) -> list[Genotype]:
        return self.space.from_array(self.sampler.rows(n))

    def initial_population(self, n: int, avoid: Collection[str] = ()) -> list[Genotype]:
        """Up to `n` distinct feasible genotypes, keys not in `avoid`, to start a search
        from: uniform samples, or with a warm-up the best of its scored samples. Every
        searcher that starts from a population draws it here."""
        if self.warmup is not None:
            return self.warmup.population(self, n, avoid)
        from strategies.sampling import fresh_samples

        return fresh_samples(self, n, avoid)


class AskTellSearcher(ABC):
    """A search strategy as ask/tell; see the module docstring for the contract."""

    name: ClassVar[str]
    #: one line for `archsearch strategies`, citing the method's source
    summary: ClassVar[str] = ""
    #: the budget in distinct evaluations when the settings give none (an instance may
    #: set its own, e.g. population x generations from its settings)
    default_evaluations: int = 1000

    #: the options a run may set (`--set searcher.NAME=VALUE`), checked before any work
    #: and listed by `archsearch strategies`; by default they are the constructor's
    #: keyword arguments of the same names
    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **context: Any) -> AskTellSearcher:
        """Build from the run's resolved options (every declared one, checked). The
        context gives `storage`, `study_name` (the stage) and `run_dir` to searchers that
        keep a database; override to use them, and ignore what you do not use."""
        return cls(**options)

    def start(self, context: SearchContext) -> None:
        self.context = context

    @abstractmethod
    def ask(self) -> list[Genotype]:
        """The next genotypes to evaluate; [] when there is nothing more to propose."""

    @abstractmethod
    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        """Results of (a prefix of) the last batch, in order; None marks a failure."""

    def known_results(self) -> Mapping[str, float | None]:
        """Results this searcher holds that the cache may lack (default: none)."""
        return {}

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Called once when the search ends (normally or not); release resources here."""
