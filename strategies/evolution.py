"""Evolutionary search as in SPOS: top-k parents, mutation and crossover, under a budget.

Built on a DEAP toolbox: the operators (sample, mutate, mate, feasible, select,
individual) are registered, not hard-wired, so a subclass swaps one by overriding
`make_toolbox` (e.g. tournament selection, or a mutation that knows the space's
structure); the loop, the budget, the constraint check and resume are the driver's
(`strategies.driver.run_search`). The variation
operators work on arrays of genotype rows (archspace's batched operators, same rules
as `Space.mutate`/`Space.crossover`): a generation's children are made and checked
against the budget in a few numpy calls, which keeps the strategy's own cost far below
a millisecond per candidate even when a single cost evaluation is slow.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np
from deap import base, creator, tools

from archspace import Genotype, Space
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.options import Option
from strategies.sampling import Avoid, feasible_mask, fresh_candidates, require_at_least

_FITNESS = "ArchsearchFitness"
_INDIVIDUAL = "ArchsearchIndividual"
_creator_lock = threading.Lock()


def _deap_classes() -> tuple[type, type]:
    """DEAP's creator classes, created once per process (re-creating them warns)."""
    with _creator_lock:
        if not hasattr(creator, _FITNESS):
            creator.create(_FITNESS, base.Fitness, weights=(1.0,))
        if not hasattr(creator, _INDIVIDUAL):
            # a list of option indices (DEAP's usual individual) that keeps its genotype
            creator.create(_INDIVIDUAL, list, fitness=getattr(creator, _FITNESS), genotype=None)
    return getattr(creator, _FITNESS), getattr(creator, _INDIVIDUAL)


def individual(genotype: Genotype) -> Any:
    """Wrap a genotype as a DEAP individual (fitness not yet valid)."""
    _, individual_class = _deap_classes()
    ind = individual_class(genotype.indices)
    ind.genotype = genotype
    return ind


class EvolutionSearcher(AskTellSearcher):
    """SPOS evolution: keep the top `parents` of everything evaluated; each generation
    proposes `mutants` mutants and `crossovers` children of them (topped up with fresh
    samples to `population`). Generation 0 is `population` fresh samples (uniform, or
    the warm-up's best).

    Defaults are the SPOS settings: 50, top 10, 25 + 25, per-choice mutation
    probability 0.1, and a default budget of `population` x `generations` (50 x 20 =
    1000) distinct evaluations. A child that is over budget or already seen (earlier in
    the search or in this generation) is remade, up to `retries` times, then replaced by
    a fresh feasible sample.

    Resume: every decision depends only on the seed and on the fitness values told,
    never on what the cache already holds, so the driver's resume replays the same
    trajectory.
    """

    name: ClassVar[str] = "evolution"
    summary: ClassVar[str] = (
        "SPOS evolution (Guo et al. 2020): top-k parents, mutation and crossover "
        "under the constraint, on a DEAP toolbox"
    )

    options: ClassVar[tuple[Option, ...]] = (
        Option("population", int, 50, "architectures per generation", low=1, profiles={"quick": 8}),
        Option("parents", int, 10, "the top-k kept as parents", low=1, profiles={"quick": 4}),
        Option(
            "mutants", int, 25, "children by mutation per generation", low=0, profiles={"quick": 4}
        ),
        Option(
            "crossovers",
            int,
            25,
            "children by crossover per generation",
            low=0,
            profiles={"quick": 4},
        ),
        Option(
            "generations",
            int,
            20,
            "generations (the default budget is population x generations)",
            low=1,
            profiles={"quick": 3},
        ),
        Option("mutation_prob", float, 0.1, "per-choice mutation probability", low=0.0, high=1.0),
        Option("retries", int, 10, "redraws of an over-budget or seen child", low=0),
    )

    def __init__(
        self,
        population: int = 50,
        parents: int = 10,
        mutants: int = 25,
        crossovers: int = 25,
        generations: int = 20,
        mutation_prob: float = 0.1,
        retries: int = 10,
    ) -> None:
        require_at_least(
            "evolution", 1, population=population, parents=parents, generations=generations
        )
        require_at_least("evolution", 0, mutants=mutants, crossovers=crossovers, retries=retries)
        if parents > population:
            raise ValueError(
                f"evolution: parents ({parents}) cannot exceed population ({population})"
            )
        if not 0.0 < mutation_prob <= 1.0:
            raise ValueError(f"evolution: mutation_prob must be in (0, 1], got {mutation_prob}")
        self.population = population
        self.parents = parents
        self.mutants = mutants
        self.crossovers = crossovers
        self.generations = generations
        self.mutation_prob = mutation_prob
        self.retries = retries
        self.default_evaluations = population * generations

    def make_toolbox(self, context: SearchContext) -> base.Toolbox:
        """The registered operators; override to swap one.

        sample(n) -> n feasible rows; mutate(rows) -> rows; mate(rows, rows) -> rows;
        feasible(rows) -> bool mask; select(individuals, k); individual(genotype). Rows
        are canonical option-index arrays of `context.space`. All randomness must come
        from `context.rng` (DEAP's own random operators draw from Python's global
        `random`: avoid them or give them a seeded `random.Random`).
        """
        space, rng = context.space, context.rng
        toolbox = base.Toolbox()
        toolbox.register("sample", context.sampler.rows)
        toolbox.register("mutate", space.mutate_batch, rng=rng, prob=self.mutation_prob)
        toolbox.register("mate", space.crossover_batch, rng=rng)
        toolbox.register("feasible", partial(feasible_mask, space, context.constraint))
        toolbox.register("select", tools.selBest, fit_attr="fitness")
        toolbox.register("individual", individual)
        return toolbox

    def start(self, context: SearchContext) -> None:
        super().start(context)
        self.toolbox = self.make_toolbox(context)
        self.told: set[str] = set()  # every key evaluated in this search
        self.scored: list[Any] = []  # individuals with a real fitness, in evaluation order
        self.generation = 0

    def ask(self) -> list[Genotype]:
        parents = self.toolbox.select(self.scored, self.parents) if self.generation else []
        self.generation += 1
        if not parents and self.context.warmup is not None:  # the warm-up's best first
            return self.context.initial_population(self.population, self.told)
        return self._offspring(self.toolbox, self.context.space, parents, self.context.rng)

    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        for genotype, fitness in zip(genotypes, fitnesses):
            if genotype.key in self.told:
                continue
            self.told.add(genotype.key)
            if fitness is not None:
                ind = self.toolbox.individual(genotype)
                ind.fitness.values = (fitness,)
                self.scored.append(ind)

    def _offspring(
        self,
        toolbox: base.Toolbox,
        space: Space,
        parents: list[Any],
        rng: np.random.Generator,
    ) -> list[Genotype]:
        """Mutants and children of `parents` that are feasible and new, then fresh samples
        for the slots that failed `retries` times and up to `population`."""
        avoid = Avoid(self.told)
        slots = (self.mutants + self.crossovers) if parents else 0
        chosen: list[Genotype | None] = [None] * slots
        pending = list(range(slots))
        parent_rows = space.to_array([p.genotype for p in parents])
        for _ in range(self.retries):
            if not pending:
                break
            rows = self._vary(toolbox, parent_rows, pending, rng)
            feasible = toolbox.feasible(rows)
            still = []
            for slot, genotype, ok in zip(pending, space.from_array(rows), feasible):
                if ok and genotype.key not in avoid:
                    avoid.add(genotype.key)
                    chosen[slot] = genotype
                else:
                    still.append(slot)
            pending = still
        candidates = [g for g in chosen if g is not None]
        missing = max(self.population, slots) - len(candidates)
        return candidates + fresh_candidates(toolbox.sample, space, missing, avoid, self.retries)

    def _vary(
        self,
        toolbox: base.Toolbox,
        parent_rows: np.ndarray,
        slots: list[int],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One child row per slot: slots below `mutants` mutate a uniformly chosen parent,
        the others cross two distinct parents (or mutate, with a single parent)."""
        count = len(parent_rows)
        slots_array = np.asarray(slots)
        is_mutant = (slots_array < self.mutants) | (count < 2)
        rows = np.empty((len(slots), parent_rows.shape[1]), dtype=np.int64)
        n_mutants = int(is_mutant.sum())
        if n_mutants:
            picks = rng.integers(count, size=n_mutants)
            rows[is_mutant] = toolbox.mutate(parent_rows[picks])
        n_children = len(slots) - n_mutants
        if n_children:
            first = rng.integers(count, size=n_children)
            second = (first + rng.integers(1, count, size=n_children)) % count  # distinct
            rows[~is_mutant] = toolbox.mate(parent_rows[first], parent_rows[second])
        return rows
