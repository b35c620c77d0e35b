"""When latency measurements cannot be trusted: the machine's speed moved too much.

A table and its check state latency at one machine speed through a speed reference (a
fixed part of the space timed between the blocks of every measurement). The reference
cancels moderate drift, but when it runs far slower or faster than during the build,
the machine is busy with other work and the parts do not slow down evenly: on a 2-core
VM busy with a training run, the reference ran 14x slower during a check that then
reported MAPE 29% and Spearman 0.19. Past SPEED_DRIFT_LIMIT either way, `latency build`
and `latency check` warn that the result is unreliable and say what to do; with
`--strict` they exit 1. Torch-free: the command line reads it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: how far (a factor, either way) the speed reference may move from the build's median
#: before results are flagged: drift of 10-50% is usual on a shared VM and the reference
#: cancels it; 1.5x means the machine is busy with other work
SPEED_DRIFT_LIMIT = 1.5


def speed_factor(base_ms: float, now_ms: float) -> float:
    """How far the speed moved, as a factor of at least 1 either way (2.0: twice as
    slow or twice as fast)."""
    return max(now_ms / base_ms, base_ms / now_ms)


def moved(base_ms: float, now_ms: float) -> str:
    """ "14.0x slower" or "2.1x faster": `now_ms` against `base_ms`."""
    direction = "slower" if now_ms >= base_ms else "faster"
    return f"{speed_factor(base_ms, now_ms):.1f}x {direction}"


def check_warning(build_ms: float, check_ms: float, limit: float = SPEED_DRIFT_LIMIT) -> str | None:
    """The warning for a check whose speed reference ran more than `limit` times slower
    or faster than during the build (None when within it)."""
    if speed_factor(build_ms, check_ms) <= limit:
        return None
    return (
        f"the machine's speed moved too much to trust this check: the speed reference ran "
        f"{moved(build_ms, check_ms)} than during the build ({build_ms:.3g} ms then, "
        f"{check_ms:.3g} ms now; the limit is {limit}x either way), so its errors and rank "
        "correlations are unreliable. Rerun the check on an idle machine (stop other "
        "jobs), or rebuild the table on this machine as it is now."
    )


def build_warning(
    entries: Mapping[str, Mapping[str, Any]],
    median_ms: float | None,
    path: str | Path | None = None,
    limit: float = SPEED_DRIFT_LIMIT,
) -> str | None:
    """The warning for a table some of whose `entries` were measured while the speed
    reference ran more than `limit` times off its `median_ms` over the build (None when
    none were, or the table has no speed reference)."""
    if not median_ms:
        return None
    timed = {k: e["reference_ms"] for k, e in entries.items() if e.get("reference_ms")}
    off = {k: ms for k, ms in timed.items() if speed_factor(median_ms, ms) > limit}
    if not off:
        return None
    worst = max(off, key=lambda k: speed_factor(median_ms, off[k]))
    where = str(path) if path else "the table"
    return (
        f"the machine's speed moved too much during the build to trust {where}: "
        f"{len(off)} of {len(timed)} entries were measured while the speed reference ran "
        f"more than {limit}x off its median ({median_ms:.3g} ms; worst {worst!r}, "
        f"{moved(median_ms, off[worst])}). Rebuild it on an idle machine: delete it or "
        "give another --out (a build resumes a table and keeps its entries)."
    )
