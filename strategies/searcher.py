"""Compatibility: the names that lived here before the split by job.

- `strategies.evaluations`: the cached, failure-tolerant fitness funnel (`Evaluations`);
- `strategies.archive`: `GenerationRecord`, `SearchResult`, `Archive`;
- `strategies.sampling`: helpers for searchers (`FeasibleSampler`, `feasible_mask`...);
- `strategies.asktell`: the searcher interface (`AskTellSearcher`, `SearchContext`);
- `strategies.driver`: `run_search`, the one loop every searcher runs in.
"""

from __future__ import annotations

from strategies.archive import Archive, GenerationRecord, SearchResult
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.evaluations import Evaluations, FitnessFn, ResultHook, TooManyFailures
from strategies.sampling import (
    Avoid,
    FeasibleSampler,
    feasible_mask,
    fresh_candidates,
    require_at_least,
)

__all__ = [
    "Archive",
    "AskTellSearcher",
    "Avoid",
    "Evaluations",
    "FeasibleSampler",
    "FitnessFn",
    "GenerationRecord",
    "ResultHook",
    "SearchContext",
    "SearchResult",
    "TooManyFailures",
    "feasible_mask",
    "fresh_candidates",
    "require_at_least",
]
