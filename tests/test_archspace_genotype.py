"""Genotypes: round trips, canonical form, operators keep validity, fixing holds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspace import GenotypeError, Space
from archspace.batch import active
from tests.conftest import SPACES, nested_space

seeds = st.integers(min_value=0, max_value=2**32 - 1)
space_names = st.sampled_from(sorted(SPACES))


def is_canonical(space: Space, indices) -> bool:
    return space.canonical(indices).indices == tuple(indices)


@settings(max_examples=60, deadline=None)
@given(space_names, seeds)
def test_dict_json_key_round_trips(name: str, seed: int) -> None:
    space = SPACES[name]()
    genotype = space.sample(seed)
    assert space.from_dict(genotype.to_dict()) == genotype
    assert space.from_json(genotype.to_json()) == genotype
    assert space.from_dict(json.loads(json.dumps(genotype.to_dict()))) == genotype
    assert space.from_key(genotype.key) == genotype
    assert space.from_values(genotype.values) == genotype
    assert hash(space.from_key(genotype.key)) == hash(genotype)


@settings(max_examples=60, deadline=None)
@given(space_names, seeds, seeds)
def test_operators_yield_valid_canonical_genotypes(name: str, seed_a: int, seed_b: int) -> None:
    space = SPACES[name]()
    rng = np.random.default_rng(seed_b)
    a, b = space.sample(seed_a), space.sample(rng)
    for child in (space.mutate(a, rng, prob=0.5), space.crossover(a, b, rng)):
        assert is_canonical(space, child.indices)
        assert space.validate(child.to_dict()) == child
    rows = space.sample_batch(64, seed_a)
    for batch in (space.mutate_batch(rows, rng, 0.5), space.crossover_batch(rows, rows[::-1], rng)):
        assert batch.shape == rows.shape
        assert (space.canonicalize_batch(batch) == batch).all()
        assert all(is_canonical(space, row) for row in batch)


def test_canonical_form_makes_equal_networks_equal() -> None:
    space = nested_space()
    # op == "skip": everything conditional is inactive, whatever indices were given
    a = space.canonical([2, 0, 2, 1, 3, 1])
    b = space.canonical([2, 0, 0, 0, 0, 0])
    assert a == b and a.key == b.key and hash(a) == hash(b)
    assert a.to_dict() == {"op": "skip", "shape": [1, 2]}
    assert not a.is_active("conv.kernel") and a["conv.kernel"] == 3


def test_inactive_values_are_refused_or_canonicalised() -> None:
    space = nested_space()
    data = {"op": "skip", "shape": [3, 0], "conv": {"kernel": 7}}
    with pytest.raises(GenotypeError, match=r"'conv.kernel' does not apply here: .*op"):
        space.from_dict(data)
    assert space.from_dict(data, strict=False) == space.from_dict({"op": "skip", "shape": [3, 0]})


def test_readable_nested_dict_uses_lists_for_blocks() -> None:
    space = SPACES["synthetic"]()
    data = space.sample(3).to_dict()
    assert isinstance(data["blocks"], list) and len(data["blocks"]) == 3
    assert set(data["blocks"][0]) >= {"mix", "ffn"}


@settings(max_examples=40, deadline=None)
@given(space_names, seeds)
def test_fixed_choices_never_move(name: str, seed: int) -> None:
    space = SPACES[name]()
    rng = np.random.default_rng(seed)
    first = space.choices[0]
    sub = space.fix({first.name: first.options[-1]})
    column = 0
    genotypes = [sub.sample(rng) for _ in range(10)]
    genotypes += [sub.mutate(g, rng, prob=1.0) for g in genotypes]
    genotypes += [sub.crossover(a, b, rng) for a, b in zip(genotypes, genotypes[::-1])]
    assert all(g.indices[column] == len(first) - 1 for g in genotypes)
    rows = sub.sample_batch(50, rng)
    rows = np.vstack(
        [rows, sub.mutate_batch(rows, rng, 1.0), sub.crossover_batch(rows, rows[::-1], rng)]
    )
    assert (rows[:, column] == len(first) - 1).all()


def test_restrict_pins_other_levels_to_defaults() -> None:
    space = SPACES["synthetic"]()
    reference = space.sample(11)
    stage2 = space.restrict("detail", reference)
    for _ in range(20):
        g = stage2.sample()
        mixes = [g[f"blocks.{i}.mix"] for i in range(3)]
        assert mixes == [reference[f"blocks.{i}.mix"] for i in range(3)]
    stage1 = space.restrict("distribution")
    g = stage1.sample(5)
    assert all(g[f"blocks.{i}.ffn"] == 2 for i in range(3))  # the choice's default


def test_batch_and_single_paths_agree_on_canonical_form() -> None:
    space = nested_space()
    rng = np.random.default_rng(0)
    raw = rng.integers(0, space.counts, size=(500, len(space)))
    batch = space.canonicalize_batch(raw)
    single = np.array([space.canonical(row).indices for row in raw])
    assert (batch == single).all()
    mask = active(space, batch)
    assert (mask == np.array([space.active_mask(tuple(row)) for row in batch])).all()


def test_mutation_rate_is_per_choice() -> None:
    space = SPACES["flat"](blocks=20, per_block=5)
    rows = space.sample_batch(2000, 0)
    changed = (space.mutate_batch(rows, 1, prob=0.1) != rows).mean()
    assert 0.09 < changed < 0.11  # flat space: every mutation changes the value


def test_sampling_is_deterministic_for_a_seed(any_space: Space) -> None:
    assert any_space.sample(42) == any_space.sample(42)
    assert (any_space.sample_batch(10, 7) == any_space.sample_batch(10, 7)).all()
