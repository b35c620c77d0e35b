"""The ask/tell searchers regularized-evolution, local and bananas: valid proposals,
determinism, failures, partial tells, exhaustion, and a significant win over random."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from archspace import Choice, Genotype, In, Space
from archspace.synthetic import SyntheticPlugin
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.bananas import Bananas, MLPEnsemble, RidgeEnsemble, one_hot
from strategies.local_search import LocalSearch, neighbours
from strategies.regularized_evolution import RegularizedEvolution
from strategies.sampling import FeasibleSampler, fresh_samples, mutate_one_rows, neighbour_rows
from strategies.searchers import build_searcher

PLUGIN = SyntheticPlugin(depth=6)
SPACE = PLUGIN.space
CONSTRAINT = PLUGIN.budget(60.0)  # ~1.5% of uniform samples fit

SEARCHERS: dict[str, Callable[[], AskTellSearcher]] = {
    "regularized-evolution": lambda: RegularizedEvolution(population=20, tournament=5),
    "regularized-evolution-batched": lambda: RegularizedEvolution(20, 5, batch_size=4),
    "local": lambda: LocalSearch(initial=5),
    # the structure tests need proposals, not a good predictor: ridge fits in microseconds
    # (the MLP ensemble is checked by the predictor test and by beating random below)
    "bananas": lambda: Bananas(initial=10, batch_size=5, ensemble=2, predictor="ridge"),
}


def drive(
    searcher: AskTellSearcher,
    space: Space,
    fn: Callable[[Genotype], float | None],
    budget: int,
    seed: int = 0,
    constraint=None,
    partial: bool = False,
    max_asks: int = 5000,
) -> tuple[dict[str, float | None], list[list[Genotype]], list[set[str]]]:
    """A minimal driver: cache, budget in distinct evaluations, tell the evaluated prefix.
    With `partial`, each batch is cut at a random point (possibly 0) before evaluating.
    Returns the results, the batches asked and, per batch, the keys told before it."""
    rng = np.random.default_rng(seed)
    searcher.start(SearchContext(space, constraint, rng, FeasibleSampler(space, constraint, rng),
                                 budget))  # fmt: skip
    cut = np.random.default_rng(1000 + seed)
    cache: dict[str, float | None] = {}
    batches: list[list[Genotype]] = []
    told_before: list[set[str]] = []
    told: set[str] = set()
    for _ in range(max_asks):
        if len(cache) >= budget:
            break
        batch = searcher.ask()
        if not batch:
            break
        batches.append(list(batch))
        told_before.append(set(told))
        if partial:
            batch = batch[: int(cut.integers(0, len(batch) + 1))]
        done = []
        for genotype in batch:
            if genotype.key not in cache:
                if len(cache) >= budget:
                    break
                cache[genotype.key] = fn(genotype)
            done.append(genotype)
        searcher.tell(done, [cache[g.key] for g in done])
        told.update(g.key for g in done)
    return cache, batches, told_before


def synthetic_fitness(genotype: Genotype) -> float:
    return PLUGIN.fitness(genotype)


def flaky_fitness(genotype: Genotype) -> float | None:
    """Fails (None) for about 40% of genotypes, deterministically."""
    if np.random.default_rng(list(genotype.indices)).random() < 0.4:
        return None
    return PLUGIN.fitness(genotype)


def check_batches(space: Space, constraint, batches, told_before) -> None:
    for batch, told in zip(batches, told_before):
        keys = [g.key for g in batch]
        assert len(set(keys)) == len(keys), "a batch repeats a genotype"
        for genotype in batch:
            assert genotype.indices == space.canonical(genotype.indices).indices
            assert constraint is None or constraint(genotype)
            assert genotype.key not in told, "re-proposed a genotype it was told"


# ---- validity -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SEARCHERS))
def test_proposals_are_canonical_feasible_new_and_fill_the_budget(name):
    space = SPACE.fix({"blocks.0.mix": 1})  # a sub-space with a pin
    cache, batches, told = drive(SEARCHERS[name](), space, synthetic_fitness, 120, 3, CONSTRAINT)
    assert len(cache) == 120
    check_batches(space, CONSTRAINT, batches, told)
    assert all(g["blocks.0.mix"] == 1 for batch in batches for g in batch)


@pytest.mark.parametrize("name", list(SEARCHERS))
def test_same_seed_same_proposals(name):
    def keys(seed):
        _, batches, _ = drive(SEARCHERS[name](), SPACE, synthetic_fitness, 60, seed, CONSTRAINT)
        return [[g.key for g in batch] for batch in batches]

    assert keys(5) == keys(5)
    assert keys(5) != keys(6)


@pytest.mark.parametrize("name", list(SEARCHERS))
def test_failures_and_partial_tells(name):
    cache, batches, told = drive(SEARCHERS[name](), SPACE, flaky_fitness, 100, 1, CONSTRAINT,
                                 partial=True)  # fmt: skip
    assert len(cache) == 100
    assert 20 < sum(f is None for f in cache.values()) < 70
    check_batches(SPACE, CONSTRAINT, batches, told)


@pytest.mark.parametrize("name", list(SEARCHERS))
def test_all_failures_keep_sampling(name):
    cache, batches, told = drive(SEARCHERS[name](), SPACE, lambda g: None, 30, 0, CONSTRAINT)
    assert len(cache) == 30
    check_batches(SPACE, CONSTRAINT, batches, told)


@pytest.mark.parametrize("name", list(SEARCHERS))
def test_a_small_space_is_exhausted_then_ask_returns_nothing(name):
    space = Space([Choice("a", (0, 1, 2)), Choice("b", (0, 1, 2))], name="tiny")
    searcher = SEARCHERS[name]()
    cache, _, _ = drive(searcher, space, lambda g: float(sum(g.indices)), 100, 0)
    assert len(cache) == 9
    assert searcher.ask() == []


def test_built_from_options_and_descriptions():
    evolution = build_searcher("regularized-evolution", profile="quick")
    assert (evolution.population, evolution.tournament) == (30, 10)  # NASLib's defaults
    tuned = build_searcher("regularized-evolution", {"population": 20, "tournament": 4})
    assert (tuned.population, tuned.tournament) == (20, 4)
    assert isinstance(build_searcher("local", profile="quick"), LocalSearch)
    assert isinstance(build_searcher("bananas", profile="quick"), Bananas)
    for cls, name in ((RegularizedEvolution, "regularized-evolution"), (LocalSearch, "local"),
                      (Bananas, "bananas")):  # fmt: skip
        assert cls.name == name and "20" in cls.summary and cls.default_evaluations > 0
    with pytest.raises(ValueError, match="tournament"):
        RegularizedEvolution(population=5, tournament=6)
    with pytest.raises(ValueError, match="predictor"):
        Bananas(predictor="gp")
    with pytest.raises(ValueError, match="acquisition"):
        Bananas(acquisition="ei")


# ---- helpers ------------------------------------------------------------------------------


def conditional_space() -> Space:
    return Space(
        [
            Choice("mix", (0, 1, 2)),
            Choice("kernel", (3, 5, 7), when=In("mix", (0, 1))),
            Choice("ffn", (2, 4)),
            Choice("fixed", ("x",)),
        ],
        name="cond",
    )


def test_neighbours_are_one_choice_away_canonical_and_distinct():
    plain = Space([Choice(f"c{i}", tuple(range(k))) for i, k in enumerate((2, 3, 4))])
    genotype = plain.canonical((1, 2, 3))
    assert len(neighbours(plain, genotype)) == 1 + 2 + 3
    pinned = plain.fix({"c1": 0})
    assert len(neighbours(pinned, pinned.canonical((1, 0, 3)))) == 1 + 3

    space = conditional_space()
    for indices in itertools.product(range(3), range(3), range(2), range(1)):
        genotype = space.canonical(indices)
        rows = neighbour_rows(space, genotype)
        assert len(np.unique(rows, axis=0)) == len(rows)
        assert (space.canonicalize_batch(rows) == rows).all()
        assert not (rows == genotype.indices).all(axis=1).any()
        changed = rows != np.array(genotype.indices)
        # one choice changes, plus at most the kernel it (de)activates
        assert ((changed & [1, 0, 1, 1]).sum(axis=1) <= 1).all()
        kernel_on = genotype.indices[0] in (0, 1)
        assert len(rows) == 2 + 1 + (2 if kernel_on else 0)


def test_mutate_one_changes_exactly_one_active_choice():
    space = conditional_space()
    rng = np.random.default_rng(0)
    rows = space.sample_batch(500, rng)
    mutated = mutate_one_rows(space, rows, rng)
    assert (space.canonicalize_batch(mutated) == mutated).all()
    changed = mutated != rows
    assert (changed.any(axis=1)).all()
    kernel_kept = (rows[:, 0] < 2) & (mutated[:, 0] < 2)  # active before and after
    assert (changed[:, [0, 2]].sum(axis=1) + (changed[:, 1] & kernel_kept) == 1).all()


def test_one_hot_and_predictors_fit_an_additive_function():
    space = conditional_space()
    rows = space.sample_batch(200, np.random.default_rng(1))
    x = one_hot(space, rows)
    assert x.shape == (200, 3 + 3 + 2)
    assert (x.sum(axis=1) == 2 + (rows[:, 0] < 2)).all()
    weights = np.random.default_rng(2).normal(size=x.shape[1])
    y = x @ weights
    for model in (RidgeEnsemble(5, alpha=0.01), RidgeEnsemble(5, 64, 0.01), MLPEnsemble(5)):
        predicted = model.fit(x[:150], y[:150], np.random.default_rng(3)).predict(x[150:])
        assert predicted.shape == (5, 50)
        assert np.corrcoef(predicted.mean(axis=0), y[150:])[0, 1] > 0.95


# ---- search quality -----------------------------------------------------------------------


def pairwise_problem(n: int = 8, k: int = 5, seed: int = 1):
    """Unary plus ring-neighbour pairwise terms over n choices of k options (not additive),
    with its exact optimum by enumeration (k**n = 390625)."""
    space = Space([Choice(f"c{i}", tuple(range(k))) for i in range(n)], name="pairwise")
    rng = np.random.default_rng(seed)
    unary, pair = rng.normal(size=(n, k)), rng.normal(size=(n, k, k))
    positions = np.arange(n)

    def value(rows: np.ndarray) -> np.ndarray:
        return unary[positions, rows].sum(-1) + pair[positions, rows, np.roll(rows, -1, -1)].sum(-1)

    grid = np.array(list(itertools.product(range(k), repeat=n)))
    return space, lambda g: float(value(np.array(g.indices))), float(value(grid).max())


class RandomBaseline(AskTellSearcher):
    name = "random"

    def start(self, context: SearchContext) -> None:
        super().start(context)
        self.seen: set[str] = set()

    def ask(self) -> list[Genotype]:
        return fresh_samples(self.context, 10, self.seen)

    def tell(self, genotypes, fitnesses) -> None:
        self.seen.update(g.key for g in genotypes)


def regrets(make: Callable[[], AskTellSearcher], problem, seeds) -> dict[int, list[float]]:
    space, fn, optimum = problem
    found: dict[int, list[float]] = {100: []}
    for seed in seeds:
        cache, batches, _ = drive(make(), space, fn, max(found), seed)
        order = list(dict.fromkeys(g.key for batch in batches for g in batch if g.key in cache))
        values = [cache[key] for key in order]
        for n in found:
            found[n].append(optimum - max(values[:n]))
    return found


# Measured (seeds 0-5, this problem), mean regret at 100 / 200 evaluations: random 4.3 /
# 3.65; regularized-evolution (50, 10) 1.7 / 0.76; local 2.3 / 1.6; bananas 0.96 / 0.14:
# every searcher's 6 regrets below all of random's (one-sided Mann-Whitney p = 0.002; one
# overlap would still give p < 0.01). Seeds 0-7 gave p < 0.001 for each, at 4/3 the cost.
# The test checks 100 evaluations only: the second 100 cost BANANAS (its predictor fits
# grow with the data) two thirds of the test's time and add no claim.
SEEDS = range(6)
DEFAULTS: dict[str, Callable[[], AskTellSearcher]] = {
    "regularized-evolution": lambda: build_searcher("regularized-evolution"),
    "local": lambda: build_searcher("local"),
    "bananas": lambda: build_searcher("bananas"),
}


@pytest.fixture(scope="module")
def problem_and_baseline():
    problem = pairwise_problem()
    return problem, regrets(RandomBaseline, problem, SEEDS)


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_beats_random_search_significantly(name, problem_and_baseline):
    problem, baseline = problem_and_baseline
    found = regrets(DEFAULTS[name], problem, SEEDS)
    for n in found:
        p = mannwhitneyu(found[n], baseline[n], alternative="less").pvalue
        assert p < 0.01, (
            f"{name} at {n} evaluations: regret {np.mean(found[n]):.2f} vs random "
            f"{np.mean(baseline[n]):.2f}, p = {p:.3g}"
        )


@pytest.mark.parametrize("name", list(SEARCHERS))
def test_runs_under_the_driver(name):
    driver = pytest.importorskip("strategies.driver")
    from strategies.evaluations import Evaluations

    evaluations = Evaluations(lambda genotypes: [PLUGIN.fitness(g) for g in genotypes])
    result = driver.run_search(SEARCHERS[name](), SPACE, evaluations, CONSTRAINT, seed=2,
                               max_evaluations=80)  # fmt: skip
    assert result.evaluated == 80 == evaluations.fresh
    assert CONSTRAINT(result.best)


def test_bananas_candidates_hold_every_new_feasible_neighbour_of_the_best() -> None:
    rng = np.random.default_rng(0)
    searcher = Bananas(parents=3, mutations=2, random_candidates=5)
    searcher.start(
        SearchContext(SPACE, CONSTRAINT, rng, FeasibleSampler(SPACE, CONSTRAINT, rng), 100)
    )
    told = searcher.ask()
    fitness = [PLUGIN.fitness(g) for g in told]
    searcher.tell(told, fitness)
    candidates = {tuple(row) for row in searcher._candidates(list(searcher.fitness))}
    best = sorted(told, key=lambda g: -PLUGIN.fitness(g))[:3]
    expected = set()
    for genotype in best:
        rows = neighbour_rows(SPACE, genotype)
        rows = rows[CONSTRAINT.allows_batch(rows)]
        expected |= {tuple(r) for r in rows} - {g.indices for g in told}
    assert expected and expected <= candidates
    assert not candidates & {tuple(g.indices) for g in told}  # nothing already evaluated
    plain = Bananas(parents=3, mutations=2, random_candidates=5, neighbours=False)
    plain.start(SearchContext(SPACE, CONSTRAINT, rng, FeasibleSampler(SPACE, CONSTRAINT, rng), 100))
    plain.tell(told, fitness)
    assert len(plain._candidates(list(plain.fitness))) < len(candidates)


# ---- a zero-cost proxy as one more input of BANANAS' predictor ------------------------------


def best_found(searcher: AskTellSearcher, seed: int, proxy=None) -> float:
    from strategies.driver import run_search
    from strategies.evaluations import Evaluations

    evaluations = Evaluations(lambda genotypes: [PLUGIN.fitness(g) for g in genotypes])
    result = run_search(searcher, SPACE, evaluations, CONSTRAINT, seed=seed, max_evaluations=30,
                        proxy=proxy)  # fmt: skip
    return PLUGIN.fitness(result.best)


def test_bananas_learns_from_a_proxy_input_and_scores_its_candidates() -> None:
    """An oracle proxy (the fitness itself) as an input lifts what BANANAS finds in 30
    evaluations on every seed; it is asked for every candidate, not only the evaluated."""
    asked: list[str] = []

    def oracle(name: str):
        assert name == "synflow"

        def score(genotypes):
            asked.extend(g.key for g in genotypes)
            return [PLUGIN.fitness(g) for g in genotypes]

        return score

    def make(**options) -> Bananas:
        return Bananas(initial=10, batch_size=5, predictor="ridge", **options)

    seeds = range(4)
    plain = [best_found(make(), seed) for seed in seeds]
    informed = [best_found(make(proxy="synflow"), seed, oracle) for seed in seeds]
    assert all(i >= p for i, p in zip(informed, plain)) and sum(informed) > sum(plain)
    assert len(set(asked)) > 4 * 30  # candidates, not only the evaluated ones


def test_bananas_proxy_input_is_checked_and_survives_unscorable_architectures() -> None:
    with pytest.raises(LookupError, match=r"unknown proxy .nope.\. Known proxies: fisher"):
        Bananas(proxy="nope")
    with pytest.raises(ValueError, match="needs a search that scores zero-cost proxies"):
        best_found(Bananas(proxy="synflow"), 0)
    # every score non-finite (jacob_cov's -inf for a network that ignores its input)
    assert best_found(Bananas(initial=10, predictor="ridge", proxy="synflow"), 0,
                      lambda name: lambda genotypes: [-np.inf] * len(genotypes)) > 0  # fmt: skip
