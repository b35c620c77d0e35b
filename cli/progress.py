"""What long studies (compare, rank, train, paper, proxies) show: a progress bar on rank
0's terminal only, and their summary as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
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


def echo_json(summary: Any, paths: Sequence[Path]) -> None:
    """A study's `--json` output: its summary and the files it wrote."""
    click.echo(json.dumps({"summary": summary, "files": [str(p) for p in paths]}, indent=2))
