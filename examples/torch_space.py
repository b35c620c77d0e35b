"""A torch search space in a few dozen lines, trained and searched by the one-shot layer.

The space: an MLP on 28x28 grayscale images (the built-in Fashion-MNIST subset, 10
classes) with three hidden layers. Each layer picks an operation (ReLU or GELU; the
last two may also be skipped) and, when present, a width. The supernet holds the
largest weights and a path uses their leading slices; `OneShotPlugin` brings SPOS
training, evaluation, retraining and export, so the plugin has no training code.

    python examples/torch_space.py [RUN_FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import torch.nn.functional as F
from torch import nn

from archspace import Choice, Genotype, In, Space, spaces
from oneshot import sliced
from oneshot.interface import ModelInput
from oneshot.plugin import OneShotPlugin
from strategies import RunConfig, start_run

DEPTH, WIDTHS, PIXELS = 3, (32, 64, 128), 28 * 28
ACTIVATIONS = {"relu": (F.relu, nn.ReLU), "gelu": (F.gelu, nn.GELU)}


def path_of(genotype: Genotype) -> list[tuple[int, str, int]]:
    """(layer, operation, width) of each layer the genotype keeps."""
    v = genotype.values
    ops = [(i, v[f"layers.{i}.op"]) for i in range(DEPTH)]
    return [(i, op, v[f"layers.{i}.width"]) for i, op in ops if op != "skip"]


def standalone(path: list[tuple[int, str, int]], num_classes: int) -> nn.Sequential:
    modules, features = [nn.Flatten()], PIXELS
    for _, op, width in path:
        modules += [nn.Linear(features, width), ACTIVATIONS[op][1]()]
        features = width
    return nn.Sequential(*modules, nn.Linear(features, num_classes))


class MLPSupernet(nn.Module):
    """Every layer at its largest width; `forward` runs the active path on weight slices."""

    def __init__(self, num_classes: int, default: Genotype) -> None:
        super().__init__()
        self.num_classes = num_classes
        inputs = [PIXELS] + [max(WIDTHS)] * (DEPTH - 1)
        self.hidden = nn.ModuleList(nn.Linear(n, max(WIDTHS)) for n in inputs)
        self.head = nn.Linear(max(WIDTHS), num_classes)
        self.path = path_of(default)

    def activate(self, genotype: Genotype) -> None:
        self.path = path_of(genotype)

    def forward(self, x):
        x = x.flatten(1)
        for i, op, width in self.path:
            x = ACTIVATIONS[op][0](sliced.sliced_linear(x, self.hidden[i], width))
        return sliced.sliced_linear(x, self.head, self.num_classes)

    def export(self, genotype: Genotype | None = None) -> nn.Module:
        path = self.path if genotype is None else path_of(genotype)
        model = standalone(path, self.num_classes)
        layers = [m for m in model if isinstance(m, nn.Linear)]
        features = PIXELS
        for layer, (i, _, width) in zip(layers, path):
            sliced.copy_params(layer, *sliced.linear_slice(self.hidden[i], width, features))
            features = width
        head = sliced.linear_slice(self.head, self.num_classes, features)
        sliced.copy_params(layers[-1], *head)
        return model


class MLPPlugin(OneShotPlugin):
    name = "tiny-mlp"
    summary = "3-layer MLP: per layer ReLU/GELU/skip and a width (example)"
    metrics = ("macs", "params")

    def __init__(self, num_classes: int = 10) -> None:
        self.num_classes = num_classes
        choices = []
        for i in range(DEPTH):
            ops = ("relu", "gelu") if i == 0 else ("relu", "gelu", "skip")
            on = In(f"layers.{i}.op", ("relu", "gelu"))
            choices += [
                Choice(f"layers.{i}.op", ops, level="operation"),
                Choice(f"layers.{i}.width", WIDTHS, level="width", when=on),
            ]
        self._space = Space(choices, name="tiny-mlp")

    @property
    def space(self) -> Space:
        return self._space

    def options(self) -> dict:
        return {"num_classes": self.num_classes}

    def cost(self, genotype: Genotype) -> dict[str, float]:
        sizes = [PIXELS] + [width for _, _, width in path_of(genotype)] + [self.num_classes]
        macs = sum(a * b for a, b in pairwise(sizes))
        return {"macs": macs, "params": macs + sum(sizes[1:])}

    # the torch side: model_input, supernet, build
    def model_input(self) -> ModelInput:
        return ModelInput(in_chans=1, img_size=28, num_classes=self.num_classes)

    def supernet(self, drop_path_rate: float = 0.0) -> MLPSupernet:
        return MLPSupernet(self.num_classes, self._space.default())

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0) -> nn.Module:
        return standalone(path_of(genotype), self.num_classes)


#: tiny settings: a whole SPOS run in seconds on 2 CPU cores
TINY_RECIPE = {
    "supernet.epochs": 1,
    "supernet.batch_size": 64,
    "supernet.max_steps_per_epoch": 20,
    "retrain.epochs": 1,
    "retrain.batch_size": 64,
    "retrain.max_steps_per_epoch": 20,
    "retrain.warmup_epochs": 0.0,
    "eval.max_images": 200,
    "eval.bn_batches": 1,
}
TINY_EVOLUTION = {"population": 4, "parents": 2, "mutants": 2, "crossovers": 2, "generations": 2}
CONFIG = RunConfig(
    space="tiny-mlp",
    strategy="spos",
    budgets={"macs": 60_000},
    seed=0,
    search={"top_k": 1},
    searcher_options=TINY_EVOLUTION,
    workbench={"recipe": TINY_RECIPE, "device": "cpu"},
)


def main(folder: Path):
    spaces.register("tiny-mlp", MLPPlugin)  # or an `archsearch.spaces` entry point
    result = start_run(CONFIG, folder, say=print)  # the same call resumes the folder
    print(result.genotype.to_json(), result.costs, result.metrics)
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
