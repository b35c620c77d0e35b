"""Data sources, splits, transforms and loaders of the `oneshot` package, which the GLiT
and AutoFormer plugins share (all offline)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data.distributed import DistributedSampler
from torchvision.transforms import v2

from glit_space.config import WIDTHS
from oneshot.data.rebuild_fashion_mnist import DEBIAN_DIR, find_idx_files, read_idx_uint8
from oneshot.datasets import (
    DEFAULT_DATA,
    ClassCountError,
    DataError,
    DataSpec,
    TensorImageDataset,
    data_info,
    load_data,
    make_loader,
    split_train_val,
)
from oneshot.transforms import (
    AUGMENTS,
    adapt_stats,
    eval_transform,
    mixup_cutmix,
    train_transform,
)
from tests.conftest import write_idx

NPZ = Path(__file__).resolve().parents[1] / "oneshot" / "data" / "fashion_mnist_subset.npz"
CPU = WIDTHS["cpu"]
TINY10 = dataclasses.replace(WIDTHS["tiny"], num_classes=10)
HAVE_IDX = not find_idx_files(DEBIAN_DIR)[1] if DEBIAN_DIR.is_dir() else False
needs_idx = pytest.mark.skipif(not HAVE_IDX, reason=f"Fashion-MNIST IDX files not in {DEBIAN_DIR}")


# ------------------------------------------------------------------- embedded data set


def test_builtin_npz_is_small_balanced_and_uint8() -> None:
    assert NPZ.stat().st_size <= 5_000_000
    with np.load(NPZ) as npz:
        for split, per_class in (("train", 800), ("test", 200)):
            images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
            assert images.dtype == np.uint8 and labels.dtype == np.uint8
            assert images.shape == (10 * per_class, 28, 28)
            assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_builtin_loads_offline_with_stated_sizes() -> None:
    info = data_info(DEFAULT_DATA)
    assert (info.num_classes, info.channels, info.image_size) == (10, 1, 28)
    assert info.class_names[0] == "T-shirt/top"
    d = load_data(DEFAULT_DATA, CPU)
    assert len(d.train) + len(d.val) == 8000
    assert len(d.val) == 800  # default: 10% of the training split
    assert len(d.test) == 2000
    assert np.bincount(d.test.labels.numpy(), minlength=10).tolist() == [200] * 10
    assert d.num_classes == 10 and d.source_chans == 1 and d.in_chans == 1


def test_val_split_disjoint_stratified_and_seeded() -> None:
    a = load_data(DEFAULT_DATA, CPU, seed=0)
    b = load_data(DEFAULT_DATA, CPU, seed=0)
    c = load_data(DEFAULT_DATA, CPU, seed=1)
    assert set(a.train_indices).isdisjoint(a.val_indices)
    assert sorted(a.train_indices + a.val_indices) == list(range(8000))
    assert a.val_indices == b.val_indices
    assert a.val_indices != c.val_indices
    # Held-out images really are the indexed training images, 80 of each class.
    with np.load(NPZ) as npz:
        train_labels = npz["train_labels"]
    assert a.val.labels.tolist() == train_labels[list(a.val_indices)].tolist()
    assert np.bincount(a.val.labels.numpy()).tolist() == [80] * 10


@pytest.mark.parametrize(("val_size", "expected"), [(500, 500), (0.25, 2000), (10, 10)])
def test_val_size_count_or_fraction(val_size: int | float, expected: int) -> None:
    d = load_data(DEFAULT_DATA, CPU, val_size=val_size)
    assert len(d.val) == expected and len(d.train) == 8000 - expected


@pytest.mark.parametrize("val_size", [0, 8000, 0.0, 1.0, True, "10%"])
def test_bad_val_size(val_size: object) -> None:
    with pytest.raises(ValueError, match="val_size"):
        load_data(DEFAULT_DATA, CPU, val_size=val_size)  # type: ignore[arg-type]


def test_split_train_val_uneven_classes() -> None:
    labels = [0] * 60 + [1] * 25 + [2] * 15
    train, val = split_train_val(labels, 0.15, seed=3)
    assert len(val) == 15 and len(train) == 85
    # Shares 9, 3.75 and 2.25: the leftover image goes to the largest remainder.
    assert torch.bincount(torch.tensor(labels)[val]).tolist() == [9, 4, 2]
    assert torch.equal(val, split_train_val(labels, 15, seed=3)[1])


# ------------------------------------------------------------------------ transforms


@pytest.mark.parametrize("augment", AUGMENTS)
def test_cpu_width_shapes(augment: str) -> None:
    d = load_data(DEFAULT_DATA, CPU, augment=augment)
    for ds in (d.train, d.val, d.test):
        x, y = ds[3]
        assert type(x) is torch.Tensor and x.dtype == torch.float32
        assert x.shape == (1, 28, 28) and isinstance(y, int)
    assert d.val.cached and d.test.cached
    assert d.train.cached == (augment == "none")
    # Eval inputs are normalised with the Fashion-MNIST statistics.
    test_x = torch.stack([d.test[i][0] for i in range(len(d.test))])
    assert abs(test_x.mean().item()) < 0.05 and abs(test_x.std().item() - 1) < 0.05


def test_tiny_width_shapes_on_a_few_samples() -> None:
    d = load_data(DEFAULT_DATA, TINY10, augment="deit")
    assert not d.test.cached  # 2000 x 3 x 224 x 224 floats exceed the cache budget
    for ds in (d.train, d.val, d.test):
        for i in range(2):
            x, _ = ds[i]
            assert x.shape == (3, 224, 224) and x.dtype == torch.float32


def test_cached_eval_equals_per_sample_eval() -> None:
    images = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(6)
    tf = eval_transform(56, 3, (0.3,), (0.4,), src_size=28)
    cached = TensorImageDataset(images, labels, tf, precompute=True)
    lazy = TensorImageDataset(images, labels, tf)
    assert cached.cached and not lazy.cached
    for i in range(6):
        assert torch.allclose(cached[i][0], lazy[i][0], atol=1e-5)


def test_rgb_to_gray_and_variable_size_images() -> None:
    rgb = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    assert eval_transform(28, 1, mean, std, src_size=32)(rgb).shape == (1, 28, 28)
    assert train_transform("light", 28, 1, mean, std, src_size=32)(rgb).shape == (1, 28, 28)
    photo = Image.new("RGB", (70, 50), (200, 30, 90))
    assert eval_transform(64, 3, mean, std)(photo).shape == (3, 64, 64)
    assert train_transform("deit", 64, 1, mean, std)(photo).shape == (1, 64, 64)
    assert adapt_stats((0.5,), (0.2,), 3) == ((0.5,) * 3, (0.2,) * 3)
    assert len(adapt_stats(mean, std, 1)[0]) == 1
    with pytest.raises(ValueError, match="augment must be one of"):
        train_transform("heavy", 28, 1, mean, std)


def test_mixup_cutmix_soft_targets() -> None:
    mix = mixup_cutmix(10)
    assert isinstance(mix, v2.RandomChoice)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    for _ in range(4):  # either branch
        out, targets = mix(images, labels)
        assert out.shape == images.shape and targets.shape == (8, 10)
        assert torch.allclose(targets.sum(1), torch.ones(8))
    assert mixup_cutmix(10, 0.0, 0.0) is None
    assert isinstance(mixup_cutmix(10, 0.8, 0.0), v2.MixUp)


# --------------------------------------------------------------------------- loaders


def _first_batches(dataset: torch.utils.data.Dataset, seed: int) -> list[torch.Tensor]:
    loader = make_loader(dataset, 32, shuffle=True, seed=seed)
    batches = []
    for _ in range(2):  # two epochs: a new order each, the same on every run
        x, y = next(iter(loader))
        batches.append(torch.cat([y.float(), x.flatten()]))
    return batches


def test_loaders_deterministic_by_seed() -> None:
    d = load_data(DEFAULT_DATA, CPU)
    a, b, c = _first_batches(d.train, 5), _first_batches(d.train, 5), _first_batches(d.train, 6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(a[0], c[0])
    ordered = make_loader(d.val, 100, shuffle=False, seed=0)
    assert next(iter(ordered))[1].tolist() == d.val.labels[:100].tolist()


def test_loader_accepts_a_sampler() -> None:
    d = load_data(DEFAULT_DATA, CPU)
    sampler = DistributedSampler(d.val, num_replicas=2, rank=1, shuffle=True, seed=0)
    loader = make_loader(d.val, 50, shuffle=False, seed=0, sampler=sampler, drop_last=True)
    assert len(loader) == 8
    with pytest.raises(ValueError, match="shuffle=False"):
        make_loader(d.val, 50, shuffle=True, seed=0, sampler=sampler)


# ---------------------------------------------------------------- fashion-mnist:DIR


@needs_idx
def test_full_fashion_mnist_from_debian_files() -> None:
    d = load_data(f"fashion-mnist:{DEBIAN_DIR}", CPU, val_size=5000)
    assert len(d.train) + len(d.val) == 60000 and len(d.val) == 5000
    assert len(d.test) == 10000
    assert d.train[0][0].shape == (1, 28, 28)


def test_fashion_mnist_dir_plain_and_gzipped_idx(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = tmp_path / "FashionMNIST" / "raw"  # torchvision's layout is accepted too
    raw.mkdir(parents=True)
    labels = np.arange(30) % 10
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (30, 28, 28)))
    write_idx(raw / "train-labels-idx1-ubyte.gz", labels)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 28, 28)))
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[:10])
    assert read_idx_uint8(raw / "train-labels-idx1-ubyte.gz").tolist() == labels.tolist()
    d = load_data(f"fashion-mnist:{tmp_path}", CPU, val_size=10)
    assert (len(d.train), len(d.val), len(d.test)) == (20, 10, 10)
    assert sorted(d.val.labels.tolist()) == list(range(10))


@needs_idx
def test_rebuild_script_reproduces_the_shipped_npz(tmp_path: Path) -> None:
    out = tmp_path / "subset.npz"
    subprocess.run(
        [sys.executable, "-m", "oneshot.data.rebuild_fashion_mnist", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == NPZ.read_bytes()


# ------------------------------------------------------------------------ bad specs


def test_spec_parsing() -> None:
    assert DataSpec.parse(" Builtin:Fashion-MNIST ") == DataSpec("builtin", "fashion-mnist")
    assert str(DataSpec.parse("cifar10:~/data")) == "cifar10:~/data"
    assert DataSpec.parse("cifar10:~/data").path == Path.home() / "data"


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("cifar:/data", ["Unknown data scheme 'cifar'", "Did you mean 'cifar10'?", "imagefolder"]),
        ("fashion_mnist:/d", ["Did you mean 'fashion-mnist'?"]),
        ("imagenet:/d", ["Did you mean 'imagefolder'?"]),
        ("/data/cifar", ["has no scheme", "SCHEME:LOCATION", "cifar100:DIR"]),
        ("builtin:mnist", ["Unknown builtin data set 'mnist'", "builtin:fashion-mnist"]),
        ("cifar10:", ["names no location"]),
    ],
)
def test_bad_spec_messages(spec: str, needles: list[str]) -> None:
    with pytest.raises(DataError) as err:
        data_info(spec)
    for needle in needles:
        assert needle in str(err.value)


@pytest.mark.parametrize("scheme", ["cifar10", "cifar100", "fashion-mnist", "imagefolder"])
def test_missing_folder(tmp_path: Path, scheme: str) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as err:
        data_info(f"{scheme}:{missing}")
    assert str(missing) in str(err.value)
    if scheme.startswith("cifar"):
        assert "--download" in str(err.value)


@pytest.mark.parametrize(
    ("scheme", "sub"), [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]
)
def test_cifar_folder_without_files(tmp_path: Path, scheme: str, sub: str) -> None:
    with pytest.raises(DataError) as err:
        load_data(f"{scheme}:{tmp_path}", dataclasses.replace(CPU, num_classes=10))
    message = str(err.value)
    assert str(tmp_path) in message and sub in message and "--download" in message


def test_fashion_folder_without_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="lacks the Fashion-MNIST IDX files") as err:
        data_info(f"fashion-mnist:{tmp_path}")
    assert "t10k-images-idx3-ubyte[.gz]" in str(err.value)


def _image_tree(root: Path, classes: dict[str, int]) -> None:
    for split in ("train", "val"):
        for name, count in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count if split == "train" else min(count, 1)):
                shade = (40 * i, 100 if name == "cat" else 200, 30)
                Image.new("RGB", (36 + i, 30), shade).save(folder / f"{i}.png")


def test_imagefolder_loads(tmp_path: Path) -> None:
    _image_tree(tmp_path, {"cat": 3, "dog": 3})
    width = dataclasses.replace(CPU, num_classes=2)
    d = load_data(f"imagefolder:{tmp_path}", width, val_size=2, augment="light")
    assert d.class_names == ("cat", "dog") and d.source_chans == 3
    assert (len(d.train), len(d.val), len(d.test)) == (4, 2, 2)
    for ds in (d.train, d.val, d.test):
        x, _ = ds[0]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert_uint8_val_normalises_to_val(d)


def assert_uint8_val_normalises_to_val(d) -> None:
    """The uint8 search-val images kept on a device become, normalised there, exactly
    the float pipeline's images."""
    raw = torch.stack([d.val_uint8[i][0] for i in range(len(d.val))])
    floats = torch.stack([d.val[i][0] for i in range(len(d.val))])
    assert raw.dtype == torch.uint8 and torch.equal(d.normalise(raw), floats)
    assert [d.val_uint8[i][1] for i in range(len(d.val))] == d.val.targets


def test_uint8_search_val_of_tensor_sources_at_two_sizes() -> None:
    for width in (CPU, TINY10):
        d = load_data(DEFAULT_DATA, width, val_size=20)
        assert_uint8_val_normalises_to_val(d)


def test_imagefolder_empty_class(tmp_path: Path) -> None:
    _image_tree(tmp_path, {"cat": 2, "dog": 2})
    (tmp_path / "train" / "zebra").mkdir()
    (tmp_path / "val" / "zebra").mkdir()
    (tmp_path / "train" / "zebra" / "notes.txt").write_text("not an image")
    width = dataclasses.replace(CPU, num_classes=3)
    with pytest.raises(DataError) as err:
        load_data(f"imagefolder:{tmp_path}", width)
    message = str(err.value)
    assert "zebra" in message and "contain no images" in message
    assert str(tmp_path / "train") in message and "cat" not in message.split("contain")[0]


def test_imagefolder_layout_errors(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="has no val/ sub-folder"):
        data_info(f"imagefolder:{tmp_path}")
    (tmp_path / "val" / "dog").mkdir(parents=True)
    with pytest.raises(DataError, match=r"class folders .* differ"):
        data_info(f"imagefolder:{tmp_path}")


def test_class_count_mismatch_names_both_sides() -> None:
    with pytest.raises(ClassCountError) as err:
        load_data(DEFAULT_DATA, WIDTHS["tiny"])
    assert err.value.data_classes == 10 and err.value.model_classes == 1000
    assert "has 10 classes" in str(err.value) and "num_classes=1000" in str(err.value)


def test_bad_augment_name() -> None:
    with pytest.raises(ValueError, match="none, light, deit"):
        load_data(DEFAULT_DATA, CPU, augment="strong")
