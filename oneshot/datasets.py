"""Train / search-validation / test splits of a data source, ready for training.

`load_data` returns three splits. The search-validation split is held out of the
*training* set (stratified by class, deterministic by seed), so a search never sees the
test split; the paper holds out 50K ImageNet training images the same way. Every
smaller subset drawn later (an evaluation cap, calibration batches) is a seeded,
class-stratified draw too (`stratified_sample`), never the first items of a split: an
ImageFolder lists its images class by class.

Small sources (the built-in set, Fashion-MNIST, CIFAR) are kept in memory as uint8
tensors and transformed as tensors (no per-sample PIL work). Deterministic pipelines
(validation, test, and training without augmentation) are computed once per split and
cached when the result fits in `cache_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import datasets as tv_datasets

from oneshot.interface import ModelInput
from oneshot.sources import (
    BUILTINS,
    DEFAULT_DATA,
    SCHEMES,
    ClassCountError,
    DataError,
    DataInfo,
    DataSpec,
    _builtin_arrays,
    _cifar_arrays,
    _fashion_arrays,
    _image_folder,
    data_info,
    parse_spec,
)
from oneshot.transforms import AUGMENTS, Normalise, eval_transform, train_transform

DEFAULT_VAL_SIZE = 0.1
# Largest float32 tensor a deterministic split may be precomputed into (per split).
EVAL_CACHE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class DataSplits:
    """Train / search-validation / test datasets, ready for a model of one input shape.

    `val` is held out of the source's training split (`train_indices` and `val_indices`
    index that split and are disjoint); `test` is the source's own test split and must
    never drive a search decision. Items are (float32 tensor (in_chans, img_size,
    img_size), int label).
    """

    info: DataInfo
    train: Dataset
    val: Dataset
    test: Dataset
    train_indices: tuple[int, ...]
    val_indices: tuple[int, ...]
    in_chans: int
    img_size: int
    augment: str
    val_uint8: Dataset  # `val` before normalisation, for device caches
    normalise: Callable[[torch.Tensor], torch.Tensor]  # finishes val_uint8's batches

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    @property
    def source_chans(self) -> int:
        """Channels of the source images before conversion to the model's `in_chans`."""
        return self.info.channels


class TensorImageDataset(Dataset):
    """Images held as one uint8 tensor (N, C, H, W) with int64 labels, transformed as tensors.

    With `precompute=True` the transform (which must then be deterministic) is applied
    to the whole set once, in chunks, and items are served from the cached result.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        precompute: bool = False,
    ) -> None:
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4 or images.dtype != torch.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.transform = transform
        self._cache: torch.Tensor | None = None
        if precompute and transform is not None and len(images):
            self._cache = torch.cat([transform(chunk) for chunk in images.split(1024)])

    @property
    def cached(self) -> bool:
        return self._cache is not None

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self._cache is not None:
            return self._cache[index], int(self.labels[index])
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class FolderSubset(Dataset):
    """Some samples of a torchvision ImageFolder, with their own transform.

    Train and search-validation share one folder scan but need different transforms.
    """

    def __init__(
        self,
        folder: tv_datasets.ImageFolder,
        indices: Sequence[int],
        transform: Callable | None = None,
    ) -> None:
        self.folder = folder
        self.indices = list(indices)
        self.transform = transform

    @property
    def targets(self) -> list[int]:
        return [self.folder.targets[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, target = self.folder.samples[self.indices[index]]
        image = self.folder.loader(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, target


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed for one (run seed, epoch, sample index) (splitmix64 steps)."""
    mask = (1 << 64) - 1
    value = 0
    for part in (seed, epoch, index):
        value = (value ^ (part & mask)) + 0x9E3779B97F4A7C15 & mask
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9 & mask
        value = (value ^ (value >> 27)) * 0x94D049BB133111EB & mask
        value ^= value >> 31
    return value >> 1


class SeededSamples(Dataset):
    """`dataset` with items keyed (epoch, index), each item's random augmentation drawn
    from torch's RNG seeded by (seed, epoch, index) (the global RNG is left as it was).

    Why: augmentation then depends on neither the process that loads a sample (torchrun
    shares each global batch out), the loader worker, nor the order or a resume; and the
    epoch travels with the key, so one loader and its persistent workers serve every
    epoch.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(sample_seed(self.seed, epoch, int(index)))
            return self.dataset[index]


# ----------------------------------------------------------------------------- splits


#: the most of a training split that may be held out for search-validation
MAX_HOLDOUT_FRACTION = 0.5


def holdout_count(
    val_size: int | float, n: int, *, val_max: int | None = None, num_classes: int = 1
) -> int:
    """How many of `n` training images the search-validation split holds.

    `val_size` is a count or a fraction of `n`; `val_max` caps the result (the paper's
    50K of ImageNet's 1.28M is `val_size=0.05, val_max=50_000`), so one rule fits a
    folder of a thousand images and ImageNet alike. Refused, with the figures, when it
    would hold out more than half the images or leave a class out of the split.
    """
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise ValueError(
            f"recipe.val_size must be an int count or a float fraction, got {val_size!r}"
        )
    if val_max is not None and (
        isinstance(val_max, bool) or not isinstance(val_max, int) or val_max < 1
    ):
        raise ValueError(f"recipe.val_max must be a positive int or null, got {val_max!r}")
    if isinstance(val_size, int):
        if val_size < 1:
            raise ValueError(f"recipe.val_size={val_size} must be at least 1")
        k = val_size
    else:
        if not 0.0 < val_size < 1.0:
            raise ValueError(f"recipe.val_size as a fraction must be in (0, 1), got {val_size}")
        k = max(round(val_size * n), 1)
    if val_max is not None:
        k = min(k, val_max)
    if k > n * MAX_HOLDOUT_FRACTION:
        raise ValueError(
            f"recipe.val_size={val_size} holds out {k:,} of the {n:,} training images for "
            f"search-validation, leaving {n - k:,} to train on; at most "
            f"{MAX_HOLDOUT_FRACTION:.0%} may be held out. Give a fraction (e.g. 0.1) or a "
            "smaller count."
        )
    if k < num_classes:
        raise ValueError(
            f"recipe.val_size={val_size} gives a search-validation split of {k} images, "
            f"fewer than the {num_classes} classes: fitness would miss a class. Give at "
            f"least {num_classes} images."
        )
    return k


def stratified_sample(labels: Sequence[int] | torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """`size` indices into `labels`, drawn at random by `seed`, each class in proportion.

    Each class gives its share of `size` (the largest remainders get the leftovers), so
    a subset of a class-ordered source (an ImageFolder lists class by class) still
    covers every class. Sorted; the same for every process and every resume.
    """
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n = len(labels)
    if not 0 <= size <= n:
        raise ValueError(f"cannot draw {size} of {n} items")
    shuffled = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    grouped = shuffled[torch.argsort(labels[shuffled], stable=True)]  # by class, random within
    _, inverse, counts = torch.unique(labels[grouped], return_inverse=True, return_counts=True)
    share = counts.double() * size / n
    quota = share.floor().long()
    leftover = size - int(quota.sum())
    quota[torch.argsort(share - quota, descending=True, stable=True)[:leftover]] += 1
    rank = torch.arange(n) - (torch.cumsum(counts, 0) - counts)[inverse]
    return grouped[rank < quota[inverse]].sort().values


def split_train_val(
    labels: Sequence[int] | torch.Tensor,
    val_size: int | float,
    seed: int,
    *,
    val_max: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out a class-stratified validation split: (train indices, val indices), sorted.

    The split's size follows `holdout_count`; its images are a `stratified_sample`.
    """
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n = len(labels)
    k = holdout_count(val_size, n, val_max=val_max, num_classes=len(torch.unique(labels)))
    val = stratified_sample(labels, k, seed)
    is_val = torch.zeros(n, dtype=torch.bool)
    is_val[val] = True
    return torch.nonzero(~is_val).flatten(), val


def _check_input(info: DataInfo, model_input: ModelInput) -> None:
    if info.num_classes != model_input.num_classes:
        raise ClassCountError(
            f"The data '{info.spec}' has {info.num_classes} classes but the model has "
            f"num_classes={model_input.num_classes}. Build the space with the data's class count, "
            f"e.g. the space option num_classes=data_info(spec).num_classes.",
            data_classes=info.num_classes,
            model_classes=model_input.num_classes,
        )
    if model_input.in_chans not in (1, 3):
        raise DataError(
            f"The model has in_chans={model_input.in_chans}; the data pipelines produce "
            "1 (grayscale) or 3 (RGB) channels."
        )


def load_data(
    spec: str | DataSpec,
    model_input: ModelInput,
    *,
    val_size: int | float = DEFAULT_VAL_SIZE,
    val_max: int | None = None,
    seed: int = 0,
    augment: str = "none",
    download: bool = False,
    cache_bytes: int = EVAL_CACHE_BYTES,
) -> DataSplits:
    """Load a source as train / search-validation / test datasets for a model's input.

    model_input: what the model takes (`ModelInput`, or any object with in_chans,
    img_size and num_classes, such as a space's width).

    val_size, val_max: images held out of the training split for search fitness (an int
    count or a fraction, capped at val_max; see `holdout_count`); the held-out set
    depends only on the source, these two and seed.
    augment: the training pipeline, one of "none", "light", "deit" (val and test always
    use the deterministic eval pipeline). Raises ClassCountError when the data's class
    count differs from model_input.num_classes, DataError for unusable specs or folders.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got {augment!r}")
    info = data_info(spec, download=download)
    _check_input(info, model_input)
    spec = info.spec
    size, chans = model_input.img_size, model_input.in_chans
    eval_tf = eval_transform(size, chans, info.mean, info.std, src_size=info.image_size)
    uint8_tf = eval_transform(
        size, chans, info.mean, info.std, src_size=info.image_size, normalize=False
    )
    train_tf = train_transform(augment, size, chans, info.mean, info.std, src_size=info.image_size)

    if spec.scheme == "imagefolder":
        train_folder, test_folder = _image_folder(spec, "train"), _image_folder(spec, "val")
        train_idx, val_idx = split_train_val(train_folder.targets, val_size, seed, val_max=val_max)
        train: Dataset = FolderSubset(train_folder, train_idx.tolist(), train_tf)
        val: Dataset = FolderSubset(train_folder, val_idx.tolist(), eval_tf)
        val_uint8: Dataset = FolderSubset(train_folder, val_idx.tolist(), uint8_tf)
        test: Dataset = FolderSubset(test_folder, range(len(test_folder)), eval_tf)
    else:
        if spec.scheme == "builtin":
            arrays = _builtin_arrays()
        elif spec.scheme == "fashion-mnist":
            arrays = _fashion_arrays(spec.path.resolve())
        else:
            arrays = _cifar_arrays(spec, download)
        train_idx, val_idx = split_train_val(arrays.train_labels, val_size, seed, val_max=val_max)

        def fits(n: int) -> bool:
            return n * chans * size * size * 4 <= cache_bytes

        train = TensorImageDataset(
            arrays.train_images[train_idx],
            arrays.train_labels[train_idx],
            train_tf,
            precompute=augment == "none" and fits(len(train_idx)),
        )
        val = TensorImageDataset(
            arrays.train_images[val_idx],
            arrays.train_labels[val_idx],
            eval_tf,
            precompute=fits(len(val_idx)),
        )
        val_uint8 = TensorImageDataset(
            arrays.train_images[val_idx], arrays.train_labels[val_idx], uint8_tf
        )
        test = TensorImageDataset(
            arrays.test_images,
            arrays.test_labels,
            eval_tf,
            precompute=fits(len(arrays.test_labels)),
        )
    return DataSplits(
        info=info,
        train=train,
        val=val,
        test=test,
        train_indices=tuple(train_idx.tolist()),
        val_indices=tuple(val_idx.tolist()),
        in_chans=chans,
        img_size=size,
        augment=augment,
        val_uint8=val_uint8,
        normalise=Normalise(chans, info.mean, info.std),
    )


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader whose order depends only on `seed` (a private torch.Generator).
    `pin_memory` for a CUDA run: page-locked batches make `non_blocking` copies overlap
    the computation.

    Each epoch draws a new order from the generator, so a run replays exactly. Worker
    processes take their seeds from the same generator, which makes random augmentation
    reproducible too; with num_workers=0 augmentation draws from torch's global RNG
    (seed it with torch.manual_seed). For distributed runs pass a sampler (e.g.
    DistributedSampler(dataset, shuffle=True, seed=seed)) with shuffle=False and call its
    set_epoch each epoch.
    """
    if sampler is not None and shuffle:
        raise ValueError(
            "make_loader: pass shuffle=False together with a sampler; the sampler "
            "(e.g. DistributedSampler(shuffle=True, seed=...)) does the shuffling"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
    )


__all__ = [
    "BUILTINS",
    "DEFAULT_DATA",
    "DEFAULT_VAL_SIZE",
    "EVAL_CACHE_BYTES",
    "SCHEMES",
    "ClassCountError",
    "DataError",
    "DataInfo",
    "DataSpec",
    "DataSplits",
    "FolderSubset",
    "SeededSamples",
    "TensorImageDataset",
    "data_info",
    "holdout_count",
    "load_data",
    "make_loader",
    "parse_spec",
    "sample_seed",
    "split_train_val",
    "stratified_sample",
]
