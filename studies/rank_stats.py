"""How well one score ranks architectures against another: rank correlations and top-k
agreement, each with a bootstrap 95% interval over the architectures.

A ranking study has a few dozen architectures, so a point estimate alone says little
(the standard error of Kendall's tau at n = 30 is about 0.13): every figure here comes
with a percentile bootstrap interval (scipy.stats.bootstrap, paired resampling of the
architectures, seeded).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from archspace.ranks import kendall_tau, spearman_rho


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap 95% interval (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def estimate_text(estimate: Mapping[str, float | None] | None, interval: bool = True) -> str:
    """An estimate (`Estimate.to_dict()`) for a report: "0.43 [0.17, 0.65]", "n/a"."""
    if not estimate or estimate.get("value") is None:
        return "n/a"
    text = f"{estimate['value']:.2f}"
    if interval and estimate.get("low") is not None:
        text += f" [{estimate['low']:.2f}, {estimate['high']:.2f}]"
    return text


def top_k_overlap(predicted: Sequence[float], truth: Sequence[float], k: int) -> float | None:
    """The share of the predictor's k best that are among the truth's k best (1 = the
    same set; k/n is what a random predictor gets on average). Ties are broken by
    position, the same way for both."""
    n = len(predicted)
    if n < 2 or k < 1:
        return None
    k = min(k, n)
    best_predicted = set(np.argsort(-np.asarray(predicted, float), kind="stable")[:k].tolist())
    best_truth = set(np.argsort(-np.asarray(truth, float), kind="stable")[:k].tolist())
    return len(best_predicted & best_truth) / k


def top_fraction(n: int, fraction: float = 0.1) -> int:
    """How many architectures 'the top 10%' of n holds (at least one)."""
    return max(1, math.ceil(fraction * n))


def _statistics(n: int) -> dict[str, Callable[[np.ndarray, np.ndarray], float | None]]:
    k10 = top_fraction(n)
    return {
        "kendall": kendall_tau,
        "spearman": spearman_rho,
        "top5": lambda a, b: top_k_overlap(a, b, 5),
        "top10pct": lambda a, b: top_k_overlap(a, b, k10),
    }


def _resampled(
    statistic: Callable[..., float], data: tuple[np.ndarray, ...], resamples: int, seed: int
) -> np.ndarray:
    """The statistic over `resamples` paired resamples of the architectures
    (scipy.stats.bootstrap, seeded), undefined ones (nan: all ties) dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples give nan
        result = stats.bootstrap(
            data,
            statistic,
            paired=True,
            vectorized=False,
            n_resamples=resamples,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
    values = np.asarray(result.bootstrap_distribution, dtype=float)
    return values[np.isfinite(values)]


def bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], float | None],
    predicted: Sequence[float],
    truth: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """The statistic on the data and its percentile bootstrap 95% interval, resampling
    (predicted, truth) pairs together."""
    a, b = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    value = statistic(a, b)
    if value is None or len(a) < 4:
        return Estimate(value, None, None)

    def defined(x: np.ndarray, y: np.ndarray) -> float:
        result = statistic(x, y)
        return math.nan if result is None else result

    values = _resampled(defined, (a, b), resamples, seed)
    if len(values) < resamples // 2:  # mostly undefined (ties): no interval
        return Estimate(value, None, None)
    low, high = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    return Estimate(value, low, high)


def agreement(
    predicted: Sequence[float],
    truth: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Kendall tau-b, Spearman, top-5 and top-10% overlap of `predicted` against
    `truth`, each with a bootstrap 95% interval."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} true values")
    return {
        name: bootstrap(function, predicted, truth, resamples=resamples, seed=seed)
        for name, function in _statistics(len(predicted)).items()
    }


@dataclass(frozen=True)
class Difference:
    """How much better one predictor ranks than another on the same architectures:
    the difference of their Kendall tau-b with its bootstrap 95% interval, and the
    share of resamples where it is not positive (a one-sided bootstrap p-value)."""

    value: float | None
    low: float | None
    high: float | None
    p_not_better: float | None

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def paired_difference(
    first: Sequence[float],
    second: Sequence[float],
    truth: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> Difference:
    """Kendall tau of `first` minus that of `second`, both against `truth`, the
    architectures resampled together for both (the noise of the truth, shared by the
    two, cancels in the difference: the test for "this supernet ranks better")."""
    a, b, t = (np.asarray(values, dtype=float) for values in (first, second, truth))

    def difference(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
        taus = kendall_tau(x, z), kendall_tau(y, z)
        return math.nan if None in taus else taus[0] - taus[1]

    value = difference(a, b, t)
    if math.isnan(value) or len(a) < 4:
        return Difference(None if math.isnan(value) else value, None, None, None)
    values = _resampled(difference, (a, b, t), resamples, seed)
    if len(values) < resamples // 2:
        return Difference(value, None, None, None)
    low, high = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    return Difference(value, low, high, float(np.mean(values <= 0)))
