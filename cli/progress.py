"""What long studies (compare, rank, train, paper, proxies) show: a progress bar on rank
0's terminal only, and their summary as JSON."""

from __future__ import annotations

import json
import sys
import time
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


def stderr_console() -> Console:
    """The console a command speaks on: stderr, so stdout stays for --json."""
    return Console(stderr=True, highlight=False)


def narrator(console: Console) -> Callable[[str], None]:
    """say(message): timestamped lines on an interactive console, plain lines on a pipe;
    under torchrun only rank 0 speaks for the job."""
    if launched_rank() != 0:
        return lambda message: None
    interactive = console.is_terminal

    def say(message: str) -> None:
        if interactive:
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")
        else:
            print(message, file=sys.stderr, flush=True)

    return say


def run_study(headline: str, what: str, work: Callable[..., None]) -> bool:
    """Say `headline`, then `work(say, advance)` under a progress bar of `what` (a
    resumable study's run); True on the process that writes the report (rank 0)."""
    console = stderr_console()
    say = narrator(console)
    say(headline)
    with study_progress(console, what) as advance:
        work(say, advance)
    return launched_rank() == 0
