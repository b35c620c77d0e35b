"""Latency-table parts of the GLiT and AutoFormer spaces: keys, costs and modules."""

from __future__ import annotations

import re

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from autoformer_space import AutoFormerPlugin
from autoformer_space import latency as af_latency
from autoformer_space.config import Arch
from autoformer_space.config import BlockArch as AfBlock
from glit_space import GlitPlugin
from glit_space import latency as glit_latency
from glit_space.config import BlockArch
from oneshot.interface import LatencyParts
from oneshot.shapes import Cost


@pytest.fixture(scope="module")
def glit():
    return GlitPlugin("cpu")


@pytest.fixture(scope="module")
def autoformer():
    return AutoFormerPlugin("cpu")


def plugins(glit, autoformer):
    return [
        (glit, glit_latency.part_cost),
        (autoformer, af_latency.part_cost),
    ]


def embed_dim(plugin, key: str) -> int:
    """The token width of a part: the GLiT width's, or the "d..." an AutoFormer key names."""
    if isinstance(plugin, GlitPlugin):
        return plugin.width.embed_dim
    return int(re.search(r":d(\d+)", key)[1])


def depth_of(plugin, genotype) -> int:
    return (
        len(plugin.blocks(genotype))
        if isinstance(plugin, GlitPlugin)
        else plugin.arch(genotype).depth
    )


# ---- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugin", "count"),
    [
        (GlitPlugin("cpu"), 200),
        (GlitPlugin("tiny"), 200),
        (GlitPlugin("cpu", variant="published"), 38),
        (GlitPlugin("tiny", variant="published"), 38),
        (AutoFormerPlugin("cpu"), 24),
        (AutoFormerPlugin("tiny"), 24),
    ],
    ids=["glit-cpu", "glit-tiny", "glit-pub-cpu", "glit-pub-tiny", "af-cpu", "af-tiny"],
)
def test_key_counts_and_random_genotypes_are_covered(plugin, count):
    keys = plugin.latency_part_keys()
    assert len(keys) == len(set(keys)) == count
    known = set(keys)
    for seed in range(50):
        genotype = plugin.space.sample(seed)
        parts = plugin.latency_parts(genotype)
        assert set(parts) <= known
        assert len(parts) == depth_of(plugin, genotype) + 2
        assert parts[0].startswith("patch_embed") and parts[-1].startswith("head")
        assert all(p.startswith("block:") for p in parts[1:-1])


def test_glit_paper_keys_by_distribution(glit):
    blocks = [k for k in glit.latency_part_keys() if k.startswith("block:")]
    by_thirds = {g: sum(k.startswith(f"block:g{g}-") for k in blocks) for g in range(4)}
    assert by_thirds == {0: 27, 1: 81, 2: 81, 3: 9}
    assert "block:g3-q1-f4" in blocks and "block:g0-k31-e2-f4" in blocks
    assert "block:g1-k17-e4-q0.5-f6" in blocks


def test_equal_blocks_give_equal_keys():
    key = glit_latency.block_key
    # all-global blocks ignore kernel and expansion, all-local ones the qkv ratio
    assert (
        key(BlockArch(3, 17, 4, 0.5, 2)) == key(BlockArch(3, 45, 1, 0.5, 2)) == ("block:g3-q0.5-f2")
    )
    assert key(BlockArch(0, 45, 4, 0.5, 6)) == key(BlockArch(0, 45, 4, 2.0, 6))
    assert key(BlockArch(0, 45, 4, 2.0, 6)) == "block:g0-k45-e4-f6"
    # a mixed block uses every field
    assert key(BlockArch(1, 17)) != key(BlockArch(1, 45))
    assert key(BlockArch(2, qkv_ratio=0.5)) != key(BlockArch(2, qkv_ratio=1.0))
    assert key(BlockArch(3, ffn_ratio=4)) == key(BlockArch(3, ffn_ratio=4.0))
    # a DeiT network repeats one block; its parts repeat one key
    plugin = GlitPlugin("tiny")
    parts = plugin.latency_parts(plugin.presets()["deit-tiny"])
    assert parts == ["patch_embed", *["block:g3-q1-f4"] * 12, "head"]
    af = AutoFormerPlugin("tiny")
    parts = af.latency_parts(af.presets()["autoformer-t"])
    assert parts[0] == "patch_embed:d192" and parts[-1] == "head:d192"
    assert parts.count("block:d192-h3-m3.5") == 5 and "block:d192-h4-m3.5" in parts


def test_block_keys_read_back():
    for arch in glit_latency.space_blocks(GlitPlugin("cpu").space):
        key = glit_latency.block_key(arch)
        assert glit_latency.parse_block_key(key) == arch == glit_latency.canonical_block(arch)
    for bad in ("block:g3-k31-q1-f4", "block:g3-f4-q1", "block:g4-q1-f4", "block:x", "head:"):
        with pytest.raises(ValueError):
            glit_latency.parse_block_key(bad)


@pytest.mark.parametrize(
    "key", ["block:g3-q1.0-f4", "block:g3-q1", "blocks", "block:g0-k30-e2-f4", "block:g3-q0.7-f4"]
)
def test_glit_rejects_bad_keys(glit, key):
    with pytest.raises(ValueError):
        glit.latency_module(key)


@pytest.mark.parametrize(
    "key", ["patch_embed:d50", "head:d64.0", "block:d64-h5-m2", "block:d64-h2-m2.0", "block:x"]
)
def test_autoformer_rejects_bad_keys(autoformer, key):
    with pytest.raises(ValueError):
        autoformer.latency_module(key)


# ---- costs ---------------------------------------------------------------------------------


def test_parts_sum_to_the_genotype_cost(glit, autoformer):
    for plugin, part_cost in plugins(glit, autoformer):
        for seed in range(30):
            genotype = plugin.space.sample(seed)
            total = sum(
                (part_cost(plugin.width, k) for k in plugin.latency_parts(genotype)), Cost(0, 0)
            )
            assert total.as_dict() == {k: float(v) for k, v in plugin.cost(genotype).items()}


# ---- modules -------------------------------------------------------------------------------


def test_the_table_is_complete_and_measures_what_the_cost_model_counts(glit, autoformer):
    """Every key of the CPU widths builds an eval-mode module that runs on a batch of its
    input shape, with the MACs and parameters the analytic model gives its part."""
    torch.manual_seed(0)
    for plugin, part_cost in plugins(glit, autoformer):
        assert isinstance(plugin, LatencyParts)
        classes = plugin.width.num_classes
        for key in plugin.latency_part_keys():
            module, shape = plugin.latency_module(key)
            assert not any(m.training for m in module.modules()), key
            x = torch.randn(2, *shape)
            with (
                sdpa_kernel(SDPBackend.MATH),
                FlopCounterMode(display=False) as counter,
                torch.no_grad(),
            ):
                y = module(x)
            tokens = (2, plugin.width.num_tokens, embed_dim(plugin, key))
            assert tuple(y.shape) == ((2, classes) if key.startswith("head") else tokens), key
            assert torch.isfinite(y).all(), key
            params = sum(p.numel() for p in module.parameters())
            assert Cost(counter.get_total_flops() // 4, params) == part_cost(plugin.width, key)


def chain(modules, x):
    for module in modules:
        x = module(x)
    return x


@pytest.mark.parametrize("space", ["glit", "autoformer"])
def test_the_parts_chained_reproduce_the_network(glit, autoformer, space):
    plugin = glit if space == "glit" else autoformer
    torch.manual_seed(1)
    genotype = plugin.space.sample(5)
    model = plugin.build(genotype).eval()
    sliced = glit_latency.vit_parts(model)
    parts = [plugin.latency_module(k) for k in plugin.latency_parts(genotype)]
    assert len(sliced) == len(parts)
    x = torch.randn(3, *parts[0][1])
    for (module, _), piece in zip(parts, sliced):
        module.load_state_dict(piece.state_dict())  # strict: the same modules, the same sizes
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(chain(sliced, x), expected)
        assert torch.equal(chain([m for m, _ in parts], x), expected)
        h = parts[0][0](x)
        for module, shape in parts[1:]:
            assert tuple(h.shape[1:]) == shape
            h = module(h)


def test_autoformer_keys_span_the_width():
    af = AutoFormerPlugin("tiny")
    keys = af.latency_part_keys()
    assert [k for k in keys if not k.startswith("block:")] == [
        f"{part}:d{d}" for d in (192, 216, 240) for part in ("patch_embed", "head")
    ]
    arch = Arch(216, (AfBlock(4.0, 4),) * 14)
    assert af.latency_parts(af.genotype(arch)) == [
        "patch_embed:d216",
        *["block:d216-h4-m4"] * 14,
        "head:d216",
    ]
