"""Zero-cost proxy scores of many architectures, kept as they are made and shared out
between the processes of a `torchrun` job (torch-free; the workbench scores).

Both proxy studies (`studies.proxy_study` over a space, `studies.ground_truth` over a
study's retrained architectures) keep one JSON file per proxy, {architecture key:
score}. With several processes each scores every world_size-th missing architecture
and keeps its own part file beside the proxy's (`NAME.json.part1`: never read as a
proxy of its own); the main process merges the parts when all are done. A job killed
midway leaves its parts, and the next run, with any number of processes, reads them
too: nothing scored is scored again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from archspace import Genotype, ranks_of
from archspace.files import write_json

#: a process writes its scores after this many new architectures (and at the end)
SAVE_EVERY = 50


def _parts(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.part*"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def read_scores(path: Path) -> dict[str, float]:
    """A proxy's scores: its file and any part files a sharded job left."""
    scores = _load(path)
    for part in _parts(path):
        scores.update(_load(part))
    return scores


def read_timing(path: Path) -> dict[str, tuple[float, int]]:
    """Seconds and architectures scored per proxy, summed over the part files."""
    timing = {name: tuple(v) for name, v in _load(path).items()}
    for part in _parts(path):
        for name, (seconds, count) in _load(part).items():
            before = timing.get(name, (0.0, 0))
            timing[name] = (before[0] + seconds, before[1] + count)
    return timing


def score_and_keep(
    workbench: Any,
    genotypes: Sequence[Genotype],
    names: Sequence[str],
    path_of: Callable[[str], Path],
    *,
    batch_size: int,
    seed: int,
    timing_path: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
    progress: Callable[[int, int, str], None] = lambda done, total, what: None,
) -> None:
    """Score every genotype with each proxy in `names` that `path_of(name)` lacks, with
    `workbench.proxy_scores`, sharded over the workbench's processes."""
    ranks = ranks_of(workbench)
    ranks.barrier()  # what came before is written
    found = {name: read_scores(path_of(name)) for name in names}
    pending = [g for g in genotypes if any(g.key not in found[n] for n in names)]
    ranks.barrier()  # every process has read the same scores before any writes more
    say(f"zero-cost proxies {', '.join(names)}: {len(pending)} of {len(genotypes)} to score")
    sharded = ranks.world_size > 1

    def own(path: Path) -> Path:
        return path.with_name(f"{path.name}.part{ranks.rank}") if sharded else path

    # what this process writes: its part file's scores, or in one process the proxy's own
    mine = {n: _load(own(path_of(n))) for n in names} if sharded else found
    timing = _load(own(timing_path)) if timing_path is not None else {}

    def save() -> None:
        for name, scores in mine.items():
            write_json(own(path_of(name)), scores, indent=0)
        if timing_path is not None:
            write_json(own(timing_path), timing, indent=1)

    done = len(genotypes) - len(pending)
    share = pending[ranks.rank :: ranks.world_size]
    for number, genotype in enumerate(share, start=1):
        for name in [n for n in names if genotype.key not in found[n]]:
            started = time.perf_counter()
            score = workbench.proxy_scores(genotype, [name], batch_size=batch_size, seed=seed)
            seconds, count = timing.get(name, (0.0, 0))
            timing[name] = (seconds + time.perf_counter() - started, count + 1)
            found[name][genotype.key] = mine[name][genotype.key] = score[name]
        if number % SAVE_EVERY == 0 or number == len(share):
            save()
        progress(min(done + number * ranks.world_size, len(genotypes)), len(genotypes),
                 genotype.key)  # fmt: skip
    ranks.barrier()  # every part is written
    if ranks.is_main:
        _merge([path_of(n) for n in names], timing_path)
    ranks.barrier()


def _merge(paths: Sequence[Path], timing_path: Path | None) -> None:
    """Fold the part files into each proxy's file (and the timing's), then drop them."""
    if not any(_parts(path) for path in [*paths, *([timing_path] if timing_path else [])]):
        return
    for path in paths:
        write_json(path, read_scores(path), indent=0)
    if timing_path is not None:
        write_json(timing_path, read_timing(timing_path), indent=1)
    for path in [*paths, *([timing_path] if timing_path else [])]:
        for part in _parts(path):
            part.unlink()
