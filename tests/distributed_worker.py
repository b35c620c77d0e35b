"""Run by tests/test_distributed.py, once under torchrun (2 ranks) and once alone.

Trains a small supernet for a few SPOS steps on paths with local (convolution) heads,
whose BatchNorm sees the batch of every process, with random ("light") augmentation,
then evaluates a few paths; writes what the test compares: the paths sampled, the
weights, the gathered evaluations.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from torch import nn

from glit_space import GlitPlugin
from oneshot.batchnorm import SlicedBatchNorm1d
from oneshot.datasets import TensorImageDataset
from oneshot.distributed import init_from_env, shutdown
from oneshot.evaluation import supernet_top1
from oneshot.runtime import select_runtime
from oneshot.training import Loop
from oneshot.transforms import train_transform


def main(out: str) -> None:
    torch.set_num_threads(1)
    ranks = init_from_env()
    runtime = select_runtime("cpu", threads=1)
    plugin = GlitPlugin(width="cpu", embed_dim=24, depth=2, patch_size=7)
    # global and local heads in every block: BatchNorm and attention on every path
    space = plugin.space.fix({"blocks.0.heads": (1, 2), "blocks.1.heads": (2, 1)})
    torch.manual_seed(0)
    model = plugin.supernet()
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (64,), generator=generator)
    augment = train_transform("light", 28, 1, (0.5,), (0.25,), src_size=28)
    data = TensorImageDataset(images, labels, augment)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    paths: list[str] = []

    def activate(step: int) -> None:
        genotype = space.sample(np.random.default_rng([0, step]))
        paths.append(genotype.key)
        model.set_active(plugin.blocks(genotype))

    Loop(
        model=model,
        dataset=data,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
        runtime=runtime,
        epochs=2,
        batch_size=16,
        seed=0,
        criterion=nn.CrossEntropyLoss(),
        before_step=activate,
        ranks=ranks,
    ).run()
    assert not any("forward" in vars(m) for m in model.modules())  # BatchNorm restored
    assert any(isinstance(m, SlicedBatchNorm1d) for m in model.modules())
    torch.save(model.state_dict(), f"{out}/weights-{ranks.rank}.pt")  # before evaluations
    evaluation = train_transform("none", 28, 1, (0.5,), (0.25,), src_size=28)
    x, y = evaluation(images[:32]), labels[:32]
    genotypes = [plugin.space.sample(seed) for seed in range(5)]
    scores = ranks.map(lambda g: supernet_top1(model, g, [(x, y)], [x], runtime), genotypes)
    with open(f"{out}/result-{ranks.rank}.json", "w") as handle:
        json.dump({"paths": paths, "scores": scores, "world": ranks.world_size}, handle)
    shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
