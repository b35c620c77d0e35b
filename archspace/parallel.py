"""Which process of a parallel job this is, as a workbench reports it (torch-free).

A workbench that trains with several processes (e.g. `torchrun` and DDP) exposes a
`ranks` attribute with this shape; pipelines then let only the main process write the
run store and files, and hand it `world_size` candidates at a time. Workbenches
without one are treated as a single process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class RankGroup(Protocol):
    """The processes of one job, seen from one of them."""

    @property
    def rank(self) -> int:
        """This process's place, 0 to world_size - 1."""

    @property
    def is_main(self) -> bool:
        """The one process that writes (rank 0)."""

    @property
    def world_size(self) -> int:
        """How many processes run the search in step."""

    def barrier(self) -> None:
        """Wait until every process got here."""

    def map_each(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """`[function(x) for x in items]`, a shard per process, gathered in order on
        every process; an item whose `function` raises comes back as a
        `FailedEvaluation` (needed only where world_size > 1)."""


@dataclass(frozen=True)
class SingleProcess:
    """The group of a workbench that runs in one process."""

    is_main: bool = True
    world_size: int = 1
    rank: int = 0

    def barrier(self) -> None:
        return None


def ranks_of(workbench: Any) -> RankGroup:
    """The workbench's process group (a single process unless it says otherwise)."""
    return workbench.ranks


def launched_rank() -> int:
    """This process's rank as the launcher (torchrun) set it, before any group exists."""
    return int(os.environ.get("RANK", "0"))


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def leave_process_group(finished: bool = True) -> None:
    """Leave torch.distributed's process group if this process joined one (without
    importing torch when it did not): after a finished command every process waits for
    the others first; after a failure it leaves at once (the others may be gone).
    A process that exits without it makes NCCL warn and can hang or abort at exit."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()
