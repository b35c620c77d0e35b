"""Rank correlations (scipy's, None where undefined): how alike two orderings of the same
architectures are. Latency checks and ranking studies both report them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Kendall's tau-b (scipy), None with fewer than 3 pairs or when undefined (a
    constant side)."""
    from scipy import stats  # scipy is slow to import: only when asked

    if len(xs) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: scipy warns and returns nan
        tau = stats.kendalltau(xs, ys).statistic
    return None if math.isnan(tau) else float(tau)


def spearman_rho(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (scipy), None where undefined."""
    from scipy import stats

    if len(xs) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = stats.spearmanr(xs, ys).statistic
    return None if math.isnan(rho) else float(rho)


def rank_correlations(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float | None]:
    """{"spearman": ..., "kendall": ...} of two scorings of the same items."""
    return {"spearman": spearman_rho(xs, ys), "kendall": kendall_tau(xs, ys)}
