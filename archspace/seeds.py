"""Seeds derived from a run's seed and a stage's name, the same in every process and
every Python run (unlike `hash()`): the pipelines seed a stage's search with them, the
one-shot workbench its supernet training."""

from __future__ import annotations

import zlib


def stage_entropy(seed: int, stage: str) -> list[int]:
    """[seed, a number for the stage]: entropy for `numpy.random.default_rng`, to which
    a caller may append more (a step)."""
    return [seed, zlib.crc32(stage.encode())]


def stage_seed(seed: int, stage: str) -> int:
    """One non-negative integer seed for a stage (what `torch.manual_seed` takes)."""
    base, stage_number = stage_entropy(seed, stage)
    return base * 1_000_003 + stage_number


def stage_seed32(seed: int, stage: str) -> int:
    """`stage_seed` folded into 32 bits."""
    return stage_seed(seed, stage) % 2**32
