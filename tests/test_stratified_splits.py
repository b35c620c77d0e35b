"""Search-validation sees every class: held-out sizes, capped evaluations and calibration
batches are seeded class-stratified draws, also on class-ordered (ImageFolder) sources."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glit_space import GlitPlugin
from oneshot.datasets import holdout_count, split_train_val, stratified_sample
from oneshot.recipes import get_recipe
from oneshot.runtime import select_runtime
from oneshot.workbench import OneShotWorkbench

EASY, HARD = range(5), range(5, 10)
SMALL = {"width": "cpu", "embed_dim": 24, "depth": 2, "patch_size": 7}


def test_stratified_sample_keeps_class_shares() -> None:
    labels = torch.arange(10).repeat_interleave(torch.tensor([100] * 5 + [50] * 5))  # ordered
    chosen = stratified_sample(labels, 150, seed=3)
    counts = Counter(labels[chosen].tolist())
    assert [counts[c] for c in range(10)] == [20] * 5 + [10] * 5
    assert torch.equal(chosen, stratified_sample(labels, 150, seed=3))  # same seed, same draw
    assert not torch.equal(chosen, stratified_sample(labels, 150, seed=4))
    assert torch.equal(chosen, chosen.sort().values) and len(set(chosen.tolist())) == 150


def test_holdout_rule_scales_with_the_data() -> None:
    quick, paper = get_recipe("quick"), get_recipe("paper")
    assert holdout_count(quick.val_size, 8_000, val_max=quick.val_max) == 1_000  # built-in
    assert holdout_count(quick.val_size, 60_000, val_max=quick.val_max) == 1_000
    assert holdout_count(quick.val_size, 1_437, val_max=quick.val_max) == 180  # small folder
    assert holdout_count(paper.val_size, 1_281_167, val_max=paper.val_max) == 50_000  # ImageNet
    assert holdout_count(paper.val_size, 50_000, val_max=paper.val_max) == 2_500  # CIFAR


def test_holdout_that_leaves_too_little_is_refused() -> None:
    with pytest.raises(ValueError) as err:
        holdout_count(1000, 1_437)
    message = str(err.value)
    assert "recipe.val_size=1000" in message and "1,437" in message and "437 to train" in message
    with pytest.raises(ValueError, match="fewer than the 10 classes"):
        split_train_val(torch.arange(10).repeat(20), 0.02, seed=0)


def _class_ordered_folder(root: Path, train: int = 60, test: int = 30) -> None:
    """Ten classes listed in order: 0-4 easy (a bright band per class), 5-9 noise only."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", test)):
        for c in range(10):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 120, (28, 28))
                if c in EASY:
                    pixels[5 * c : 5 * c + 4] = 255
                Image.fromarray(pixels.astype(np.uint8), "L").save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def folder_bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("ordered")
    _class_ordered_folder(root)
    recipe = get_recipe("quick").override(
        **{
            "val_size": 0.25,
            "eval.max_images": 50,
            "eval.bn_batches": 2,
            "eval.bn_batch_size": 20,
            "retrain.epochs": 6,
            "retrain.batch_size": 30,
            "retrain.lr_reference_batch": 30,
            "retrain.lr": 3e-3,
            "retrain.augment": "none",
        }
    )
    plugin = GlitPlugin(**SMALL, num_classes=10)
    return OneShotWorkbench(
        plugin,
        recipe,
        tmp_path_factory.mktemp("run"),
        data=f"imagefolder:{root}",
        runtime=select_runtime("cpu"),
    )


def test_capped_fitness_split_covers_every_class(folder_bench) -> None:
    val = folder_bench.data().val
    assert Counter(val.targets) == {c: 15 for c in range(10)}  # 25% of each class
    split = folder_bench._eval_split()
    assert Counter(val.targets[i] for i in split.indices) == {c: 5 for c in range(10)}
    assert "450 train, 150 search-val (50 per evaluation, drawn by class), 300 test" in (
        folder_bench.data_summary()
    )


def test_calibration_batches_cover_every_class(folder_bench) -> None:
    batches = list(folder_bench._calibration())
    assert [len(x) for x in batches] == [20, 20]
    labels = folder_bench.data("light").train.targets
    # the draw is the one _calibration makes: 4 per class, mixed across both batches
    chosen = stratified_sample(labels, 40, folder_bench.seed)
    assert Counter(labels[i] for i in chosen.tolist()) == {c: 4 for c in range(10)}


def test_retrained_search_val_agrees_with_test(folder_bench) -> None:
    """Half the classes are learnable: both splits must show that mix, not only the easy
    half (the first 50 search-val images of this folder are classes 0-3)."""
    plugin = folder_bench.plugin
    metrics = folder_bench.retrain(plugin.space.default(), "check")
    assert metrics["test_top1"] > 0.4  # the easy half is learnt
    assert abs(metrics["val_top1"] - metrics["test_top1"]) < 0.2, metrics
