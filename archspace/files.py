"""Atomic file writes: a reader, or a process killed mid-write, finds the old file or the
new one, never half of one. Every layer that saves state (run folders, studies, latency
tables, checkpoints, caches) writes through here."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replacing(
    path: str | Path, mode: str = "w", *, durable: bool = False, keep_previous: bool = False
) -> Iterator[IO[Any]]:
    """A file open on a temporary name beside `path` that takes `path`'s place when the
    block ends without an error (and is removed when it raises).

    `durable` syncs it to disk before the rename (a checkpoint outlives a power cut);
    `keep_previous` first moves the old file to `<path>.prev`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if keep_previous and path.exists():
        os.replace(path, path.with_name(path.name + ".prev"))
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    with replacing(path) as handle:
        handle.write(text)


def write_json(path: str | Path, data: Any, *, indent: int = 2) -> None:
    """Write `data` as indented JSON (anything else as its str) atomically."""
    write_text(path, json.dumps(data, indent=indent, default=str) + "\n")


def copy_folder(source: str | Path, target: str | Path) -> None:
    """Copy the folder `source` to `target` (which must not exist) atomically: the copy is
    made under a temporary name beside `target` and renamed, so a copy cut short leaves
    no `target`, only a temporary that the next copy replaces."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    os.replace(partial, target)


def folders_holding(name: str, roots: Iterable[str | Path]) -> Iterator[Path]:
    """Every folder under `roots` (recursively, in sorted order) holding a file `name`,
    but for the temporaries of copies in progress (`copy_folder`)."""
    for root in roots:
        for path in sorted(Path(root).rglob(name)):
            if not any(part.endswith(".partial") for part in path.parent.parts):
                yield path.parent
