"""The one search loop: ask a searcher, evaluate what is new, tell it, record, repeat.

`run_search` owns everything a searcher should not have to: the budget in *distinct*
evaluations, the check that every proposal is a canonical feasible genotype of the
space, the evaluation cache (a genotype already scored in this search costs nothing, a
preloaded one from a crashed run is not evaluated again), failure handling (through
`Evaluations`: failures isolated, `TooManyFailures` on a systematic error), the
archive, the generation records and the top k. Searchers only propose (see
`strategies.asktell`).

Resume: a searcher draws all its randomness from the context's seeded generator and
decides only from the fitness values it is told, so a rerun with the same seed against
an `Evaluations` preloaded with a crashed run's results replays the same proposals,
ends with the same result and pays only for what is new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from archspace import Constraint, Genotype, Space
from strategies.archive import Archive, GenerationRecord, SearchResult
from strategies.asktell import AskTellSearcher, ProxyScorer, SearchContext
from strategies.evaluations import Evaluations
from strategies.sampling import FeasibleSampler, feasible_mask
from strategies.warmup import WarmUp

#: consecutive asks that bring nothing new before a search is declared stalled
MAX_IDLE_ASKS = 20


class SearcherError(RuntimeError):
    """A searcher broke the ask/tell contract (e.g. proposed a non-canonical genotype)."""


def run_search(
    searcher: AskTellSearcher,
    space: Space,
    evaluations: Evaluations,
    constraint: Constraint | None = None,
    seed: int = 0,
    max_evaluations: int | None = None,
    top_k: int = 10,
    on_generation: Callable[[GenerationRecord], None] | None = None,
    stage: str = "search",
    max_idle_asks: int = MAX_IDLE_ASKS,
    warmup: WarmUp | None = None,
    proxy: ProxyScorer | None = None,
) -> SearchResult:
    """Search `space` with `searcher` for at most `max_evaluations` distinct genotypes
    (default: `searcher.default_evaluations`); the best found and the top `top_k`.

    Stops when the budget is spent, the searcher proposes nothing ([]), or
    `max_idle_asks` asks in a row bring no genotype new to this search. `warmup` chooses
    the searcher's first population (`SearchContext.initial_population`); `proxy` scores
    genotypes by a named zero-cost proxy for searchers that use one (`SearchContext.proxy`).
    Raises InfeasibleError when nothing in `space` satisfies `constraint`, SearcherError
    when a proposal is not a canonical feasible genotype of `space`.
    """
    budget = searcher.default_evaluations if max_evaluations is None else max_evaluations
    for option, value in (("max_evaluations", budget), ("top_k", top_k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{option} must be a positive int, got {value!r}")
    rng = np.random.default_rng(seed)
    sampler = FeasibleSampler(space, constraint, rng)
    if constraint is not None:
        sampler.check()  # fail fast, with the cost range, when nothing fits
    name = getattr(searcher, "name", type(searcher).__name__)
    archive = Archive()
    generation = idle = 0
    try:
        searcher.start(SearchContext(space, constraint, rng, sampler, budget, stage, warmup, proxy))
        while len(archive) < budget and idle < max_idle_asks:
            proposals = list(searcher.ask())
            if not proposals:
                break
            check_proposals(name, space, constraint, proposals)
            known = searcher.known_results()
            if known:
                evaluations.preload(known)
            batch, new = _within_budget(proposals, archive, budget - len(archive))
            fitnesses = evaluations(batch)
            searcher.tell(batch, fitnesses)
            archive.record(generation, batch, fitnesses, on_generation)
            generation += 1
            idle = 0 if new else idle + 1
    finally:
        searcher.close()
    return archive.result(top_k)


def _within_budget(
    proposals: list[Genotype], archive: Archive, room: int
) -> tuple[list[Genotype], int]:
    """The longest prefix of `proposals` with at most `room` genotypes new to the search,
    and how many new ones it holds."""
    new: set[str] = set()
    for position, genotype in enumerate(proposals):
        key = genotype.key
        if key in archive or key in new:
            continue
        if len(new) == room:
            return proposals[:position], len(new)
        new.add(key)
    return proposals, len(new)


def check_proposals(
    name: str, space: Space, constraint: Constraint | None, proposals: Sequence[Genotype]
) -> None:
    """Raise SearcherError, naming the searcher, unless every proposal is a canonical
    genotype of `space` (pins included) that satisfies `constraint`."""
    width = len(space.choices)
    for genotype in proposals:
        if not isinstance(genotype, Genotype):
            raise SearcherError(
                f"searcher {name!r} proposed a {type(genotype).__name__}, not a Genotype"
            )
        if genotype.space is not space and genotype.space.choices != space.choices:
            raise SearcherError(
                f"searcher {name!r} proposed {genotype.key}, a genotype of another space than "
                f"{space.name!r}: build proposals with context.space"
            )
        if len(genotype.indices) != width:
            raise SearcherError(f"searcher {name!r} proposed {genotype!r} of the wrong length")
    rows = space.to_array(proposals)
    in_range = (rows >= 0) & (rows < space.counts)
    bad = ~in_range.all(axis=1)
    if not bad.any():
        bad = (space.canonicalize_batch(rows) != rows).any(axis=1)
    if bad.any():
        genotype = proposals[int(np.flatnonzero(bad)[0])]
        raise SearcherError(
            f"searcher {name!r} proposed {genotype.indices}, not a canonical genotype of "
            f"space {space.name!r} (pins {space.pinned or 'none'}): make proposals with "
            "context.space (canonical, sample, from_array of canonicalize_batch rows)"
        )
    feasible = feasible_mask(space, constraint, rows)
    if not feasible.all():
        genotype = proposals[int(np.flatnonzero(~feasible)[0])]
        raise SearcherError(
            f"searcher {name!r} proposed {genotype.key}, which violates {constraint}: "
            "proposals must satisfy context.constraint (check with context.feasible)"
        )
