"""Latency-table parts of the GLiT and AutoFormer spaces: keys, costs and modules."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from archspace.latency import parse_part_key, part_key
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
    """The token width of a part: the GLiT width's, or the embed_dim an AutoFormer key names."""
    if isinstance(plugin, GlitPlugin):
        return plugin.width.embed_dim
    return int(parse_part_key(key)[1]["embed_dim"])


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


def test_every_space_writes_part_keys_in_one_form(glit, autoformer):
    assert part_key("head") == "head"
    key = part_key("block", heads=3, mlp_ratio=3.5, act="gelu")
    assert key == "block:heads=3,mlp_ratio=3.5,act=gelu"
    assert part_key("block", ratio=1.0) == "block:ratio=1"  # no trailing .0
    assert parse_part_key("block:heads=3,mlp_ratio=3.5,act=gelu") == (
        "block",
        {"heads": 3, "mlp_ratio": 3.5, "act": "gelu"},
    )
    for bad in ("block:ratio=1.0", "block:a=1,a=2", "block:", "block:a", "a b", ":a=1"):
        with pytest.raises(ValueError, match="not a latency part key"):
            parse_part_key(bad)
    with pytest.raises(ValueError, match="hold no"):
        part_key("block", act="a,b")
    for plugin in (glit, autoformer):  # the spaces' keys are all in that form
        for key in plugin.latency_part_keys():
            kind, fields = parse_part_key(key)
            assert part_key(kind, **fields) == key


def test_glit_paper_keys_by_distribution(glit):
    blocks = [k for k in glit.latency_part_keys() if k.startswith("block:")]
    thirds = [k.split(",")[0].removeprefix("block:global_thirds=") for k in blocks]
    by_thirds = {g: thirds.count(str(g)) for g in range(4)}
    assert by_thirds == {0: 27, 1: 81, 2: 81, 3: 9}
    assert "block:global_thirds=3,qkv_ratio=1,ffn_ratio=4" in blocks
    assert "block:global_thirds=0,kernel=31,expansion=2,ffn_ratio=4" in blocks
    assert "block:global_thirds=1,kernel=17,expansion=4,qkv_ratio=0.5,ffn_ratio=6" in blocks


def test_equal_blocks_give_equal_keys():
    key = glit_latency.block_key
    # all-global blocks ignore kernel and expansion, all-local ones the qkv ratio
    assert (
        key(BlockArch(3, 17, 4, 0.5, 2))
        == key(BlockArch(3, 45, 1, 0.5, 2))
        == "block:global_thirds=3,qkv_ratio=0.5,ffn_ratio=2"
    )
    assert key(BlockArch(0, 45, 4, 0.5, 6)) == key(BlockArch(0, 45, 4, 2.0, 6))
    local = "block:global_thirds=0,kernel=45,expansion=4,ffn_ratio=6"
    assert key(BlockArch(0, 45, 4, 2.0, 6)) == local
    # a mixed block uses every field
    assert key(BlockArch(1, 17)) != key(BlockArch(1, 45))
    assert key(BlockArch(2, qkv_ratio=0.5)) != key(BlockArch(2, qkv_ratio=1.0))
    assert key(BlockArch(3, ffn_ratio=4)) == key(BlockArch(3, ffn_ratio=4.0))
    # a DeiT network repeats one block; its parts repeat one key
    plugin = GlitPlugin("tiny")
    parts = plugin.latency_parts(plugin.presets()["deit-tiny"])
    assert parts == ["patch_embed", *["block:global_thirds=3,qkv_ratio=1,ffn_ratio=4"] * 12, "head"]
    af = AutoFormerPlugin("tiny")
    parts = af.latency_parts(af.presets()["autoformer-t"])
    assert parts[0] == "patch_embed:embed_dim=192" and parts[-1] == "head:embed_dim=192"
    assert parts.count("block:embed_dim=192,heads=3,mlp_ratio=3.5") == 5
    assert "block:embed_dim=192,heads=4,mlp_ratio=3.5" in parts


def test_block_keys_read_back():
    for arch in glit_latency.space_blocks(GlitPlugin("cpu").space):
        key = glit_latency.block_key(arch)
        assert glit_latency.parse_block_key(key) == arch == glit_latency.canonical_block(arch)
    for bad in (
        "block:global_thirds=3,kernel=31,qkv_ratio=1,ffn_ratio=4",  # an ignored field
        "block:global_thirds=3,ffn_ratio=4,qkv_ratio=1",  # out of order
        "block:global_thirds=4,qkv_ratio=1,ffn_ratio=4",
        "block:global_thirds=3,qkv_ratio=1,ffn_ratio=4,x=1",
        "block:g3-q1-f4",  # version 1's spelling
        "block:x",
        "head:",
    ):
        with pytest.raises(ValueError):
            glit_latency.parse_block_key(bad)


@pytest.mark.parametrize(
    "key",
    [
        "block:global_thirds=3,qkv_ratio=1.0,ffn_ratio=4",
        "block:global_thirds=3,qkv_ratio=1",
        "blocks",
        "block:global_thirds=0,kernel=30,expansion=2,ffn_ratio=4",
        "block:global_thirds=3,qkv_ratio=0.7,ffn_ratio=4",
    ],
)
def test_glit_rejects_bad_keys(glit, key):
    with pytest.raises(ValueError):
        glit.latency_module(key)


@pytest.mark.parametrize(
    "key",
    [
        "patch_embed:embed_dim=50",
        "head:embed_dim=64.0",
        "block:embed_dim=64,heads=5,mlp_ratio=2",
        "block:embed_dim=64,heads=2,mlp_ratio=2.0",
        "block:embed_dim=64,mlp_ratio=2,heads=2",
        "patch_embed:d64",
        "block:x",
    ],
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
        f"{part}:embed_dim={d}" for d in (192, 216, 240) for part in ("patch_embed", "head")
    ]
    arch = Arch(216, (AfBlock(4.0, 4),) * 14)
    assert af.latency_parts(af.genotype(arch)) == [
        "patch_embed:embed_dim=216",
        *["block:embed_dim=216,heads=4,mlp_ratio=4"] * 14,
        "head:embed_dim=216",
    ]
