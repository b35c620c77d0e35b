"""Weight-sharing supernet: path switching, export fidelity, slice isolation, BN handling."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from glit_space.config import WIDTHS, BlockArch, SupernetBounds
from glit_space.cost import model_cost
from glit_space.supernet import GLiTSupernet
from oneshot.batchnorm import SlicedBatchNorm1d, recalibrate_bn

CPU = WIDTHS["cpu"]


def random_blocks(rng: random.Random, depth: int = CPU.depth) -> list[BlockArch]:
    return [
        BlockArch(
            rng.randint(0, 3),
            rng.choice([17, 31, 45]),
            rng.choice([1, 2, 4]),
            rng.choice([0.5, 1.0, 2.0]),
            rng.choice([2, 4, 6]),
        )
        for _ in range(depth)
    ]


def images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, CPU.in_chans, CPU.img_size, CPU.img_size, generator=g)


@pytest.fixture
def supernet() -> GLiTSupernet:
    torch.manual_seed(0)
    return GLiTSupernet(CPU)


def bn_stats(model: torch.nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in model.named_buffers() if "running" in n]


def test_set_active_allocates_nothing(supernet):
    def snapshot():
        return [(n, id(p), p.data_ptr(), tuple(p.shape)) for n, p in supernet.named_parameters()]

    before = snapshot()
    buffers = [(n, b.data_ptr()) for n, b in supernet.named_buffers()]
    rng = random.Random(0)
    for _ in range(5):
        supernet.set_active(random_blocks(rng))
        supernet(images(2, 0))
        assert snapshot() == before
        assert [(n, b.data_ptr()) for n, b in supernet.named_buffers()] == buffers


def test_forward_needs_a_path(supernet):
    with pytest.raises(RuntimeError, match="set_active"):
        supernet(images(1, 0))


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([BlockArch(3)] * 3, "expected 4 blocks for this width, got 3"),
        ([BlockArch(0, kernel=47)] + [BlockArch(3)] * 3, "block 0: kernel=47 exceeds"),
        ([BlockArch(3)] * 3 + [BlockArch(3, qkv_ratio=4.0)], "block 3: qkv_ratio=4.0 exceeds"),
        ([BlockArch(1, expansion=8)] * 4, "expansion=8 exceeds"),
        ([BlockArch(1, ffn_ratio=8)] * 4, "ffn_ratio=8 exceeds"),
        ([BlockArch(3)] * 3 + ["global"], "block 3: expected a BlockArch"),
    ],
)
def test_bad_paths_are_explained(supernet, blocks, message):
    with pytest.raises(ValueError, match=message):
        supernet.set_active(blocks)
    assert supernet.active is None


def test_export_matches_supernet():
    torch.manual_seed(0)
    supernet = GLiTSupernet(CPU, drop_path_rate=0.1)
    rng = random.Random(1)
    x = images(4, 1)
    paths = [random_blocks(rng) for _ in range(4)]
    paths.append([BlockArch(t, 45, 4, 2.0, 6) for t in (0, 1, 2, 3)])  # the largest path
    for blocks in paths:
        supernet.train()
        supernet.set_active(blocks)
        for seed in range(3):  # non-trivial BatchNorm statistics
            supernet(images(8, 10 + seed))
        supernet.eval()
        subnet = supernet.export().eval()
        assert subnet.blocks == tuple(blocks)
        assert sum(p.numel() for p in subnet.parameters()) == model_cost(CPU, blocks).params
        with torch.no_grad():
            torch.testing.assert_close(subnet(x), supernet(x), atol=1e-5, rtol=0)
        assert supernet.active == tuple(blocks)


def test_sgd_step_touches_only_active_slices(supernet):
    arch = BlockArch(1, kernel=17, expansion=1, qkv_ratio=0.5, ffn_ratio=2)
    supernet.set_active([arch] * CPU.depth)
    d = CPU.embed_dim
    cg, q, h, f = 32, 16, 64, 192  # C_g, C_g*r, E*C_l, ffn hidden at the cpu width
    assert (arch.global_channels(CPU), arch.qkv_channels(CPU)) == (cg, q)
    assert (arch.conv_channels(CPU), arch.ffn_hidden(CPU)) == (h, f)
    block = supernet.layers[1]
    before = {n: p.detach().clone() for n, p in block.named_parameters()}

    supernet.train()
    opt = torch.optim.SGD(supernet.parameters(), lr=0.5, momentum=0.0, weight_decay=0.0)
    loss = F.cross_entropy(supernet(images(8, 2)), torch.arange(8) % CPU.num_classes)
    loss.backward()
    opt.step()
    after = dict(block.named_parameters())

    def changed(name, index):
        return not torch.equal(before[name][index], after[name].detach()[index])

    everything = slice(None)
    qkv = after["qkv.weight"].detach().view(3, -1, d)
    qkv_before = before["qkv.weight"].view(3, -1, d)
    assert not torch.equal(qkv[:, :q, :cg], qkv_before[:, :q, :cg])
    assert torch.equal(qkv[:, q:], qkv_before[:, q:])  # rows beyond the active qkv size
    assert torch.equal(qkv[:, :, cg:], qkv_before[:, :, cg:])  # local channels' columns
    assert changed("proj.weight", (slice(0, cg), slice(0, q)))
    assert not changed("proj.weight", (slice(cg, None), everything))
    assert not changed("proj.weight", (everything, slice(q, None)))

    assert changed("fc1.weight", slice(0, f)) and not changed("fc1.weight", slice(f, None))
    assert not changed("fc1.bias", slice(f, None))
    assert not changed("fc2.weight", (everything, slice(f, None)))

    start = (45 - 17) // 2
    assert changed("dw.weight", (slice(0, h), slice(None), slice(start, start + 17)))
    assert not changed("dw.weight", (slice(None), slice(None), slice(0, start)))
    assert not changed("dw.weight", (slice(None), slice(None), slice(start + 17, None)))
    assert not changed("dw.weight", slice(h, None))

    m = block.max_hidden
    assert changed("pw1.weight", (slice(0, h), slice(cg, None)))
    assert changed("pw1.weight", (slice(m, m + h), slice(cg, None)))
    assert not changed("pw1.weight", (slice(None), slice(0, cg)))  # global channels' columns
    assert not changed("pw1.weight", slice(h, m))
    assert not changed("pw1.weight", slice(m + h, None))
    assert not changed("pw2.weight", (slice(0, cg),))
    assert not changed("pw2.weight", (everything, slice(h, None)))
    assert not changed("bn.weight", slice(h, None)) and changed("bn.weight", slice(0, h))

    # BatchNorm statistics moved only in the active channels, in the supernet's buffers.
    assert torch.count_nonzero(block.bn.running_mean[:h]) == h
    assert torch.count_nonzero(block.bn.running_mean[h:]) == 0
    assert torch.all(block.bn.running_var[h:] == 1)


def test_recalibrate_bn_is_deterministic_and_restores_state():
    torch.manual_seed(0)
    supernet = GLiTSupernet(CPU, drop_path_rate=0.2)
    blocks = random_blocks(random.Random(5))
    blocks[0] = BlockArch(0, 31, 2)  # make sure at least one block has a local path
    supernet.set_active(blocks)
    supernet.train()
    for seed in range(3):
        supernet(images(8, seed))
    trained = bn_stats(supernet)
    batches = [images(8, 100 + i) for i in range(4)]

    used = recalibrate_bn(supernet, iter([*batches, images(8, 200)]), max_batches=4)
    assert used == 4
    first = bn_stats(supernet)
    assert any(not torch.equal(a, b) for a, b in zip(trained, first))
    assert supernet.training and all(m.training for m in supernet.modules())
    bns = [m for m in supernet.modules() if isinstance(m, SlicedBatchNorm1d)]
    assert all(bn.momentum == 0.1 for bn in bns)

    supernet.eval()
    recalibrate_bn(supernet, [(b, 0) for b in batches], max_batches=10)  # DataLoader-style
    assert not supernet.training and not any(m.training for m in supernet.modules())
    for a, b in zip(first, bn_stats(supernet)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)

    # The supernet's recalibrated path equals a recalibrated standalone export.
    subnet = supernet.export()
    recalibrate_bn(subnet, batches, max_batches=4)
    for layer, sub, arch in zip(supernet.layers, subnet.layers, blocks):
        if arch.has_local:
            h = arch.conv_channels(CPU)
            torch.testing.assert_close(sub.mixer.local.bn.running_mean, layer.bn.running_mean[:h])
            torch.testing.assert_close(sub.mixer.local.bn.running_var, layer.bn.running_var[:h])


def test_recalibrate_bn_rejects_nothing_to_do():
    supernet = GLiTSupernet(CPU)
    supernet.set_active([BlockArch(1)] * CPU.depth)
    with pytest.raises(ValueError, match="max_batches must be >= 1"):
        recalibrate_bn(supernet, [images(2, 0)], max_batches=0)
    with pytest.raises(ValueError, match="no batches"):
        recalibrate_bn(supernet, [], max_batches=3)


def test_custom_bounds_shrink_the_supernet():
    small = GLiTSupernet(
        CPU, SupernetBounds(max_kernel=17, max_expansion=1, max_qkv_ratio=1, max_ffn_ratio=2)
    )
    block = small.layers[0]
    assert block.dw.weight.shape == (CPU.embed_dim, 1, 17)
    assert block.qkv.out_features == 3 * CPU.embed_dim
    with pytest.raises(ValueError, match="kernel=31 exceeds"):
        small.set_active([BlockArch(1, kernel=31)] * CPU.depth)


def test_recalibrating_the_supernet_reads_nothing_back_to_the_host(monkeypatch):
    """The cumulative average counts batches on the host: no read of a device tensor
    per BatchNorm layer per batch (on CUDA each would stall the GPU)."""
    supernet = GLiTSupernet(CPU)
    supernet.set_active([BlockArch(0, 31, 2)] * CPU.depth)

    def forbidden(*args, **kwargs):
        raise AssertionError("a host read during recalibration")

    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    assert recalibrate_bn(supernet, [images(8, i) for i in range(3)], max_batches=3) == 3
