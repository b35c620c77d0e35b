"""Statistics for comparing search strategies over seeds: a result is a distribution.

Per strategy: mean, standard deviation and a 95% confidence interval of the mean
(Student's t); against the best strategy: Welch's t-test and the Mann-Whitney U test,
both two-sided, from scipy.stats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Summary:
    """A sample of final results (one per seed)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, values: Sequence[float], confidence: float = 0.95) -> Summary:
        data = np.asarray(values, dtype=float)
        n = len(data)
        if n == 0:
            raise ValueError("no values to summarise")
        mean = float(data.mean())
        sd = float(data.std(ddof=1)) if n > 1 else 0.0
        if n > 1 and sd > 0:
            from scipy import stats  # slow to import: only when asked (like archspace.ranks)

            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
        else:
            half = 0.0
        return cls(n, mean, sd, mean - half, mean + half)


def interval_text(summary: Any, digits: int = 4, scale: float = 1.0) -> str:
    """ " [low, high]" of a summary (a `Summary` as a dict) over 2 or more values, else ""."""
    if summary["n"] < 2:
        return ""
    return f" [{scale * summary['ci_low']:.{digits}f}, {scale * summary['ci_high']:.{digits}f}]"


@dataclass(frozen=True)
class Test:
    """Two-sided tests of one strategy's sample against the best one's."""

    welch_p: float | None
    mannwhitney_p: float | None


def compare_to(sample: Sequence[float], best: Sequence[float]) -> Test:
    """Welch's t and Mann-Whitney U p-values (None when a test is undefined, e.g. both
    samples constant and equal)."""
    a, b = np.asarray(sample, dtype=float), np.asarray(best, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return Test(None, None)
    if np.ptp(np.concatenate([a, b])) == 0:
        return Test(1.0, 1.0)
    from scipy import stats

    welch = stats.ttest_ind(a, b, equal_var=False).pvalue
    mwu = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    return Test(_finite(welch), _finite(mwu))


def best_of(samples: Mapping[str, Sequence[float]], lower_is_better: bool) -> str:
    """The name whose mean is best."""
    means = {name: float(np.mean(values)) for name, values in samples.items()}
    return (min if lower_is_better else max)(means, key=means.__getitem__)


def best_so_far(fitnesses: Sequence[float | None]) -> list[float | None]:
    """Running maximum over a trajectory (failures, None, never improve it)."""
    best: float | None = None
    out: list[float | None] = []
    for value in fitnesses:
        if value is not None and (best is None or value > best):
            best = value
        out.append(best)
    return out


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
