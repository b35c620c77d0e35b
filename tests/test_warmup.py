"""Warm-up (strategies.warmup): every searcher that starts from a population starts from
the best of the warm-up's scored samples, deterministically, within the budget."""

from __future__ import annotations

import numpy as np
import pytest

from archspace import Genotype
from archspace.synthetic import SyntheticPlugin
from strategies.driver import run_search
from strategies.evaluations import Evaluations
from strategies.searchers import build_searcher
from strategies.settings import SearchSettings
from strategies.warmup import SAMPLES_PER_MEMBER, WarmUp

PLUGIN = SyntheticPlugin(depth=6)
SPACE = PLUGIN.space
CONSTRAINT = PLUGIN.budget(80.0)

#: searcher -> (options, the size of its first population)
WARMED = {
    "evolution": ({"population": 8, "parents": 3, "mutants": 4, "crossovers": 4}, 8),
    "regularized-evolution": ({"population": 8, "tournament": 3}, 8),
    "bananas": ({"initial": 8, "ensemble": 2}, 8),
    "local": ({"initial": 8}, 8),
}


def proxy(genotypes) -> list[float]:
    """A training-free stand-in: the true fitness plus deterministic noise."""
    noise = np.random.default_rng(7)
    return [PLUGIN.fitness(g) + 0.05 * noise.standard_normal() for g in genotypes]


class Scored:
    """A warm-up score that remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[list[Genotype]] = []

    def __call__(self, genotypes):
        self.asked.append(list(genotypes))
        return [PLUGIN.fitness(g) for g in genotypes]


def search(name: str, warmup: WarmUp | None, seed: int = 0, budget: int = 24):
    options, _ = WARMED[name]
    asked: list[list[str]] = []

    def evaluate(genotypes):
        asked.append([g.key for g in genotypes])
        return [PLUGIN.fitness(g) for g in genotypes]

    searcher = build_searcher(name, options, "quick")
    result = run_search(
        searcher, SPACE, Evaluations(evaluate), CONSTRAINT, seed=seed,
        max_evaluations=budget, warmup=warmup,
    )  # fmt: skip
    return result, asked


@pytest.mark.parametrize("name", sorted(WARMED))
def test_first_population_is_the_best_of_the_scored_samples(name: str) -> None:
    score = Scored()
    _, asked = search(name, WarmUp(score, samples=40))
    population = WARMED[name][1]
    (drawn,) = score.asked  # scored once, in one batch
    assert len({g.key for g in drawn}) == 40
    assert all(CONSTRAINT(g) for g in drawn)
    best = sorted(drawn, key=PLUGIN.fitness, reverse=True)[:population]
    assert sorted(asked[0]) == sorted(g.key for g in best)


@pytest.mark.parametrize("name", sorted(WARMED))
def test_warm_search_is_deterministic_and_within_budget(name: str) -> None:
    first, asked = search(name, WarmUp(proxy), seed=3)
    again, asked_again = search(name, WarmUp(proxy), seed=3)
    assert asked == asked_again
    assert first.best.key == again.best.key
    assert sum(len(set(batch)) for batch in asked) <= 24


def test_default_samples_are_ten_per_member() -> None:
    score = Scored()
    search("regularized-evolution", WarmUp(score))
    assert len(score.asked[0]) == SAMPLES_PER_MEMBER * WARMED["regularized-evolution"][1]


def test_warm_start_beats_a_cold_one_on_the_first_population() -> None:
    """With a score that ranks well, the first population is better than uniform samples:
    its mean true fitness, over 10 seeds, is above the cold one's every time."""
    for seed in range(10):
        _, warm = search("regularized-evolution", WarmUp(proxy), seed=seed, budget=8)
        _, cold = search("regularized-evolution", None, seed=seed, budget=8)
        mean = [
            np.mean([PLUGIN.fitness(SPACE.from_key(k)) for k in run[0]]) for run in (warm, cold)
        ]
        assert mean[0] > mean[1]


def test_unscorable_samples_go_last_and_bad_settings_are_refused() -> None:
    def half_nan(genotypes):
        return [np.nan if i % 2 else 1.0 for i in range(len(genotypes))]

    score = Scored()
    warm = WarmUp(lambda gs: half_nan(score(gs)), samples=10)
    _, asked = search("regularized-evolution", warm, budget=8)
    drawn = score.asked[0]
    assert sorted(asked[0][:5]) == sorted(g.key for g in drawn[0::2])
    with pytest.raises(ValueError, match="warm-up samples"):
        WarmUp(proxy, samples=0)
    with pytest.raises(ValueError, match="proxy"):
        SearchSettings(warmup="no-such-proxy")
    with pytest.raises(ValueError, match="warmup_samples"):
        SearchSettings(warmup="synflow", warmup_samples=0)
