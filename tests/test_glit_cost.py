"""The analytic cost model agrees with FlopCounterMode and parameter counts, exactly."""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from glit_space.config import GLIT_TINY_BLOCKS, WIDTHS, BlockArch, Width, deit_blocks
from glit_space.cost import Cost, block_cost, cost_batch, model_cost, model_cost_breakdown
from glit_space.layers import Block
from glit_space.model import GLiT
from oneshot.profiling import measure_cost

TINY, CPU = WIDTHS["tiny"], WIDTHS["cpu"]
KERNELS, EXPANSIONS, QKV, FFN = (17, 31, 45), (1, 2, 4), (0.5, 1.0, 2.0), (2, 4, 6)


def random_blocks(rng: random.Random, depth: int) -> list[BlockArch]:
    return [
        BlockArch(
            rng.randint(0, 3),
            rng.choice(KERNELS),
            rng.choice(EXPANSIONS),
            rng.choice(QKV),
            rng.choice(FFN),
        )
        for _ in range(depth)
    ]


def measure(width: Width, blocks, device: str = "meta") -> tuple[int, int]:
    """(MACs per image as FlopCounterMode sees them, parameter count) of the built model."""
    with torch.device(device):
        model = GLiT(width, blocks)
    return measure_cost(model, width.in_chans, width.img_size)


def test_deit_tiny():
    cost = model_cost(TINY, deit_blocks(TINY))
    assert cost == Cost(*measure(TINY, deit_blocks(TINY)))
    assert cost.params == 5_717_416
    assert cost.macs == pytest.approx(1.258e9, rel=0.01)


def test_glit_tiny():
    cost = model_cost(TINY, GLIT_TINY_BLOCKS)
    assert cost == Cost(*measure(TINY, GLIT_TINY_BLOCKS))
    assert cost.params == 7_264_456


def effective(arch: BlockArch) -> BlockArch:
    """Pin the fields a block ignores, so equal blocks share one measurement."""
    if not arch.has_local:
        arch = replace(arch, kernel=31, expansion=1)
    if not arch.has_global:
        arch = replace(arch, qkv_ratio=1.0)
    return arch


def every_block() -> list[BlockArch]:
    """All distinct blocks of the paper's space: 9 global + 27 local + 2 * 81 mixed."""
    blocks = {
        effective(BlockArch(g, k, e, q, f))
        for g, k, e, q, f in itertools.product(range(4), KERNELS, EXPANSIONS, QKV, FFN)
    }
    return sorted(blocks, key=repr)


@functools.cache
def measure_block(width: Width, arch: BlockArch) -> Cost:
    with torch.device("meta"):
        block = Block(width, arch).eval()
        x = torch.zeros(1, width.num_tokens, width.embed_dim)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        block(x)
    return Cost(counter.get_total_flops() // 2, sum(p.numel() for p in block.parameters()))


@pytest.mark.parametrize("width_name", ["tiny", "cpu"])
def test_every_block_of_the_space_matches_the_built_block(width_name):
    width = WIDTHS[width_name]
    blocks = every_block()
    assert len(blocks) == 9 + 27 + 2 * 81
    for arch in blocks:
        assert block_cost(width, arch) == measure_block(width, arch), arch


@pytest.mark.parametrize("width_name", ["tiny", "cpu"])
def test_random_block_lists_match_the_built_model(width_name):
    """Whole models for a few lists; for 100 more, the measured per-block costs (blocks
    are independent, as the whole-model checks confirm) plus the measured stem and head."""
    width = WIDTHS[width_name]
    rng = random.Random(1234)
    for _ in range(8):
        blocks = random_blocks(rng, width.depth)
        assert model_cost(width, blocks) == Cost(*measure(width, blocks)), blocks
    deit = deit_blocks(width)
    stem_and_head = Cost(*measure(width, deit))
    for arch in deit:
        stem_and_head = Cost(
            stem_and_head.macs - measure_block(width, arch).macs,
            stem_and_head.params - measure_block(width, arch).params,
        )
    for _ in range(100):
        blocks = random_blocks(rng, width.depth)
        measured = sum((measure_block(width, effective(b)) for b in blocks), stem_and_head)
        assert model_cost(width, blocks) == measured, blocks


def test_other_widths_and_swish():
    rng = random.Random(7)
    small = WIDTHS["small"]
    swish = Width(
        embed_dim=48,
        num_heads=6,
        depth=3,
        img_size=32,
        patch_size=8,
        in_chans=3,
        num_classes=7,
        ffn_act="swish",
    )
    for width in (small, swish):
        for _ in range(3):
            blocks = random_blocks(rng, width.depth)
            assert model_cost(width, blocks) == Cost(*measure(width, blocks))


def test_real_cpu_tensors_miss_only_fused_attention():
    """On real CPU tensors SDPA runs a fused kernel FlopCounterMode may not count;
    everything else must still match exactly."""
    torch.manual_seed(0)
    blocks = random_blocks(random.Random(3), CPU.depth)
    macs, params = measure(CPU, blocks, device="cpu")
    cost = model_cost(CPU, blocks)
    attention = sum(2 * CPU.num_tokens**2 * b.qkv_channels(CPU) for b in blocks)
    assert params == cost.params
    assert macs in (cost.macs, cost.macs - attention)


def test_breakdown_sums_to_total():
    parts = model_cost_breakdown(TINY, GLIT_TINY_BLOCKS)
    names = [name for name, _ in parts]
    assert names == ["patch_embed", *[f"block {i}" for i in range(12)], "head"]
    assert sum((c for _, c in parts), Cost(0, 0)) == model_cost(TINY, GLIT_TINY_BLOCKS)
    assert parts[1][1] == block_cost(TINY, GLIT_TINY_BLOCKS[0])


def test_unused_fields_do_not_cost():
    assert block_cost(TINY, BlockArch(3, kernel=45, expansion=4)) == block_cost(
        TINY, BlockArch(3, kernel=17, expansion=1)
    )
    assert block_cost(TINY, BlockArch(0, qkv_ratio=2.0)) == block_cost(
        TINY, BlockArch(0, qkv_ratio=0.5)
    )


def population(rng: np.random.Generator, n: int, depth: int) -> tuple[np.ndarray, ...]:
    return (
        rng.integers(0, 4, (n, depth)),
        rng.choice(KERNELS, (n, depth)),
        rng.choice(EXPANSIONS, (n, depth)),
        rng.choice(QKV, (n, depth)),
        rng.choice(FFN, (n, depth)),
    )


@pytest.mark.parametrize("width_name", ["tiny", "small", "cpu"])
def test_batch_equals_scalar(width_name):
    width = WIDTHS[width_name]
    arrays = population(np.random.default_rng(0), 300, width.depth)
    macs, params = cost_batch(width, *arrays)
    assert macs.dtype == np.int64 and params.dtype == np.int64 and macs.shape == (300,)
    for i in range(300):
        blocks = [
            BlockArch(int(g), int(k), int(e), float(q), int(f))
            for g, k, e, q, f in zip(*(a[i] for a in arrays))
        ]
        assert Cost(int(macs[i]), int(params[i])) == model_cost(width, blocks)


def test_batch_rejects_bad_input():
    g, k, e, q, f = population(np.random.default_rng(0), 4, TINY.depth)
    with pytest.raises(ValueError, match=r"shape \(n, 12\)"):
        cost_batch(TINY, g[:, :5], k[:, :5], e[:, :5], q[:, :5], f[:, :5])
    with pytest.raises(ValueError, match=r"global_thirds must be in 0\.\.3"):
        cost_batch(TINY, g + 4, k, e, q, f)
    with pytest.raises(ValueError, match=r"embed_dim \* ffn_ratio"):
        cost_batch(TINY, g, k, e, q, f + 0.001)


def test_batch_of_a_large_population():
    """Whole populations are scored in one call (its speed: benchmarks/, not a test)."""
    arrays = population(np.random.default_rng(0), 100_000, 12)
    macs, params = cost_batch(TINY, *arrays)
    assert macs.shape == params.shape == (100_000,) and (macs > 0).all()
