"""Stage seeds (`archspace.seeds`) never change: a resumed or repeated run replays the
same searches and trainings only if they do."""

from __future__ import annotations

from archspace.seeds import stage_entropy, stage_seed, stage_seed32


def test_stage_seeds_are_the_recorded_values() -> None:
    assert stage_seed32(0, "flat") == 1430956612
    assert stage_seed32(3, "random") == 376021406
    assert stage_seed(5, "distribution") == 2761196240
    assert stage_entropy(5, "detail") == [5, 772177811]


def test_stage_seed32_folds_into_32_bits() -> None:
    seed = stage_seed(10**6, "detail")
    assert seed >= 2**32
    assert stage_seed32(10**6, "detail") == seed % 2**32
