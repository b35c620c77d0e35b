"""NAS-Bench-201's network as a torch module: its size and MACs equal the analytic costs,
its cell is wired in `EDGES` order, and it runs in float64 (as the proxies run it)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archspace import GenotypeError
from archspace.choice import Choice
from archspace.space import Space
from oneshot.interface import ModelInput
from oneshot.profiling import measure_cost
from oneshot.proxies import fisher
from tabular_space.nb201 import BASE_PARAMS, NasBench201Plugin, arch_string, nb201_space
from tabular_space.nb201_data import EDGES, OPS
from tabular_space.nb201_net import InferCell, NasBench201Network, ReLUConvBN, Zero

# NAS-Bench-201 publishes 129,306 and 802,426 parameters for these cells (CIFAR-10)
PUBLISHED_PARAMS = {
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|": 129_306,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": 802_426,
}
UNIFORM = [arch_string([op] * len(EDGES)) for op in OPS]  # all-none ... all-avg_pool
ONLY_0_3_CONV1 = "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"
# non-none edges, but no path from node 0 to node 3 avoids `none`
DISCONNECTED = "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|skip_connect~1|nor_conv_1x1~2|"
CONNECTED = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


@pytest.fixture(scope="module")
def plugin() -> NasBench201Plugin:
    plugin = NasBench201Plugin.__new__(NasBench201Plugin)  # models and costs need no data
    plugin._space = nb201_space()
    return plugin


def sampled(plugin: NasBench201Plugin, count: int) -> list[str]:
    return [plugin.arch_string(plugin.space.sample(seed)) for seed in range(count)]


def meta_model(plugin: NasBench201Plugin, text: str) -> nn.Module:
    """The built network on the meta device: shapes only, nothing computed."""
    with torch.device("meta"):
        return plugin.build(plugin.from_arch_string(text))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_equals_analytic_params(plugin):
    cells = [*PUBLISHED_PARAMS, *UNIFORM, CONNECTED, *sampled(plugin, 6)]
    for text in cells:
        expected = plugin.cost(plugin.from_arch_string(text))["params"]
        assert n_params(meta_model(plugin, text)) == expected, text
    for text, published in PUBLISHED_PARAMS.items():
        assert n_params(meta_model(plugin, text)) == published
    assert n_params(meta_model(plugin, UNIFORM[0])) == BASE_PARAMS == 73_306  # all-none
    assert n_params(meta_model(plugin, UNIFORM[1])) == BASE_PARAMS  # all-skip
    assert n_params(meta_model(plugin, UNIFORM[3])) == 1_531_546  # all-conv3x3


def test_flop_counter_macs_equal_analytic_macs(plugin):
    """FlopCounterMode counts 2 FLOPs per multiply-accumulate of convs and the classifier;
    `measure_cost` halves them on a 1x3x32x32 input (on CPU: faster here than meta)."""
    cells = [*PUBLISHED_PARAMS, UNIFORM[0], UNIFORM[2], UNIFORM[3], ONLY_0_3_CONV1]
    for text in [*cells, *sampled(plugin, 2)]:
        model = plugin.build(plugin.from_arch_string(text))
        macs, _ = measure_cost(model, in_chans=3, img_size=32)
        assert macs == plugin.cost(plugin.from_arch_string(text))["macs"], text
    assert measure_cost(plugin.build(plugin.from_arch_string(UNIFORM[0])), 3, 32)[0] == 7_783_040


def test_output_shape_and_model_input(plugin):
    assert plugin.model_input() == ModelInput(in_chans=3, img_size=32, num_classes=10)
    assert plugin.input_shape() == (3, 32, 32)
    model = plugin.build(plugin.from_arch_string(CONNECTED))
    torch.manual_seed(0)
    logits = model(torch.randn(2, *plugin.input_shape()))
    assert logits.shape == (2, 10) and logits.dtype == torch.float32
    small = NasBench201Network(["skip_connect"] * 6, channels=4, num_classes=7)
    assert small(torch.randn(1, 3, 8, 8)).shape == (1, 7)


def test_cell_edges_follow_edge_order():
    """Each `layers[e]` is edge EDGES[e]: the cell equals the DAG written out by hand."""
    torch.manual_seed(0)
    cell = InferCell(["nor_conv_3x3"] * 6, channels=4).eval()  # six distinct operations
    op = dict(zip(EDGES, cell.layers))
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        node1 = op[0, 1](x)
        node2 = op[0, 2](x) + op[1, 2](node1)
        node3 = op[0, 3](x) + op[1, 3](node1) + op[2, 3](node2)
        torch.testing.assert_close(cell(x), node3)


def test_only_edge_0_3_conv1x1(plugin):
    genotype = plugin.from_arch_string(ONLY_0_3_CONV1)
    assert genotype["edge_0_3"] == "nor_conv_1x1"
    model = plugin.build(genotype).eval()
    cells = [m for m in model.cells if isinstance(m, InferCell)]
    assert len(cells) == 15
    for cell in cells:
        position = EDGES.index((0, 3))
        for e, layer in enumerate(cell.layers):
            assert isinstance(layer, ReLUConvBN if e == position else Zero)
        conv = cell.layers[position].op[1]
        assert conv.kernel_size == (1, 1) and conv.in_channels == conv.out_channels
    # per cell one 1x1 conv (C^2) and its BatchNorm (2C), C = 16, 32, 64 for 5 cells each
    assert n_params(model) == BASE_PARAMS + 5 * sum(c * c + 2 * c for c in (16, 32, 64))
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(cells[0](x), cells[0].layers[position](x))


def test_cell_without_path_ignores_the_image(plugin):
    torch.manual_seed(0)
    images = torch.randn(3, 3, 32, 32)
    dead = plugin.build(plugin.from_arch_string(DISCONNECTED)).eval()
    live = plugin.build(plugin.from_arch_string(CONNECTED)).eval()
    with torch.no_grad():
        out = dead(images)
        assert torch.equal(out, out[:1].expand_as(out))  # the same logits for every image
        assert not torch.allclose(live(images)[0], live(images)[1])
    # activations fed only by `none` edges stay in the graph: fisher hooks them all
    labels = torch.tensor([0, 1, 2])
    assert fisher(plugin.build(plugin.from_arch_string(DISCONNECTED)), images, labels) >= 0.0


def test_runs_in_float64(plugin):
    torch.manual_seed(0)
    model = plugin.build(plugin.from_arch_string(CONNECTED)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        single = model(x)
        model.double()
        double = model(x.double())
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), single, rtol=1e-4, atol=1e-4)
    model.train()
    model(x.double()).sum().backward()
    assert all(p.grad.dtype == torch.float64 for p in model.parameters() if p.grad is not None)


def test_build_refuses_another_space(plugin):
    other = Space([Choice(f"edge_{i}_{j}", ("none", "skip_connect")) for i, j in EDGES])
    with pytest.raises(GenotypeError):
        plugin.build(other.default())
    sub = plugin.space.fix({"edge_0_1": "skip_connect"})  # a sub-space's genotype is fine
    assert isinstance(plugin.build(sub.default()), NasBench201Network)
    with pytest.raises(ValueError, match="6 operations"):
        NasBench201Network(["none"] * 5)
