"""Weight decay follows each model's `no_weight_decay()` (timm's convention), plus 1-D
parameters and biases; nothing is hard-coded in the trainer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autoformer_space import AutoFormerPlugin
from glit_space import GlitPlugin
from oneshot.optimisation import param_groups


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(2, 2))
        self.proj = nn.Linear(2, 2)

    def no_weight_decay(self) -> set[str]:
        return {"gain"}


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3, 3))
        self.kept = nn.Parameter(torch.ones(3, 3))
        self.inner = Inner()
        self.norm = nn.LayerNorm(3)

    def no_weight_decay(self) -> set[str]:
        return {"scale"}


def _groups(model: nn.Module) -> tuple[set[str], set[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    return {names[id(p)] for p in decay["params"]}, {names[id(p)] for p in no_decay["params"]}


def test_the_names_a_model_lists_are_not_decayed() -> None:
    decay, no_decay = _groups(Toy())
    assert decay == {"kept", "inner.proj.weight"}
    assert no_decay == {"scale", "inner.gain", "inner.proj.bias", "norm.weight", "norm.bias"}


def test_without_the_listing_the_same_parameter_is_decayed() -> None:
    model = Toy()
    model.no_weight_decay = lambda: set()  # type: ignore[method-assign]
    decay, _ = _groups(model)
    assert "scale" in decay


@pytest.mark.parametrize(
    "plugin", [GlitPlugin("cpu"), AutoFormerPlugin("cpu")], ids=["glit", "autoformer"]
)
def test_vit_spaces_skip_exactly_norms_biases_position_embedding_and_class_token(plugin) -> None:
    for model in (plugin.supernet(), plugin.build(plugin.space.sample(0))):
        decay, no_decay = _groups(model)
        expected = {
            n
            for n, p in model.named_parameters()
            if p.ndim <= 1 or n.split(".")[-1] in ("pos_embed", "cls_token")
        }
        assert {"pos_embed", "cls_token"} <= no_decay
        assert no_decay == expected
        assert decay == {n for n, _ in model.named_parameters()} - expected
