"""Weight-entangled AutoFormer supernet: export fidelity, size, slicing, validation, training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from archspace import GenotypeError
from autoformer_space import Arch, AutoFormerPlugin, BlockArch
from autoformer_space.model import AutoFormer
from autoformer_space.supernet import AutoFormerSupernet
from oneshot.interface import OneShotSpace, Supernet

PLUGIN = AutoFormerPlugin("cpu")
CPU = PLUGIN.width


def images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, CPU.in_chans, CPU.img_size, CPU.img_size, generator=g)


@pytest.fixture
def supernet() -> AutoFormerSupernet:
    torch.manual_seed(0)
    return PLUGIN.supernet()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_interfaces(supernet):
    assert isinstance(PLUGIN, OneShotSpace) and isinstance(supernet, Supernet)
    assert PLUGIN.model_input().num_classes == 10 and PLUGIN.model_input().in_chans == 1
    assert supernet.no_weight_decay() == {"pos_embed", "cls_token"}
    assert isinstance(PLUGIN.build(PLUGIN.space.default(), 0.1), AutoFormer)


def test_supernet_holds_exactly_the_largest_network(supernet):
    largest = PLUGIN.genotype(CPU.largest())
    assert n_params(supernet) == PLUGIN.cost(largest)["params"]
    assert n_params(supernet) == n_params(PLUGIN.build(largest))
    assert dict(supernet.state_dict().items()).keys() >= {"pos_embed", "head.weight"}
    assert {k: v.shape for k, v in supernet.export(largest).state_dict().items()} == {
        k: v.shape for k, v in PLUGIN.build(largest).state_dict().items()
    }


def test_export_matches_supernet():
    torch.manual_seed(0)
    supernet = PLUGIN.supernet(drop_path_rate=0.1).eval()
    x = images(4, 1)
    genotypes = list(PLUGIN.space.from_array(PLUGIN.space.sample_batch(12, 3)))
    genotypes += [PLUGIN.space.default(), PLUGIN.genotype(CPU.largest())]
    for g in genotypes:
        supernet.activate(g)
        subnet = supernet.export().eval()
        assert subnet.arch == PLUGIN.arch(g)
        assert n_params(subnet) == PLUGIN.cost(g)["params"]
        with torch.no_grad():
            torch.testing.assert_close(subnet(x), supernet(x), atol=1e-5, rtol=0)
        assert supernet.active == PLUGIN.arch(g)
    other = genotypes[0]
    exported = supernet.export(other)  # another network, the active one unchanged
    assert exported.arch == PLUGIN.arch(other) and supernet.active == PLUGIN.arch(g)


def test_activate_rejects_other_spaces_and_allocates_nothing(supernet):
    before = [(n, p.data_ptr(), tuple(p.shape)) for n, p in supernet.named_parameters()]
    tiny = AutoFormerPlugin("tiny").space.default()
    with pytest.raises(
        GenotypeError,
        match="space 'autoformer-tiny', whose choices differ from this AutoFormer supernet's",
    ):
        supernet.activate(tiny)
    with pytest.raises(GenotypeError, match="expected a Genotype or an Arch, got dict"):
        supernet.activate({"depth": 3})
    with pytest.raises(ValueError, match=r"embed_dim = 192 is not an option"):
        supernet.activate(Arch(192, (BlockArch(2.0, 2),) * 3))
    assert supernet.active is None
    with pytest.raises(RuntimeError, match="call activate"):
        supernet(images(1, 0))
    sub = PLUGIN.space.restrict("block", PLUGIN.space.default())  # a sub-space's genotype
    supernet.activate(sub.sample(0))
    supernet(images(2, 0))
    assert [(n, p.data_ptr(), tuple(p.shape)) for n, p in supernet.named_parameters()] == before


def test_sgd_touches_only_the_active_slices(supernet):
    d, q, f = 48, 2 * CPU.head_dim, 96
    supernet.activate(Arch(d, (BlockArch(2.0, 2),) * 3))
    before = {n: p.detach().clone() for n, p in supernet.named_parameters()}
    opt = torch.optim.SGD(supernet.parameters(), lr=0.5)
    F.cross_entropy(supernet(images(8, 2)), torch.arange(8) % 10).backward()
    opt.step()
    after = {n: p.detach() for n, p in supernet.named_parameters()}

    def moved(name, index=...):
        return not torch.equal(before[name][index], after[name][index])

    assert moved("cls_token", (..., slice(0, d))) and not moved("cls_token", (..., slice(d, None)))
    assert not moved("patch_embed.proj.weight", slice(d, None))
    assert not any(moved(n) for n in after if n.startswith("layers.3."))  # depth 3 of 4
    qkv_before = before["layers.0.qkv.weight"].view(3, CPU.max_qkv, -1)
    qkv_after = after["layers.0.qkv.weight"].view(3, CPU.max_qkv, -1)
    assert not torch.equal(qkv_before[:, :q, :d], qkv_after[:, :q, :d])
    assert torch.equal(qkv_before[:, q:], qkv_after[:, q:])
    assert torch.equal(qkv_before[:, :, d:], qkv_after[:, :, d:])
    assert moved("layers.0.fc1.weight", (slice(0, f), slice(0, d)))
    assert not moved("layers.0.fc1.weight", slice(f, None))
    assert not moved("layers.0.fc2.weight", (slice(None), slice(f, None)))
    assert not moved("layers.0.norm1.weight", slice(d, None))
    assert not moved("head.weight", (slice(None), slice(d, None)))


def test_training_steps_reduce_the_loss():
    """SPOS-style steps on random paths of a fixed tiny batch: gradients flow through
    the slices, and the loss of a fixed path goes down."""
    torch.manual_seed(0)
    supernet = PLUGIN.supernet(drop_path_rate=0.1)
    x, y = images(32, 7), torch.arange(32) % 10
    probe = PLUGIN.space.sample(0)
    opt = torch.optim.AdamW(supernet.parameters(), lr=3e-3, weight_decay=0.0)

    def probe_loss() -> float:
        supernet.eval()
        supernet.activate(probe)
        with torch.no_grad():
            return F.cross_entropy(supernet(x), y).item()

    start = probe_loss()
    supernet.train()
    for step, g in enumerate(PLUGIN.space.from_array(PLUGIN.space.sample_batch(40, 1))):
        supernet.activate(probe if step % 2 else g)
        opt.zero_grad()
        F.cross_entropy(supernet(x), y).backward()
        opt.step()
    assert probe_loss() < 0.5 * start
