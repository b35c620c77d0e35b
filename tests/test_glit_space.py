"""The GLiT space through the plugin: sizes, presets, costs of genotypes, bad genotypes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from archspace import GenotypeError, UnknownNameError, load_space
from glit_space import GlitPlugin, load_preset
from glit_space.config import WIDTHS, deit_blocks
from oneshot.profiling import measure_cost


def test_registered_as_glit() -> None:
    plugin = load_space("glit", width="cpu")
    assert isinstance(plugin, GlitPlugin) and plugin.width.depth == 4


def test_exact_sizes_and_the_hierarchical_split() -> None:
    paper = GlitPlugin(variant="paper").space
    assert paper.nominal_size == (4 * 81) ** 12  # the paper's count, 1.3e30
    assert paper.size == (27 + 81 + 81 + 9) ** 12  # distinct networks: canonical genotypes
    assert paper.restrict("distribution").size == 4**12
    mixed = paper.fix({f"blocks.{i}.heads": (1, 2) for i in range(12)})
    assert mixed.restrict("detail", mixed.default()).size == 81**12
    assert (4**12 + 81**12) / paper.nominal_size < 1e-7
    published = GlitPlugin(variant="published").space
    assert published.size == 36**12
    assert published.restrict("detail", published.sample(0)).size == 9**12


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        ("deit-tiny", 5_717_416, 1.258e9),
        ("deit-small", 22_050_664, 4.6e9),
        ("deit-base", 86_567_656, 17.6e9),
        ("glit-tiny", 7_264_456, None),
    ],
)
def test_presets_cost_exactly(name: str, params: int, macs: float | None) -> None:
    plugin, genotype = load_preset(name)
    cost = plugin.cost(genotype)
    assert cost["params"] == params
    if macs is not None:
        assert cost["macs"] == pytest.approx(macs, rel=0.01)
    with torch.device("meta"):
        model = plugin.build(genotype)
    assert measure_cost(model, plugin.width.in_chans, plugin.width.img_size) == (
        cost["macs"],
        cost["params"],
    )


def test_glit_tiny_preset_reads_as_published() -> None:
    plugin, genotype = load_preset("glit-tiny")
    blocks = genotype.to_dict()["blocks"]
    assert [b["heads"][0] for b in blocks] == [3, 0, 1, 3, 0, 1, 3, 1, 0, 3, 0, 3]
    assert blocks[0] == {"heads": [3, 0], "qkv": 0.5, "ffn": 4}
    assert blocks[4] == {"heads": [0, 3], "kernel": 45, "expansion": 4, "ffn": 4}
    assert blocks[7] == {"heads": [1, 2], "kernel": 31, "expansion": 4, "qkv": 1.0, "ffn": 2}
    published = GlitPlugin(variant="published")
    assert published.cost(published.space.from_dict(genotype.to_dict(), strict=False)) == (
        plugin.cost(genotype)
    )
    splits = {f"split-{g}-{3 - g}-tiny" for g in range(4)}
    assert set(plugin.presets()) == {"deit-tiny", "glit-tiny", *splits}


@pytest.mark.parametrize("width", ["tiny", "small", "base", "cpu"])
def test_table1_presets_split_every_block_alike_and_cost_exactly(width: str) -> None:
    """Table 1: every block's heads split the same way; 3-0 is DeiT at that width."""
    found = {}
    for g in range(4):
        plugin, genotype = load_preset(f"split-{g}-{3 - g}-{width}")
        assert plugin.width == WIDTHS[width]
        blocks = genotype.to_dict()["blocks"]
        assert all(b["heads"] == [g, 3 - g] for b in blocks) and len(blocks) == plugin.width.depth
        assert all(b.get("kernel", 31) == 31 and b.get("expansion", 2) == 2 for b in blocks)
        found[g] = cost = plugin.cost(genotype)
        with torch.device("meta"):
            model = plugin.build(genotype)
        assert measure_cost(model, plugin.width.in_chans, plugin.width.img_size) == (
            cost["macs"],
            cost["params"],
        )
    deit = GlitPlugin(width=width)
    assert found[3] == deit.cost(deit.genotype(deit_blocks(deit.width)))
    if width == "tiny":
        assert found[3]["params"] == 5_717_416  # DeiT-Tiny


@pytest.mark.parametrize(
    ("variant", "width", "count"),
    [
        ("paper", "cpu", 20),
        ("published", "cpu", 20),
        ("paper", "tiny", 5),
        ("published", "tiny", 5),
    ],
)
def test_random_genotypes_cost_what_torch_measures(variant: str, width: str, count: int) -> None:
    plugin = GlitPlugin(width=width, variant=variant)
    rng = np.random.default_rng(7)
    genotypes = [plugin.space.sample(rng) for _ in range(count)]
    batch = plugin.cost_batch(plugin.space.to_array(genotypes))
    for k, genotype in enumerate(genotypes):
        cost = plugin.cost(genotype)
        assert (batch["macs"][k], batch["params"][k]) == (cost["macs"], cost["params"])
        with torch.device("meta"):
            model = plugin.build(genotype)
        assert measure_cost(model, plugin.width.in_chans, plugin.width.img_size) == (
            cost["macs"],
            cost["params"],
        ), genotype


def test_cost_range_bounds_every_genotype_and_is_attained() -> None:
    plugin = GlitPlugin(width="cpu")
    low, high = plugin.cost_range("macs")
    macs = plugin.cost_batch(plugin.space.sample_batch(5000, 0))["macs"]
    assert low <= macs.min() and macs.max() <= high
    cheapest = plugin.space.from_values(
        {
            **{f"blocks.{i}.heads": (0, 3) for i in range(4)},
            **{f"blocks.{i}.kernel": 17 for i in range(4)},
            **{f"blocks.{i}.expansion": 1 for i in range(4)},
            **{f"blocks.{i}.ffn": 2 for i in range(4)},
        }
    )
    stage = plugin.space.restrict("distribution")
    assert plugin.cost_range("macs", stage)[0] >= low
    assert plugin.cost(cheapest)["macs"] >= low


def test_bad_genotypes_and_options_are_named() -> None:
    plugin = GlitPlugin(width="cpu")
    deit = GlitPlugin(width="tiny").presets()["deit-tiny"]
    with pytest.raises(GenotypeError, match="not to 'glit-paper' at depth 4"):
        plugin.cost(deit)
    with pytest.raises(GenotypeError, match=r"'blocks' has 5 entries; space 'glit-paper' has 4"):
        plugin.space.from_dict({"blocks": [{"heads": [3, 0], "qkv": 1.0, "ffn": 4}] * 5})
    block = {"heads": [3, 0], "qkv": 1.0, "ffn": 5}
    with pytest.raises(GenotypeError, match=r"'blocks.0.ffn' got 5; allowed: 2, 4, 6"):
        plugin.space.from_dict({"blocks": [block] * 4})
    block = {"heads": [3, 0], "qkv": 1.0, "ffn": 4, "kernel": 45}
    with pytest.raises(GenotypeError, match=r"'blocks.0.kernel' does not apply here"):
        plugin.space.from_dict({"blocks": [block] * 4})
    with pytest.raises(ValueError, match="unknown GLiT width 'huge'; allowed: tiny, small"):
        GlitPlugin(width="huge")
    with pytest.raises(ValueError, match="unknown GLiT variant 'flat'"):
        GlitPlugin(variant="flat")
    with pytest.raises(ValueError, match="unknown GLiT option"):
        GlitPlugin(width="cpu", heads=4)
    with pytest.raises(UnknownNameError, match="Did you mean 'glit-tiny'"):
        load_preset("glit-tnyi")


# ---- the NLP one-shot NAS space of Table 4 (variant "nlp") -------------------------------


def test_nlp_variant_searches_qkv_and_mlp_ratios_of_all_global_blocks() -> None:
    plugin = GlitPlugin(width="cpu", variant="nlp")
    space = plugin.space
    assert space.levels == ("detail",) and space.size == 9**plugin.width.depth
    rows = space.sample_batch(30, 0)
    batch = plugin.cost_batch(rows)
    for k, genotype in enumerate(space.from_array(rows)):
        blocks = plugin.blocks(genotype)
        assert all(b.global_thirds == 3 for b in blocks)
        cost = plugin.cost(genotype)
        assert (batch["macs"][k], batch["params"][k]) == (cost["macs"], cost["params"])
        if k < 10:
            with torch.device("meta"):
                model = plugin.build(genotype)
            assert measure_cost(model, 1, plugin.width.img_size) == (cost["macs"], cost["params"])
    assert {tuple(b.qkv_ratio for b in plugin.blocks(g)) for g in space.from_array(rows)} != {
        (1.0,) * plugin.width.depth
    }  # the ratios are searched
    assert list(GlitPlugin(width="tiny", variant="nlp").presets()) == ["deit-tiny"]


def test_nlp_variant_exports_what_the_supernet_computes() -> None:
    plugin = GlitPlugin(width="cpu", variant="nlp")
    torch.manual_seed(0)
    supernet = plugin.supernet().eval()
    x = torch.randn(2, 1, 28, 28)
    for genotype in plugin.space.from_array(plugin.space.sample_batch(3, 1)):
        supernet.activate(genotype)
        with torch.no_grad():
            torch.testing.assert_close(supernet.export(genotype).eval()(x), supernet(x))


@pytest.mark.slow
def test_nlp_variant_searched_end_to_end(tmp_path, tiny_glit) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    args = ["run", "--space=glit", "--set=space.variant=nlp", *tiny_glit, "--json"]
    result = CliRunner().invoke(cli, [*args, "--strategy=spos", f"--out={tmp_path / 'r'}"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["strategy"] == "spos" and answer["costs"]["macs"] > 0
    assert all(block["heads"] == [3, 0] for block in answer["architecture"]["blocks"])
    refused = CliRunner().invoke(
        cli, [*args, "--strategy=hierarchical-ea", f"--out={tmp_path / 'h'}"]
    )
    assert refused.exit_code == 2 and "at least two levels" in refused.output
    assert not (tmp_path / "h").exists()
