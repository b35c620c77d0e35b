"""Scoring untrained networks with zero-cost proxies: the minibatch and the loop.

One place for what every space shares: the minibatch (a seeded class-stratified draw
of a training split, not augmented; never search-val or test images) and the scoring
of one freshly initialised network per proxy, torch seeded the same way for each, so
every proxy sees the same initial weights. `OneShotWorkbench` scores with its run's
data; a space without a training backend (NAS-Bench-201's table) with any data source
standing in (`stand_in_batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from oneshot.datasets import load_data, stratified_sample
from oneshot.interface import ModelInput


def minibatch(
    train: Dataset, batch_size: int, seed: int, device: torch.device | str = "cpu"
) -> tuple[Tensor, Tensor]:
    """`batch_size` images and labels of `train` (a dataset with `targets`), drawn
    class-stratified with `seed`, on `device`."""
    chosen = stratified_sample(train.targets, min(batch_size, len(train)), seed).tolist()
    images, labels = zip(*(train[i] for i in chosen))
    return torch.stack(images).to(device), torch.as_tensor(labels).to(device)


def stand_in_batch(
    data: str, model_input: ModelInput, batch_size: int, seed: int, device: torch.device | str
) -> tuple[Tensor, Tensor]:
    """A minibatch of the training split of data source `data`, converted to what the
    space's networks take (channels and size; the class count must match): for spaces
    whose own training data is not at hand."""
    splits = load_data(data, model_input, seed=seed)
    return minibatch(splits.train, batch_size, seed, device)


def score_untrained(
    build: Callable[[], nn.Module],
    names: Sequence[str],
    images: Tensor,
    labels: Tensor,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Each proxy (`archspace.proxies`) of a network `build()` makes, built afresh per
    proxy (a proxy may change the weights: synflow takes their absolute values) with
    torch seeded by `seed`, on the device of `images`."""
    from archspace.proxies import proxies

    scores = {}
    for name in names:
        torch.manual_seed(seed)
        model = build().to(images.device)
        scores[name] = float(proxies.get(name)(model, images, labels))
    return scores


__all__ = ["minibatch", "score_untrained", "stand_in_batch"]
