"""AutoFormer space and plugin: encoding, canonical genotypes, presets, options, costs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from archspace import GenotypeError, Space
from autoformer_space import PRESETS, WIDTHS, Arch, AutoFormerPlugin, BlockArch, Width
from autoformer_space.cost import model_cost
from autoformer_space.space import arch_of, autoformer_space, decode_batch, genotype_of

TINY, CPU = WIDTHS["tiny"], WIDTHS["cpu"]


@pytest.fixture(scope="module")
def tiny() -> AutoFormerPlugin:
    return AutoFormerPlugin("tiny")


def test_sizes_and_levels(tiny):
    space = tiny.space
    assert len(space) == 2 + 2 * 14
    assert space.levels == ("macro", "block")
    assert [c.name for c in space.choices[:4]] == [
        "depth",
        "embed_dim",
        "blocks.0.mlp_ratio",
        "blocks.0.heads",
    ]
    # 3 embed dims x (3 ratios x 2 head counts) per block, for depth 12, 13 or 14
    assert space.size == 3 * (6**12 + 6**13 + 6**14)
    assert space.nominal_size == 3 * 3 * 6**14
    assert AutoFormerPlugin("cpu").space.size == 3 * (6**3 + 6**4)
    assert AutoFormerPlugin("base").space.choice("blocks.15.heads").options == (8, 9, 10)


def test_blocks_past_depth_are_inactive_and_canonical(tiny):
    space = tiny.space
    assert space.choice("blocks.11.heads").when is None
    assert str(space.choice("blocks.12.heads").when) == "depth in {13, 14}"
    assert str(space.choice("blocks.13.mlp_ratio").when) == "depth == 14"
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = space.sample(rng)
        depth = g["depth"]
        for i in range(14):
            assert g.is_active(f"blocks.{i}.heads") == (i < depth)
            if i >= depth:  # a missing block holds its default: equal networks, equal keys
                assert g[f"blocks.{i}.heads"] == 3 and g[f"blocks.{i}.mlp_ratio"] == 3.0
        assert space.canonical(g.indices) == g
    shallow = genotype_of(space, Arch(192, (BlockArch(4.0, 4),) * 12))
    indices = list(shallow.indices)
    indices[space.position("blocks.13.heads")] = 1  # a value in a missing block
    assert space.canonical(indices) == shallow


def test_genotype_description_round_trip(tiny):
    rng = np.random.default_rng(1)
    for _ in range(30):
        g = tiny.space.sample(rng)
        arch = arch_of(g)
        assert len(arch.blocks) == g["depth"]
        assert genotype_of(tiny.space, arch) == g
        assert tiny.space.from_json(g.to_json()) == g
        assert tiny.space.from_key(g.key) == g
    arch = PRESETS["autoformer-t"][1]
    assert tiny.arch(tiny.genotype(arch)) == arch


def test_bad_descriptions_are_explained(tiny):
    with pytest.raises(GenotypeError, match=r"'embed_dim' got 200; allowed: 192, 216, 240"):
        tiny.genotype(Arch(200, (BlockArch(4.0, 3),) * 12))
    with pytest.raises(GenotypeError, match=r"'depth' got 11"):
        tiny.genotype(Arch(192, (BlockArch(4.0, 3),) * 11))
    with pytest.raises(GenotypeError, match=r"'blocks.3.heads' got 5; allowed: 3, 4"):
        tiny.genotype(Arch(192, (BlockArch(4.0, 3),) * 3 + (BlockArch(4.0, 5),) * 9))
    with pytest.raises(ValueError, match=r"block 2: mlp_ratio = 2.5 is not an option"):
        TINY.check(Arch(192, (BlockArch(4.0, 3),) * 2 + (BlockArch(2.5, 3),) * 10))
    other = AutoFormerPlugin("cpu").space.default()
    with pytest.raises(GenotypeError, match="'autoformer-cpu', whose choices differ"):
        tiny.cost(other)


def test_decode_batch_matches_genotypes(tiny):
    rows = tiny.space.sample_batch(200, np.random.default_rng(2))
    fields = decode_batch(TINY, rows)
    for row, g in enumerate(tiny.space.from_array(rows)):
        arch = arch_of(g)
        assert fields["depth"][row] == arch.depth and fields["embed_dim"][row] == arch.embed_dim
        assert fields["active"][row].sum() == arch.depth
        assert list(fields["mlp_ratio"][row, : arch.depth]) == [b.mlp_ratio for b in arch.blocks]
        assert list(fields["heads"][row, : arch.depth]) == [b.heads for b in arch.blocks]
    with pytest.raises(ValueError, match=r"shape \(n, 30\)"):
        decode_batch(TINY, rows[:, :10])


@pytest.mark.parametrize("width", ["tiny", "small", "base", "cpu"])
def test_batched_cost_equals_per_genotype_cost(width):
    plugin = AutoFormerPlugin(width)
    rows = plugin.space.sample_batch(300, np.random.default_rng(3))
    batch = plugin.cost_batch(rows)
    assert batch["macs"].dtype == np.int64 and batch["params"].shape == (300,)
    for row, g in enumerate(plugin.space.from_array(rows)):
        cost = plugin.cost(g)
        assert (batch["macs"][row], batch["params"][row]) == (cost["macs"], cost["params"])
        assert plugin.budget(cost["macs"])(g)


def test_cost_range_is_exact():
    plugin = AutoFormerPlugin("cpu")
    everything = plugin.space.enumerate(plugin.space.names)
    assert len(everything) == plugin.space.size
    costs = plugin.cost_batch(everything)
    for metric in plugin.metrics:
        assert plugin.cost_range(metric) == (costs[metric].min(), costs[metric].max())
    # sub-spaces: pinned shapes, and the hierarchical search's block stage
    g = plugin.space.sample(4)
    for sub in (
        plugin.space.fix({"depth": 3}),
        plugin.space.fix({"embed_dim": 56, "blocks.1.heads": 3}),
        plugin.space.restrict("block", g),
        plugin.space.restrict("macro"),
    ):
        rows = sub.enumerate(sub.names)
        costs = plugin.cost_batch(rows)
        assert plugin.cost_range("macs", sub) == (costs["macs"].min(), costs["macs"].max())
    assert plugin.cost_range("params", plugin.space.fix(g))[0] == plugin.cost(g)["params"]
    with pytest.raises(ValueError, match="unknown metric 'flops'"):
        plugin.cost_range("flops")


def test_breakdown_sums_to_total(tiny):
    g = tiny.presets()["autoformer-t"]
    parts = tiny.cost_breakdown(g)
    assert [n for n, _ in parts] == ["patch_embed", *[f"block {i}" for i in range(13)], "head"]
    for metric in tiny.metrics:
        assert sum(p[metric] for _, p in parts) == tiny.cost(g)[metric]


def test_presets_belong_to_their_width():
    assert set(AutoFormerPlugin("tiny").presets()) == {"autoformer-t"}
    assert set(AutoFormerPlugin("small").presets()) == {"autoformer-s"}
    assert set(AutoFormerPlugin("base").presets()) == {"autoformer-b"}
    assert AutoFormerPlugin("cpu").presets() == {}
    assert AutoFormerPlugin("tiny", num_classes=10).presets() == {}
    for name, (width, arch) in PRESETS.items():
        assert WIDTHS[width].check(arch) == arch, name
        plugin, g = AutoFormerPlugin.from_preset(name)
        assert plugin.width == WIDTHS[width] and plugin.arch(g) == arch
    assert AutoFormerPlugin.preset_names() == ("autoformer-t", "autoformer-s", "autoformer-b")
    with pytest.raises(LookupError, match="Did you mean 'autoformer-s'"):
        AutoFormerPlugin.from_preset("autoformer-small")
    assert AutoFormerPlugin.profile_options("quick") == {"width": "cpu"}
    # Tiny: the official supernet-T.yaml searches mlp 3.5/4.0 only; AutoFormer-T uses 3.0
    assert {b.mlp_ratio for b in PRESETS["autoformer-t"][1].blocks} == {3.0, 3.5, 4.0}


def test_layout_and_description(tiny):
    g = tiny.presets()["autoformer-t"]
    layout = tiny.block_layout(g)
    assert len(layout) == 13
    assert layout[10] == {"bars": {"heads": 4}, "mlp_ratio": 3.5, "embed_dim": 192}
    assert tiny.describe_genotype(g) == "depth 13, dim 192, heads 3-4, mlp 3.0-4.0"
    plain = tiny.genotype(Arch(216, (BlockArch(4.0, 3),) * 12))
    assert tiny.describe_genotype(plain) == "depth 12, dim 216, heads 3, mlp 4.0"


def test_options_rebuild_the_plugin():
    plugin = AutoFormerPlugin("cpu", num_classes=7, mlp_ratios=[2, 4], img_size=32)
    assert plugin.width.mlp_ratios == (2.0, 4.0) and plugin.width.num_classes == 7
    options = json.loads(json.dumps(plugin.options()))  # as saved in a run's config
    again = AutoFormerPlugin(**options)
    assert again.width == plugin.width
    assert again.space.fingerprint == plugin.space.fingerprint
    assert again.model_input().num_classes == 7 and again.model_input().img_size == 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": "huge"}, r"unknown AutoFormer width 'huge'; allowed: tiny, small, base, cpu"),
        ({"embed_dim": 64}, r"unknown AutoFormer option\(s\) embed_dim; allowed: width, embed_"),
        ({"patch_size": 5}, r"img_size \(224\) must be divisible by patch_size \(5\)"),
        ({"num_classes": 0}, r"Width.num_classes must be a positive int, got 0"),
        ({"heads": []}, r"Width.heads needs at least one option"),
        ({"heads": [3, 3]}, r"Width.heads has duplicate options"),
        ({"depths": [2.5]}, r"Width.depths options must be positive ints, got 2.5"),
        ({"mlp_ratios": [3.3]}, r"embed dim 192 x mlp ratio 3.3 = .* not a whole number"),
    ],
)
def test_bad_options_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AutoFormerPlugin(**kwargs)


def test_widths_and_largest(tiny):
    assert TINY.max_qkv == 256 and TINY.max_hidden == 960 and TINY.num_tokens == 197
    largest = model_cost(TINY, TINY.largest())
    assert (largest.macs, largest.params) == (
        tiny.cost_range("macs")[1],
        tiny.cost_range("params")[1],
    )
    assert Width((8,), (1,), (2,), (1,), img_size=4, patch_size=2).num_patches == 4
    assert isinstance(autoformer_space(CPU), Space)


def test_import_does_not_pull_torch():
    code = "import autoformer_space, sys; autoformer_space.AutoFormerPlugin('base').cost_batch"
    code += "; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
