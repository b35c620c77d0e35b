"""Warm-up: a searcher's first population chosen by a training-free score.

Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR 2021) start a search
from the best P of M uniform samples ranked by a zero-cost proxy instead of P uniform
samples. `WarmUp` does that for every searcher that starts from a population: the
searcher asks its context for `initial_population(P)`; with a warm-up the context
draws M distinct feasible samples once (from the search's seeded generator, so a
resumed search draws the same), scores them with `score` and hands out the best in
order. The score is any `genotypes -> scores` function (higher is better); pipelines
give one that computes a zero-cost proxy and keeps its scores in the run folder.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from archspace import Genotype

if TYPE_CHECKING:
    from strategies.asktell import SearchContext

#: samples scored per member of the first population when `samples` is not given
SAMPLES_PER_MEMBER = 10


@dataclass
class WarmUp:
    """The best of `samples` uniform feasible samples by `score`, handed out in order
    (default `samples`: 10 x the first population asked)."""

    score: Callable[[Sequence[Genotype]], Sequence[float]]
    samples: int | None = None
    label: str = "warm-up"
    ranked: list[Genotype] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.samples is not None and (isinstance(self.samples, bool) or self.samples < 1):
            raise ValueError(f"warm-up samples must be an int >= 1, got {self.samples!r}")

    def population(
        self, context: SearchContext, n: int, avoid: Collection[str] = ()
    ) -> list[Genotype]:
        """The next `n` best-scored samples whose keys are not in `avoid`; uniform
        samples once the scored ones run out."""
        from strategies.sampling import fresh_samples

        if self.ranked is None:
            self.ranked = self._rank(context, self.samples or SAMPLES_PER_MEMBER * n)
        chosen = [g for g in self.ranked if g.key not in avoid][:n]
        taken = {g.key for g in chosen}
        self.ranked = [g for g in self.ranked if g.key not in taken]
        if len(chosen) < n:
            chosen += fresh_samples(context, n - len(chosen), set(avoid) | taken)
        return chosen

    def _rank(self, context: SearchContext, samples: int) -> list[Genotype]:
        from strategies.sampling import fresh_samples

        drawn = fresh_samples(context, samples, ())
        scores = np.asarray(self.score(drawn), dtype=float)
        if len(scores) != len(drawn):
            raise ValueError(f"{self.label}: {len(scores)} scores for {len(drawn)} samples")
        scores = np.where(np.isnan(scores), -np.inf, scores)  # unscorable ones go last
        order = np.argsort(-scores, kind="stable")  # ties: the order drawn
        return [drawn[i] for i in order]


__all__ = ["SAMPLES_PER_MEMBER", "WarmUp"]
