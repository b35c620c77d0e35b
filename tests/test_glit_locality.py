"""The GLiT space option `locality` (the paper's Table 6): conv1d, conv2d and
local-attention each with its own choices, models, supernet, exact cost and latency keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from glit_space import GlitPlugin
from glit_space.config import WIDTHS, BlockArch, Width, local_areas
from glit_space.cost import Cost
from glit_space.latency import part_cost
from glit_space.layers import LocalAttention, LocalConv
from oneshot.profiling import measure_cost

LOCALITIES = ("conv1d", "conv2d", "local-attention")
#: the local sub-module's choices of each locality at 196 patch tokens (224 px)
LOCAL_CHOICES = {
    "conv1d": {"kernel": (17, 31, 45), "expansion": (1, 2, 4)},
    "conv2d": {"kernel": (3, 5, 7), "expansion": (1, 2, 4)},
    "local-attention": {"area": (14, 28, 49)},
}


def small(locality: str) -> GlitPlugin:
    """A quick width: dim 24, 2 blocks, 28 px grey; patch 2 (196 tokens) for local
    attention, so that it has the paper's three areas."""
    patch = 2 if locality == "local-attention" else 4
    return GlitPlugin("cpu", embed_dim=24, depth=2, patch_size=patch, locality=locality)


def images(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ---- the space --------------------------------------------------------------------------


@pytest.mark.parametrize("locality", LOCALITIES)
def test_each_locality_searches_its_own_local_choices(locality: str) -> None:
    space = GlitPlugin("tiny", locality=locality).space
    block = {c.name.removeprefix("blocks.0."): c for c in space.choices[: len(space) // 12]}
    local = LOCAL_CHOICES[locality]
    assert list(block) == ["heads", *local, "qkv", "ffn"]
    assert {name: block[name].options for name in local} == local
    assert block["qkv"].options == (0.5, 1.0, 2.0) and block["ffn"].options == (2, 4, 6)
    details = int(np.prod([len(options) for options in local.values()]))
    assert space.size == (9 + 3 * details + 2 * 9 * details) ** 12  # global, local, mixed
    assert space.levels == ("distribution", "detail")


def test_defaults_are_the_middle_local_options() -> None:
    conv2d = GlitPlugin("tiny", locality="conv2d").space
    attention = GlitPlugin("tiny", locality="local-attention").space
    assert conv2d.choice("blocks.0.kernel").default == 5
    assert attention.choice("blocks.0.area").default == 28
    assert (conv2d.name, attention.name) == ("glit-paper-conv2d", "glit-paper-local-attention")


def test_areas_scale_with_the_patch_tokens() -> None:
    """Window sizes tiling the patch tokens exactly, from 1/14 to 1/4 of them."""
    for name in ("tiny", "small", "base"):
        assert local_areas(WIDTHS[name]) == (14, 28, 49)  # 196 tokens: the paper's
    assert local_areas(WIDTHS["cpu"]) == (7,)  # 49 tokens: one row of the 7 x 7 grid
    assert local_areas(small("local-attention").width) == (14, 28, 49)
    assert local_areas(Width(96, 3, 4, img_size=32, patch_size=4)) == (8, 16)  # 64 tokens
    with pytest.raises(ValueError, match="divides the 9 patch tokens"):
        Width(96, 3, 4, img_size=12, patch_size=4, locality="local-attention")


def test_bad_locality_values_are_refused_naming_the_allowed_ones(tmp_path) -> None:
    allowed = "allowed: conv1d, conv2d, local-attention"
    with pytest.raises(ValueError, match=f"unknown GLiT locality 'conv3d'; {allowed}"):
        GlitPlugin("cpu", locality="conv3d")
    with pytest.raises(ValueError, match="applies to the 'paper' variant only"):
        GlitPlugin("cpu", variant="nlp", locality="conv2d")
    from cli.main import cli

    out = tmp_path / "run"
    args = ["run", "--space=glit", "--set=space.locality=conv3d", f"--out={out}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and allowed in result.output, result.output
    assert not out.exists()


def test_conv1d_is_the_default_and_unchanged() -> None:
    default, named = GlitPlugin("cpu"), GlitPlugin("cpu", locality="conv1d")
    assert default.space.fingerprint == named.space.fingerprint
    assert default.space.name == "glit-paper" and "locality" not in named.options()
    assert default.width_name == named.width_name == "cpu"
    assert GlitPlugin(**small("conv2d").options()).options()["locality"] == "conv2d"


# ---- the modules ------------------------------------------------------------------------


def test_conv2d_networks_have_no_class_token_and_pool() -> None:
    plugin = small("conv2d")
    torch.manual_seed(0)
    model = plugin.build(plugin.space.sample(0)).eval()
    assert model.cls_token is None and model.pos_embed.shape == (1, 49, 24)
    x = images(2, 0)
    with torch.no_grad():
        tokens = model.forward_features(x)
        assert tokens.shape == (2, 49, 24)
        torch.testing.assert_close(model(x), model.head(tokens.mean(dim=1)))


def test_conv2d_mixes_a_square_neighbourhood_of_the_grid() -> None:
    """A 3x3 kernel on the 7x7 grid: token (3, 3) reaches rows and columns 2..4 only,
    though the row-major sequence puts (2, 4) eight tokens away."""
    torch.manual_seed(0)
    conv = LocalConv(channels=4, expansion=1, kernel=3, grid=7).eval()
    x = torch.randn(1, 49, 4)
    moved = x.clone()
    moved[0, 3 * 7 + 3] += 1.0
    with torch.no_grad():
        changed = (conv(moved) - conv(x)).abs().sum(-1)[0].view(7, 7) > 0
    expected = torch.zeros(7, 7, dtype=torch.bool)
    expected[2:5, 2:5] = True
    assert torch.equal(changed, expected)


def test_local_attention_stays_inside_its_window() -> None:
    torch.manual_seed(0)
    attn = LocalAttention(channels=8, heads=2, area=14).eval()
    x = torch.randn(2, 1 + 196, 8)
    moved = x.clone()
    moved[:, 1 + 20] += 1.0  # a token of the second window (tokens 14..27)
    with torch.no_grad():
        changed = (attn(moved) - attn(x)).abs().sum(-1) > 0
        assert changed[:, 1 + 14 : 1 + 28].all() and changed.sum() == 2 * 14
        v = attn.qkv(x)[..., 16:]  # the class token attends to itself alone
        torch.testing.assert_close(attn(x)[:, 0], attn.proj(v[:, 0]))


# ---- the supernet -----------------------------------------------------------------------


@pytest.mark.parametrize("locality", LOCALITIES)
def test_export_computes_what_the_supernet_path_computes(locality: str) -> None:
    plugin = small(locality)
    torch.manual_seed(0)
    supernet = plugin.supernet(drop_path_rate=0.1)
    assert (supernet.cls_token is None) == (locality == "conv2d")
    space, x = plugin.space, images(2, 1)
    largest = {name: max(options) for name, options in LOCAL_CHOICES[locality].items()}
    largest.update(qkv=2.0, ffn=6)
    mixed = {f"blocks.{i}.{name}": v for name, v in largest.items() for i in (0, 1)}
    mixed.update({"blocks.0.heads": (0, 3), "blocks.1.heads": (1, 2)})
    largest = space.from_values(mixed, strict=False)  # an all-local block has no qkv
    genotypes = [*space.from_array(space.sample_batch(3, 2)), largest]
    for genotype in genotypes:
        supernet.train()
        supernet.activate(genotype)
        supernet(images(4, 3))  # BatchNorm statistics of this path
        supernet.eval()
        subnet = supernet.export(genotype).eval()
        assert subnet.blocks == plugin.blocks(genotype)
        params = sum(p.numel() for p in subnet.parameters())
        assert params == plugin.cost(genotype)["params"]
        with torch.no_grad():
            torch.testing.assert_close(subnet(x), supernet(x), atol=1e-5, rtol=0)


def test_conv2d_paths_share_the_centre_of_the_largest_kernel() -> None:
    plugin = small("conv2d")
    supernet = plugin.supernet()
    arch = BlockArch(0, kernel=3, expansion=2)
    weight, _ = supernet.layers[0].dw_slice(arch)
    assert weight.shape == (48, 1, 3, 3)
    assert torch.equal(weight, supernet.layers[0].dw.weight[:48, :, 2:5, 2:5])


# ---- cost --------------------------------------------------------------------------------


@pytest.mark.parametrize("locality", LOCALITIES)
def test_analytic_cost_equals_flop_counter_and_parameters(locality: str) -> None:
    """Whole networks at the test width and at tiny (on the meta device), and the
    population path."""
    for plugin, count in ((small(locality), 4), (GlitPlugin("tiny", locality=locality), 1)):
        rows = plugin.space.sample_batch(count, 4)
        batch = plugin.cost_batch(rows)
        for k, genotype in enumerate(plugin.space.from_array(rows)):
            cost = plugin.cost(genotype)
            assert (batch["macs"][k], batch["params"][k]) == (cost["macs"], cost["params"])
            with torch.device("meta"):
                model = plugin.build(genotype)
            measured = measure_cost(model, plugin.width.in_chans, plugin.width.img_size)
            assert measured == (cost["macs"], cost["params"]), genotype


@pytest.mark.parametrize("locality", ["conv2d", "local-attention"])
def test_latency_parts_cost_what_their_modules_count(locality: str) -> None:
    """The stem, the head and every 8th distinct block of the space (conv1d's every
    block: tests/test_latency_parts.py): each module's FlopCounterMode MACs and
    parameters equal the analytic part cost."""
    plugin = small(locality)
    keys = plugin.latency_part_keys()
    with torch.device("meta"):
        modules = {key: plugin.latency_module(key) for key in [keys[0], *keys[1:-1:8], keys[-1]]}
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        for key, (module, shape) in modules.items():
            before = counter.get_total_flops()
            module(torch.zeros(1, *shape, device="meta"))
            macs = (counter.get_total_flops() - before) // 2
            params = sum(p.numel() for p in module.parameters())
            assert Cost(macs, params) == part_cost(plugin.width, key), key


# ---- latency keys -------------------------------------------------------------------------


def test_latency_keys_name_the_locality() -> None:
    keys = {locality: set(small(locality).latency_part_keys()) for locality in LOCALITIES}
    assert not keys["conv1d"] & keys["conv2d"] and not keys["conv1d"] & keys["local-attention"]
    assert not keys["conv2d"] & keys["local-attention"]
    assert "patch_embed:locality=conv2d" in keys["conv2d"]
    assert (
        "block:locality=local-attention,global_thirds=0,area=14,ffn_ratio=4"
        in (keys["local-attention"])
    )
    assert len(keys["local-attention"]) == 9 + 9 + 2 * 27 + 2
    plugin = small("conv2d")
    with pytest.raises(ValueError, match="not a GLiT block key of locality conv2d"):
        plugin.latency_module("block:global_thirds=3,qkv_ratio=1,ffn_ratio=4")
    for seed in range(5):
        genotype = plugin.space.sample(seed)
        parts = plugin.latency_parts(genotype)
        total = sum((part_cost(plugin.width, key) for key in parts), Cost(0, 0))
        assert total.as_dict() == {k: float(v) for k, v in plugin.cost(genotype).items()}


# ---- end to end ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_conv2d_search_runs_end_to_end(tmp_path, tiny_glit) -> None:
    from cli.main import cli

    args = ["run", "--space=glit", "--set=space.locality=conv2d", *tiny_glit, "--json"]
    args.append("--strategy=hierarchical-ea")  # the paper's search, as Table 6 ran it
    result = CliRunner().invoke(cli, [*args, f"--out={tmp_path / 'r'}"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    saved = json.loads((tmp_path / "r" / "architecture.json").read_text())
    assert saved["space_options"]["locality"] == "conv2d"
    plugin = GlitPlugin(**saved["space_options"])
    genotype = plugin.space.from_dict(saved["genotype"])
    assert answer["costs"]["macs"] == plugin.cost(genotype)["macs"]
    assert all(block.get("kernel", 5) in (3, 5, 7) for block in saved["genotype"]["blocks"])
