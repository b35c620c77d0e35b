"""Evolutionary search as in SPOS: top-k parents, mutation and crossover, under a budget.

Built on a DEAP toolbox: the operators (sample, mutate, mate, feasible, select,
evaluate) are registered, not hard-wired, so a subclass swaps one by overriding
`toolbox` (e.g. tournament selection, or a mutation that knows the space's structure)
and keeps the loop, the constraint handling and the resume behaviour. The variation
operators work on arrays of genotype rows (archspace's batched operators, same rules
as `Space.mutate`/`Space.crossover`): a generation's children are made and checked
against the budget in a few numpy calls, which keeps the strategy's own cost far below
a millisecond per candidate even when a single cost evaluation is slow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np
from deap import base, creator, tools

from archspace import Constraint, Genotype, Space
from strategies.searcher import (
    Archive,
    Avoid,
    Evaluations,
    FeasibleSampler,
    GenerationRecord,
    Searcher,
    SearchResult,
    feasible_mask,
    fresh_candidates,
    require_at_least,
)

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


def evaluate_individuals(
    evaluations: Evaluations, individuals: Sequence[Any]
) -> list[float | None]:
    """Score a population in one batch; a failure gets fitness -inf (ranked last)."""
    fitnesses = evaluations([ind.genotype for ind in individuals])
    for ind, fitness in zip(individuals, fitnesses):
        ind.fitness.values = (-np.inf if fitness is None else fitness,)
    return fitnesses


class EvolutionSearcher(Searcher):
    """SPOS evolution: keep the top `parents` of everything evaluated; each generation
    evaluates `mutants` mutants and `crossovers` children of them (topped up with fresh
    samples to `population`). Generation 0 is `population` fresh samples.

    Defaults are the SPOS settings: 50, top 10, 25 + 25, 20 generations, per-choice
    mutation probability 0.1, i.e. 1000 candidates. A child that is over budget or
    already seen (earlier in the search or in this generation) is remade, up to
    `retries` times, then replaced by a fresh feasible sample.

    Resume: every decision depends only on the seed and on fitness values, never on
    what the cache already holds, so a search rerun with the same seed and an
    `Evaluations` preloaded with a crashed run's results replays the same trajectory and
    ends with the same result and evaluation count, paying only for what is new.
    """

    name: ClassVar[str] = "evolution"

    def __init__(
        self,
        population: int = 50,
        parents: int = 10,
        mutants: int = 25,
        crossovers: int = 25,
        generations: int = 20,
        mutation_prob: float = 0.1,
        retries: int = 10,
        max_tries: int = 10_000,
        top_k: int = 10,
    ) -> None:
        require_at_least(
            "evolution",
            1,
            population=population,
            parents=parents,
            generations=generations,
            max_tries=max_tries,
            top_k=top_k,
        )
        require_at_least("evolution", 0, mutants=mutants, crossovers=crossovers, retries=retries)
        if not 0.0 < mutation_prob <= 1.0:
            raise ValueError(f"evolution: mutation_prob must be in (0, 1], got {mutation_prob}")
        self.population = population
        self.parents = parents
        self.mutants = mutants
        self.crossovers = crossovers
        self.generations = generations
        self.mutation_prob = mutation_prob
        self.retries = retries
        self.max_tries = max_tries
        self.top_k = top_k

    def toolbox(
        self,
        space: Space,
        evaluations: Evaluations,
        constraint: Constraint | None,
        rng: np.random.Generator,
    ) -> base.Toolbox:
        """The registered operators; override to swap one.

        sample(n) -> n feasible rows; mutate(rows) -> rows; mate(rows, rows) -> rows;
        feasible(rows) -> bool mask; select(individuals, k); individual(genotype);
        evaluate(individuals). Rows are canonical option-index arrays of `space`. All
        randomness must come from `rng` (DEAP's own random operators draw from Python's
        global `random`: avoid them or give them a seeded `random.Random`).
        """
        toolbox = base.Toolbox()
        toolbox.register("sample", FeasibleSampler(space, constraint, rng, self.max_tries).rows)
        toolbox.register("mutate", space.mutate_batch, rng=rng, prob=self.mutation_prob)
        toolbox.register("mate", space.crossover_batch, rng=rng)
        toolbox.register("feasible", partial(feasible_mask, space, constraint))
        toolbox.register("select", tools.selBest, fit_attr="fitness")
        toolbox.register("individual", individual)
        toolbox.register("evaluate", evaluate_individuals, evaluations)
        return toolbox

    def search(
        self,
        space: Space,
        evaluations: Evaluations,
        constraint: Constraint | None = None,
        seed: int = 0,
        on_generation: Callable[[GenerationRecord], None] | None = None,
    ) -> SearchResult:
        rng = np.random.default_rng(seed)
        toolbox = self.toolbox(space, evaluations, constraint, rng)
        archive = Archive()
        scored: list[Any] = []  # individuals with a real fitness, in evaluation order
        for generation in range(self.generations):
            parents = toolbox.select(scored, self.parents) if generation > 0 else []
            candidates = self._offspring(toolbox, space, parents, archive, rng)
            population = [toolbox.individual(g) for g in candidates]
            new = {ind.genotype.key: ind for ind in population if ind.genotype.key not in archive}
            fitnesses = toolbox.evaluate(population)
            archive.record(generation, candidates, fitnesses, on_generation)
            scored.extend(ind for ind in new.values() if ind.fitness.values[0] > -np.inf)
        return archive.result(self.top_k)

    def _offspring(
        self,
        toolbox: base.Toolbox,
        space: Space,
        parents: list[Any],
        archive: Archive,
        rng: np.random.Generator,
    ) -> list[Genotype]:
        """Mutants and children of `parents` that are feasible and new, then fresh samples
        for the slots that failed `retries` times and up to `population`."""
        avoid = Avoid(archive)
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
