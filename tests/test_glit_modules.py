"""Standalone GLiT modules: exact sizes of the published presets, shapes, clear errors."""

from __future__ import annotations

import random

import pytest
import torch

from glit_space.config import (
    GLIT_TINY_BLOCKS,
    WIDTHS,
    BlockArch,
    SupernetBounds,
    Width,
    deit_blocks,
)
from glit_space.layers import GlobalAttention, GlobalLocalMixer, LocalConv
from glit_space.model import GLiT

TINY, CPU = WIDTHS["tiny"], WIDTHS["cpu"]


def random_blocks(rng: random.Random, depth: int) -> list[BlockArch]:
    return [
        BlockArch(
            global_thirds=rng.randint(0, 3),
            kernel=rng.choice([17, 31, 45]),
            expansion=rng.choice([1, 2, 4]),
            qkv_ratio=rng.choice([0.5, 1.0, 2.0]),
            ffn_ratio=rng.choice([2, 4, 6]),
        )
        for _ in range(depth)
    ]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [(deit_blocks(TINY), 5_717_416), (GLIT_TINY_BLOCKS, 7_264_456)],
    ids=["deit-tiny", "glit-tiny"],
)
def test_preset_parameter_counts_are_exact(blocks, expected):
    with torch.device("meta"):
        model = GLiT(TINY, blocks)
    assert next(model.parameters()).device.type == "meta"
    assert n_params(model) == expected
    # BatchNorm running statistics are buffers, not parameters.
    assert all("running" not in name for name, _ in model.named_parameters())


def test_meta_and_cpu_builds_agree():
    with torch.device("meta"):
        meta = GLiT(TINY, GLIT_TINY_BLOCKS)
    real = GLiT(TINY, GLIT_TINY_BLOCKS)
    assert [(n, p.shape) for n, p in meta.named_parameters()] == [
        (n, p.shape) for n, p in real.named_parameters()
    ]


def test_forward_shapes_cpu_width():
    torch.manual_seed(0)
    model = GLiT(CPU, random_blocks(random.Random(0), CPU.depth), drop_path_rate=0.1)
    x = torch.randn(2, CPU.in_chans, CPU.img_size, CPU.img_size)
    assert model(x).shape == (2, CPU.num_classes)
    assert model.forward_features(x).shape == (2, CPU.num_tokens, CPU.embed_dim)
    assert model.width == CPU and len(model.blocks) == CPU.depth
    rates = [layer.drop_path.p for layer in model.layers]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1)
    assert rates == sorted(rates)


@pytest.mark.parametrize("thirds", [0, 1, 2, 3])
def test_mixer_splits_channels(thirds):
    torch.manual_seed(0)
    arch = BlockArch(thirds, kernel=17, expansion=2, qkv_ratio=0.5)
    mixer = GlobalLocalMixer(CPU, arch)
    assert (mixer.attn is None) == (thirds == 0)
    assert (mixer.local is None) == (thirds == 3)
    x = torch.randn(2, CPU.num_tokens, CPU.embed_dim)
    out = mixer(x)
    assert out.shape == x.shape
    g = arch.global_channels(CPU)
    assert g == CPU.embed_dim * thirds // 3
    if mixer.attn is not None:
        torch.testing.assert_close(out[..., :g], mixer.attn(x[..., :g]))
        assert mixer.attn.qkv.out_features == 3 * g // 2


def test_local_conv_keeps_sequence_length():
    conv = LocalConv(channels=8, expansion=4, kernel=45)
    x = torch.randn(3, 10, 8)  # fewer tokens than the kernel size
    assert conv(x).shape == x.shape
    assert conv.dw.groups == 32 and conv.dw.kernel_size == (45,)


def test_global_attention_head_dim():
    attn = GlobalAttention(channels=64, heads=2, qkv_ratio=2.0)
    assert attn.qkv.out_features == 3 * 128 and attn.proj.in_features == 128
    with pytest.raises(ValueError, match="multiple of heads"):
        GlobalAttention(channels=64, heads=3, qkv_ratio=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(embed_dim=100), "divisible by num_heads"),
        (dict(num_heads=4, embed_dim=192), "divisible by 3"),
        (dict(img_size=225), "divisible by patch_size"),
        (dict(ffn_act="relu"), "'gelu', 'swish'"),
        (dict(depth=0), "depth must be a positive int"),
    ],
)
def test_bad_width_is_explained(kwargs, message):
    base = dict(embed_dim=192, num_heads=3, depth=12, img_size=224, patch_size=16)
    with pytest.raises(ValueError, match=message):
        Width(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(global_thirds=4), r"global_thirds must be an int in 0\.\.3"),
        (dict(global_thirds=1, kernel=30), "kernel must be odd"),
        (dict(global_thirds=1, expansion=0), "expansion must be a positive int"),
        (dict(global_thirds=1, qkv_ratio=-1.0), "qkv_ratio must be a positive number"),
    ],
)
def test_bad_block_arch_is_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlockArch(**kwargs)


def test_block_arch_sizes_must_be_whole_for_the_width():
    with pytest.raises(ValueError, match=r"C_g \* qkv_ratio"):
        BlockArch(1, qkv_ratio=0.3).validate(TINY)
    with pytest.raises(ValueError, match=r"block 2: .*embed_dim \* ffn_ratio"):
        GLiT(CPU, [BlockArch(3)] * 2 + [BlockArch(3, ffn_ratio=2.001)] + [BlockArch(3)])


def test_wrong_depth_is_explained():
    with pytest.raises(ValueError, match="expected 4 blocks for this width, got 3"):
        GLiT(CPU, [BlockArch(3)] * 3)


def test_bounds_errors_name_the_field():
    with pytest.raises(ValueError, match="max_kernel must be odd"):
        SupernetBounds(max_kernel=44)
    with pytest.raises(ValueError, match=r"block 5: kernel=47 exceeds .*kernel<=45"):
        SupernetBounds().check(BlockArch(0, kernel=47), where="block 5")


def test_widths_presets():
    assert (TINY.embed_dim, TINY.num_heads, TINY.head_channels) == (192, 3, 64)
    assert (WIDTHS["small"].embed_dim, WIDTHS["small"].num_heads) == (384, 6)
    assert (WIDTHS["base"].embed_dim, WIDTHS["base"].num_heads) == (768, 12)
    assert TINY.num_tokens == 197 and CPU.num_tokens == 50
    assert BlockArch(2).global_heads(WIDTHS["base"]) == 8


@pytest.mark.parametrize(("tokens", "kernel"), [(50, 17), (50, 45), (17, 31), (197, 17), (5, 3)])
def test_depthwise_conv1d_equals_the_convolution_with_its_gradients(tokens, kernel) -> None:
    """The CPU's banded-matmul path (short sequences) and the convolution path (long
    ones) both equal torch's depthwise Conv1d, values and gradients, in float64."""
    import torch.nn.functional as F

    from glit_space.layers import depthwise_conv1d

    torch.manual_seed(0)
    x = torch.randn(3, 8, tokens, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, 1, kernel, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, dtype=torch.float64, requires_grad=True)
    expected = F.conv1d(x, w, b, padding=kernel // 2, groups=8)
    found = depthwise_conv1d(x, w, b)
    torch.testing.assert_close(found, expected, rtol=1e-12, atol=1e-12)
    for a, e in zip(torch.autograd.grad(found.square().sum(), (x, w, b)),
                    torch.autograd.grad(expected.square().sum(), (x, w, b))):  # fmt: skip
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


def test_local_conv_forward_is_its_modules_in_sequence() -> None:
    """LocalConv's fast forward (linear pointwise, banded depthwise) equals running its
    Conv1d modules as declared, so checkpoints and counted MACs mean what they say."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    module = LocalConv(16, expansion=2, kernel=17).double().eval()
    x = torch.randn(3, 50, 16, dtype=torch.float64)
    hidden = F.glu(module.pw1(x.transpose(1, 2)), dim=1)
    expected = module.pw2(module.act(module.bn(module.dw(hidden)))).transpose(1, 2)
    torch.testing.assert_close(module(x), expected, rtol=1e-12, atol=1e-12)


def test_depthwise_conv1d_trains_after_an_evaluation_under_inference_mode() -> None:
    """The banded path's cached index tensors, first made during an evaluation under
    inference mode, must still serve a training step (autograd saves them)."""
    from glit_space.layers import _band

    _band.cache_clear()
    module = LocalConv(8, expansion=1, kernel=31)
    x = torch.randn(2, 50, 8)
    with torch.inference_mode():
        module(x)
    module(x).sum().backward()
    assert module.dw.weight.grad is not None
