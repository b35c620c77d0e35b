"""Search overhead: what a strategy itself costs per candidate on the GLiT space.

The fitness is a constant-time function of the genotype's option indices (a fixed
random linear score), so the wall time is the strategy's own work: sampling, variation,
the MACs budget check (GLiT-Tiny, 1.4G), caching and bookkeeping. Target: well under
1 ms per candidate, negligible next to a supernet evaluation.

    .venv/bin/python benchmarks/search_overhead.py [--optuna-trials N] [--seed S]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from glit_space import GlitPlugin
from strategies.asktell import AskTellSearcher
from strategies.driver import run_search
from strategies.evaluations import Evaluations
from strategies.evolution import EvolutionSearcher
from strategies.optuna_search import OptunaSearcher
from strategies.random_search import RandomSearcher


def constant_fitness(space, seed: int = 0):
    """A cheap deterministic score of the indices: one dot product per genotype."""
    weights = np.random.default_rng(seed).normal(size=len(space))

    def fitness(genotypes):
        return (space.to_array(genotypes) @ weights).tolist()

    return fitness


def measure(searcher: AskTellSearcher, plugin: GlitPlugin, budget, seed: int) -> tuple[int, float]:
    evaluations = Evaluations(constant_fitness(plugin.space))
    start = time.perf_counter()
    result = run_search(searcher, plugin.space, evaluations, budget, seed=seed)
    seconds = time.perf_counter() - start
    assert budget(result.best)
    return evaluations.fresh, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optuna-trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    plugin = GlitPlugin(width="tiny")
    budget = plugin.budget(1.4e9)  # MACs
    searchers: list[tuple[str, AskTellSearcher]] = [
        ("evolution (SPOS defaults)", EvolutionSearcher()),
        ("random", RandomSearcher()),
        ("optuna tpe", OptunaSearcher(sampler="tpe", trials=args.optuna_trials)),
    ]
    print(f"GLiT-{plugin.width_name}: {len(plugin.space)} choices, budget {budget}")
    print(f"{'searcher':<28}{'candidates':>11}{'wall s':>10}{'ms/candidate':>14}")
    for label, searcher in searchers:
        evaluated, seconds = measure(searcher, plugin, budget, args.seed)
        print(f"{label:<28}{evaluated:>11}{seconds:>10.2f}{1000 * seconds / evaluated:>14.3f}")


if __name__ == "__main__":
    main()
