"""The progress bar of long studies (rank, train, paper): on rank 0's terminal only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from archspace.parallel import launched_rank


@contextmanager
def study_progress(console: Console, label: str) -> Iterator[Callable[[int, int, str], None]]:
    """Yields `advance(done, total, what)` for a study's `progress` callback."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=launched_rank() != 0 or not console.is_terminal,
    ) as progress:
        task = progress.add_task(label, total=None, info="")

        def advance(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, info=what)

        yield advance
