"""Spaces: exact sizes, definitions, errors that name the fault, budgets, registries."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from archspace import (
    Budget,
    Choice,
    GenotypeError,
    In,
    InfeasibleError,
    Registry,
    Space,
    SpaceDefinitionError,
    UnknownNameError,
    condition_from_dict,
    load_space,
    spaces,
    strategies,
)
from archspace.registry import plural
from archspace.synthetic import SyntheticPlugin, synthetic_space
from tests.conftest import flat_space, nested_space


def brute_force_size(space: Space) -> int:
    ranges = [range(int(k)) for k in space.counts]
    return len({space.canonical(row) for row in itertools.product(*ranges)})


@pytest.mark.parametrize(
    "make", [nested_space, lambda: flat_space(2, 3), lambda: synthetic_space(2)]
)
def test_exact_size_equals_brute_force(make) -> None:
    space = make()
    assert space.size == brute_force_size(space)
    sub = space.fix({space.choices[0].name: space.choices[0].options[0]})
    assert sub.size == brute_force_size(sub)


def test_conditional_size_is_less_than_nominal() -> None:
    space = synthetic_space(12)
    assert space.nominal_size == 324**12
    assert space.size == 198**12  # 27 + 81 + 81 + 9 canonical configurations per block
    assert space.restrict("distribution").size == 4**12


def test_product_space_of_324_options_per_block() -> None:
    space = Space([Choice(f"blocks.{i}", tuple(range(324))) for i in range(12)])
    assert space.size == 324**12
    assert space.log10_size == pytest.approx(30.13, abs=0.01)
    g = space.sample(0)
    assert space.from_key(g.key) == g  # more than 62 options: dotted keys


def test_space_definition_round_trips() -> None:
    space = nested_space().fix({"op": "conv"})
    again = Space.from_spec(space.to_spec())
    assert again.to_spec() == space.to_spec()
    assert again.fingerprint == nested_space().fingerprint
    assert again.size == space.size
    for choice in nested_space().choices:
        if choice.when is not None:
            assert condition_from_dict(choice.when.to_dict()) == choice.when
    assert "op in {'attn'}" in str(nested_space().choice("attn.heads").when) or "op ==" in str(
        nested_space().choice("attn.heads").when
    )


def test_bad_definitions_are_named() -> None:
    with pytest.raises(SpaceDefinitionError, match="duplicate choice name 'a'"):
        Space([Choice("a", (1, 2)), Choice("a", (1, 2))])
    with pytest.raises(SpaceDefinitionError, match="comes after it"):
        Space([Choice("a", (1, 2), when=In("b", (1,))), Choice("b", (1, 2))])
    with pytest.raises(SpaceDefinitionError, match="unknown choice 'c'"):
        Space([Choice("a", (1, 2)), Choice("b", (1, 2), when=In("c", (1,)))])
    with pytest.raises(SpaceDefinitionError, match="allowed: 1, 2"):
        Space([Choice("a", (1, 2)), Choice("b", (1, 2), when=In("a", (3,)))])
    with pytest.raises(SpaceDefinitionError, match="duplicate options"):
        Choice("a", (1, 1))
    with pytest.raises(SpaceDefinitionError, match="options must be"):
        Choice("a", ([1, 2],))


def test_bad_genotypes_name_choice_value_and_options() -> None:
    space = synthetic_space(2)
    good = space.sample(0).to_dict()
    with pytest.raises(
        GenotypeError, match=r"unknown choice 'blocks.0.kernal'.*did you mean 'blocks.0.kernel'"
    ):
        space.from_dict({**good, "blocks": [{**good["blocks"][0], "kernal": 3}, good["blocks"][1]]})
    bad = {"blocks": [{"mix": 0, "kernel": 9, "expansion": 1, "ffn": 2}, good["blocks"][1]]}
    with pytest.raises(GenotypeError, match=r"choice 'blocks.0.kernel' got 9; allowed: 3, 5, 7"):
        space.from_dict(bad)
    missing = {"blocks": [{"mix": 0, "expansion": 1, "ffn": 2}, good["blocks"][1]]}
    with pytest.raises(GenotypeError, match=r"missing choice 'blocks.0.kernel'"):
        space.from_dict(missing)
    typed = {"blocks": [{"mix": "0", "kernel": 3, "expansion": 1, "ffn": 2}, good["blocks"][1]]}
    with pytest.raises(GenotypeError, match=r"choice 'blocks.0.mix' got '0'; allowed: 0, 1, 2, 3"):
        space.from_dict(typed)
    with pytest.raises(GenotypeError, match="must be a JSON object"):
        space.from_dict([1, 2])
    with pytest.raises(GenotypeError, match="malformed"):
        space.from_json("{not json")
    with pytest.raises(GenotypeError, match=r"option index 7 is out of range 0\.\.3"):
        space.canonical([7] + [0] * (len(space) - 1))
    with pytest.raises(GenotypeError, match="has 10 choices; got an index vector of length 3"):
        space.canonical([0, 0, 0])
    with pytest.raises(GenotypeError, match="fixed to 1"):
        space.fix({"blocks.0.mix": 1}).from_dict(
            {**good, "blocks": [{**good["blocks"][0], "mix": 2}, good["blocks"][1]]}
        )


def test_bool_does_not_match_int_options() -> None:
    space = nested_space()
    with pytest.raises(GenotypeError, match="got True"):
        space.from_values(
            {"op": "conv", "shape": (1, 2), "conv.kernel": True, "conv.groups": 1, "norm": True}
        )


def test_sampling_under_a_budget_and_infeasible_budget() -> None:
    plugin = SyntheticPlugin(depth=4)
    budget = plugin.budget(40)
    for seed in range(20):
        assert plugin.cost(plugin.space.sample_feasible(budget, seed))["cost"] <= 40
    with pytest.raises(InfeasibleError, match=r"ranged from \d+ \(cheapest\) to \d+ \(dearest\)"):
        plugin.space.sample_feasible(plugin.budget(5), 0, max_tries=200)
    with pytest.raises(ValueError, match="needs a maximum"):
        Budget(cost=lambda g: 0.0)


def test_registry_finds_entry_points_and_suggests_names() -> None:
    assert "synthetic" in spaces.names()
    assert isinstance(load_space("synthetic", depth=3), SyntheticPlugin)
    with pytest.raises(
        UnknownNameError,
        match=r"unknown space 'synthetik'. Did you mean 'synthetic'\? Known spaces: .*synthetic",
    ):
        spaces.get("synthetik")
    spaces.register("mine", SyntheticPlugin)
    try:
        assert load_space("mine").name == "synthetic"
    finally:
        spaces.unregister("mine")


def test_lazy_registrations_import_nothing_until_got() -> None:
    """`register_lazy` names a "module:attribute" imported on first `get`: `names` and
    `check` (which refuses unknown names) import nothing, as the command line needs."""
    widgets: Registry[object] = Registry("archsearch.test-widgets", "widget")
    widgets.register_lazy("broken", "no_such_module_anywhere:Widget")
    widgets.register_lazy("decoder", "json:JSONDecoder")
    assert widgets.names() == ["broken", "decoder"]
    widgets.check("broken")  # known: not imported, so no error
    with pytest.raises(UnknownNameError, match=r"Did you mean 'decoder'\? Known widgets"):
        widgets.check("decodr")
    with pytest.raises(ImportError, match=r"widget 'broken' .*no_such_module_anywhere"):
        widgets.get("broken")
    assert widgets.get("decoder") is json.JSONDecoder
    with pytest.raises(ValueError, match="module:attribute"):
        widgets.register_lazy("bad", "no colon")


def test_built_in_searchers_are_registered_under_their_own_names() -> None:
    from strategies.searchers import BUILTIN, searchers

    assert set(BUILTIN) <= set(searchers.names())
    assert all(searchers.get(name).name == name for name in BUILTIN)


def test_registry_errors_use_the_plural_of_their_kind() -> None:
    with pytest.raises(UnknownNameError, match=r"Known strategies: hierarchical-ea"):
        strategies.get("nope")
    assert [plural(k) for k in ("strategy", "space", "searcher", "key", "class", "day")] == [
        "strategies",
        "spaces",
        "searchers",
        "keys",
        "classes",
        "days",
    ]


def test_archspace_does_not_import_torch() -> None:
    code = "import archspace, archspace.synthetic, sys; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
