"""Image-classification data for GLiT searches, chosen by a spec string.

A spec is `SCHEME:LOCATION`:

    builtin:fashion-mnist   the embedded Fashion-MNIST subset (the default; no download)
    fashion-mnist:DIR       the full Fashion-MNIST from its IDX files (.gz or not)
    cifar10:DIR             torchvision's CIFAR-10 layout (DIR/cifar-10-batches-py)
    cifar100:DIR            torchvision's CIFAR-100 layout (DIR/cifar-100-python)
    imagefolder:DIR         ImageNet layout: DIR/train/<class>/* and DIR/val/<class>/*

`load_data` returns three splits. The search-validation split is held out of the
*training* set (stratified by class, deterministic by seed), so a search never sees the
test split; the paper holds out 50K ImageNet training images the same way. Nothing is
downloaded unless `download=True` is passed.

Small sources (the built-in set, Fashion-MNIST, CIFAR) are kept in memory as uint8
tensors and transformed as tensors (no per-sample PIL work). Deterministic pipelines
(validation, test, and training without augmentation) are computed once per split and
cached when the result fits in `cache_bytes`.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import datasets as tv_datasets
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes

from glit_space.config import Width
from glit_space.data.rebuild_fashion_mnist import find_idx_files, load_idx_folder
from glit_space.transforms import AUGMENTS, eval_transform, train_transform

DEFAULT_DATA = "builtin:fashion-mnist"
SCHEMES = ("builtin", "fashion-mnist", "cifar10", "cifar100", "imagefolder")
BUILTINS = ("fashion-mnist",)
DEFAULT_VAL_SIZE = 0.1
# Largest float32 tensor a deterministic split may be precomputed into (per split).
EVAL_CACHE_BYTES = 256 * 2**20

BUILTIN_FILE = "fashion_mnist_subset.npz"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Per-channel statistics of each source's training split, pixel values in [0, 1].
FASHION_MNIST_STATS = ((0.2860,), (0.3530,))
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

_SCHEME_HELP = (
    "builtin:fashion-mnist (embedded, no download), fashion-mnist:DIR, cifar10:DIR, "
    "cifar100:DIR, imagefolder:DIR"
)
_CIFAR = {
    "cifar10": (tv_datasets.CIFAR10, "CIFAR-10", CIFAR10_STATS, 10),
    "cifar100": (tv_datasets.CIFAR100, "CIFAR-100", CIFAR100_STATS, 100),
}


class DataError(ValueError):
    """A data spec or data folder that cannot be used; the message names what is wrong."""


class ClassCountError(DataError):
    """The data's class count differs from the model width's `num_classes`."""

    def __init__(self, message: str, *, data_classes: int, width_classes: int) -> None:
        super().__init__(message)
        self.data_classes = data_classes
        self.width_classes = width_classes


@dataclass(frozen=True)
class DataSpec:
    """A parsed `SCHEME:LOCATION` spec; LOCATION is a builtin name or a folder."""

    scheme: str
    location: str

    @classmethod
    def parse(cls, spec: str | DataSpec) -> DataSpec:
        """Parse and check a spec string, raising DataError that names it and the schemes."""
        if isinstance(spec, DataSpec):
            return spec
        if not isinstance(spec, str):
            raise DataError(f"A data spec must be a string like {DEFAULT_DATA!r}, got {spec!r}.")
        scheme, sep, location = spec.strip().partition(":")
        scheme = scheme.strip().lower()
        if not sep:
            raise DataError(
                f"Data spec {spec!r} has no scheme: write SCHEME:LOCATION, one of {_SCHEME_HELP}."
            )
        if scheme not in SCHEMES:
            close = difflib.get_close_matches(scheme, SCHEMES, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"Unknown data scheme {scheme!r} in spec {spec!r}.{hint} Known schemes: "
                f"{_SCHEME_HELP}."
            )
        location = location.strip()
        if not location:
            what = "a builtin name" if scheme == "builtin" else "a folder"
            raise DataError(f"Data spec {spec!r} names no location: expected {scheme}:<{what}>.")
        if scheme == "builtin" and location.lower() not in BUILTINS:
            close = difflib.get_close_matches(location.lower(), BUILTINS, n=1, cutoff=0.5)
            hint = f" Did you mean 'builtin:{close[0]}'?" if close else ""
            raise DataError(
                f"Unknown builtin data set {location!r} in spec {spec!r}.{hint} Builtin sets: "
                f"{', '.join(BUILTINS)}."
            )
        if scheme == "builtin":
            location = location.lower()
        return cls(scheme, location)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.location}"

    @property
    def path(self) -> Path:
        """The folder of a folder-based spec (user home expanded)."""
        if self.scheme == "builtin":
            raise DataError(f"{self} is embedded in the package and has no folder")
        return Path(self.location).expanduser()


def parse_spec(spec: str | DataSpec) -> DataSpec:
    """Shorthand for `DataSpec.parse`."""
    return DataSpec.parse(spec)


@dataclass(frozen=True)
class DataInfo:
    """What a source holds, known before loading it: callers size the model from this."""

    spec: DataSpec
    num_classes: int
    class_names: tuple[str, ...]
    channels: int
    image_size: int | None  # side of square images; None when sizes vary (folders)
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class DataSplits:
    """Train / search-validation / test datasets, ready for a model of one width.

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


# ---------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Arrays:
    """An in-memory source: uint8 (N, C, H, W) images and int64 labels for both splits."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


@functools.cache
def _builtin_arrays() -> _Arrays:
    with resources.files("glit_space").joinpath("data", BUILTIN_FILE).open("rb") as f:
        npz = np.load(f)
        data = {k: torch.from_numpy(npz[k].copy()) for k in npz.files}
    return _Arrays(
        data["train_images"].unsqueeze(1),
        data["train_labels"].long(),
        data["test_images"].unsqueeze(1),
        data["test_labels"].long(),
    )


@functools.lru_cache(maxsize=1)
def _fashion_arrays(folder: Path) -> _Arrays:
    try:
        arrays = load_idx_folder(folder)
    except ValueError as err:  # a damaged or foreign IDX file; the message names it
        raise DataError(f"Cannot read Fashion-MNIST from {folder}: {err}") from None
    a = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    return _Arrays(
        a["train_images"].unsqueeze(1),
        a["train_labels"].long(),
        a["test_images"].unsqueeze(1),
        a["test_labels"].long(),
    )


def _missing_folder(spec: DataSpec, extra: str = "") -> DataError:
    problem = "is not a folder" if spec.path.exists() else "does not exist"
    return DataError(f"Data folder {spec.path} (from spec '{spec}') {problem}.{extra}")


def _fashion_info(spec: DataSpec, download: bool) -> DataInfo:
    folder = spec.path
    if not folder.is_dir() and not download:
        raise _missing_folder(
            spec,
            " The Debian package dataset-fashion-mnist installs the "
            "files in /usr/share/datasets/fashion-mnist.",
        )
    _, missing = find_idx_files(folder) if folder.is_dir() else (None, ["all"])
    if missing:
        if not download:
            raise DataError(
                f"Data folder {folder} (from spec '{spec}') lacks the Fashion-MNIST IDX files "
                f"{', '.join(missing)}. Expected the four official files (train-images, "
                "train-labels, t10k-images, t10k-labels; each may be gzipped) in the folder "
                "or in its FashionMNIST/raw/ sub-folder. Pass --download (download=True) to "
                "fetch them with torchvision."
            )
        for train in (True, False):
            tv_datasets.FashionMNIST(folder, train=train, download=True)
    mean, std = FASHION_MNIST_STATS
    return DataInfo(spec, 10, FASHION_MNIST_CLASSES, 1, 28, mean, std)


def _cifar_root(spec: DataSpec, download: bool) -> Path:
    cls, name, _, _ = _CIFAR[spec.scheme]
    root = spec.path
    if root.name == cls.base_folder and root.is_dir():  # DIR given as the extracted folder
        root = root.parent
    if download:
        return root
    get = f" Pass --download (download=True) to fetch {name} (about 170 MB) into it."
    if not root.is_dir():
        raise _missing_folder(spec, get)
    if not (root / cls.base_folder).is_dir():
        raise DataError(
            f"Data folder {root} (from spec '{spec}') does not hold {name}: expected the "
            f"sub-folder {cls.base_folder}/ of torchvision's layout (the python version of "
            f"the data set, extracted).{get}"
        )
    return root


def _cifar_dataset(spec: DataSpec, root: Path, train: bool, download: bool) -> Dataset:
    cls, name, _, _ = _CIFAR[spec.scheme]
    try:
        return cls(root, train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted."
        raise DataError(
            f"{name} in {root / cls.base_folder} (from spec '{spec}') is incomplete or "
            f"corrupted ({err}). Delete it and pass --download (download=True) to fetch it "
            "again."
        ) from None


def _cifar_info(spec: DataSpec, download: bool) -> DataInfo:
    _, _, (mean, std), _ = _CIFAR[spec.scheme]
    root = _cifar_root(spec, download)
    classes = tuple(_cifar_dataset(spec, root, False, download).classes)
    return DataInfo(spec, len(classes), classes, 3, 32, mean, std)


def _cifar_arrays(spec: DataSpec, download: bool) -> _Arrays:
    root = _cifar_root(spec, download)
    out = []
    for train in (True, False):
        ds = _cifar_dataset(spec, root, train, download)
        out += [
            torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(),
            torch.as_tensor(ds.targets, dtype=torch.int64),
        ]
    return _Arrays(*out)


def _folder_split(spec: DataSpec, split: str) -> Path:
    root = spec.path
    if not root.is_dir():
        raise _missing_folder(
            spec,
            " ImageNet cannot be downloaded automatically; prepare "
            "DIR/train/<class>/ and DIR/val/<class>/ folders.",
        )
    folder = root / split
    if not folder.is_dir():
        raise DataError(
            f"Data folder {root} (from spec '{spec}') has no {split}/ sub-folder: the "
            "imagefolder layout is DIR/train/<class>/<images> and DIR/val/<class>/<images>, "
            "one sub-folder per class in both (ImageNet's val images sorted into classes)."
        )
    return folder


def _folder_classes(spec: DataSpec, split: str) -> list[str]:
    folder = _folder_split(spec, split)
    try:
        classes, _ = find_classes(folder)
    except FileNotFoundError:
        raise DataError(
            f"Folder {folder} (from spec '{spec}') has no class sub-folders: expected one "
            "sub-folder of images per class."
        ) from None
    return classes


def _folder_info(spec: DataSpec) -> DataInfo:
    train, val = _folder_classes(spec, "train"), _folder_classes(spec, "val")
    if train != val:
        only_train = sorted(set(train) - set(val))[:5]
        only_val = sorted(set(val) - set(train))[:5]
        raise DataError(
            f"The class folders of {spec.path / 'train'} and {spec.path / 'val'} (from spec "
            f"'{spec}') differ ({len(train)} vs {len(val)}; only in train: {only_train}, only "
            f"in val: {only_val}); both need the same classes so that labels agree."
        )
    mean, std = IMAGENET_STATS
    return DataInfo(spec, len(train), tuple(train), 3, None, mean, std)


def _image_folder(spec: DataSpec, split: str) -> tv_datasets.ImageFolder:
    folder = _folder_split(spec, split)
    try:
        return tv_datasets.ImageFolder(folder)
    except FileNotFoundError:
        empty = [
            d.name
            for d in sorted(folder.iterdir())
            if d.is_dir()
            and not any(f.is_file() and f.suffix.lower() in IMG_EXTENSIONS for f in d.rglob("*"))
        ]
        raise DataError(
            f"Class folder(s) {', '.join(empty)} in {folder} (from spec '{spec}') contain no "
            f"images; imagefolder reads files ending in {', '.join(IMG_EXTENSIONS)}. Add "
            "images or remove the empty class folders (from both train/ and val/)."
        ) from None


def data_info(spec: str | DataSpec = DEFAULT_DATA, *, download: bool = False) -> DataInfo:
    """Check a spec and its folder and say what the data holds, without loading images.

    Use `data_info(spec).num_classes` to build a width that matches the data.
    """
    spec = DataSpec.parse(spec)
    if spec.scheme == "builtin":
        arrays = _builtin_arrays()
        mean, std = FASHION_MNIST_STATS
        n = int(arrays.train_labels.max()) + 1
        return DataInfo(spec, n, FASHION_MNIST_CLASSES, 1, 28, mean, std)
    if spec.scheme == "fashion-mnist":
        return _fashion_info(spec, download)
    if spec.scheme in _CIFAR:
        return _cifar_info(spec, download)
    return _folder_info(spec)


# ----------------------------------------------------------------------------- splits


def _val_count(val_size: int | float, n: int) -> int:
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise ValueError(f"val_size must be an int count or a float fraction, got {val_size!r}")
    if isinstance(val_size, int):
        if not 1 <= val_size < n:
            raise ValueError(
                f"val_size={val_size} must be between 1 and {n - 1}: the search-validation "
                f"split is held out of the {n} training images and must leave some"
            )
        return val_size
    if not 0.0 < val_size < 1.0:
        raise ValueError(f"val_size as a fraction must be in (0, 1), got {val_size}")
    return min(max(round(val_size * n), 1), n - 1)


def split_train_val(
    labels: Sequence[int] | torch.Tensor, val_size: int | float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out a class-stratified validation split: (train indices, val indices), sorted.

    `val_size` is a count or a fraction of len(labels). Each class gives its share
    (largest remainders get the leftover images), chosen at random by `seed`.
    """
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n = len(labels)
    k = _val_count(val_size, n)
    shuffled = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    grouped = shuffled[torch.argsort(labels[shuffled], stable=True)]  # by class, random within
    _, inverse, counts = torch.unique(labels[grouped], return_inverse=True, return_counts=True)
    share = counts.double() * k / n
    quota = share.floor().long()
    leftover = k - int(quota.sum())
    quota[torch.argsort(share - quota, descending=True, stable=True)[:leftover]] += 1
    rank = torch.arange(n) - (torch.cumsum(counts, 0) - counts)[inverse]
    is_val = torch.zeros(n, dtype=torch.bool)
    is_val[grouped[rank < quota[inverse]]] = True
    return torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()


def _check_width(info: DataInfo, width: Width) -> None:
    if info.num_classes != width.num_classes:
        raise ClassCountError(
            f"The data '{info.spec}' has {info.num_classes} classes but the model width has "
            f"num_classes={width.num_classes}. Build the width from the data, e.g. "
            f"dataclasses.replace(width, num_classes=data_info(spec).num_classes).",
            data_classes=info.num_classes,
            width_classes=width.num_classes,
        )
    if width.in_chans not in (1, 3):
        raise DataError(
            f"The model width has in_chans={width.in_chans}; the data pipelines produce "
            "1 (grayscale) or 3 (RGB) channels."
        )


def load_data(
    spec: str | DataSpec,
    width: Width,
    *,
    val_size: int | float = DEFAULT_VAL_SIZE,
    seed: int = 0,
    augment: str = "none",
    download: bool = False,
    cache_bytes: int = EVAL_CACHE_BYTES,
) -> DataSplits:
    """Load a source as train / search-validation / test datasets for `width`.

    val_size: images held out of the training split for search fitness (an int count or
    a fraction); the held-out set depends only on the source, val_size and seed.
    augment: the training pipeline, one of "none", "light", "deit" (val and test always
    use the deterministic eval pipeline). Raises ClassCountError when the data's class
    count differs from width.num_classes, DataError for unusable specs or folders.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got {augment!r}")
    info = data_info(spec, download=download)
    _check_width(info, width)
    spec = info.spec
    size, chans = width.img_size, width.in_chans
    eval_tf = eval_transform(size, chans, info.mean, info.std, src_size=info.image_size)
    train_tf = train_transform(augment, size, chans, info.mean, info.std, src_size=info.image_size)

    if spec.scheme == "imagefolder":
        train_folder, test_folder = _image_folder(spec, "train"), _image_folder(spec, "val")
        train_idx, val_idx = split_train_val(train_folder.targets, val_size, seed)
        train: Dataset = FolderSubset(train_folder, train_idx.tolist(), train_tf)
        val: Dataset = FolderSubset(train_folder, val_idx.tolist(), eval_tf)
        test: Dataset = FolderSubset(test_folder, range(len(test_folder)), eval_tf)
    else:
        if spec.scheme == "builtin":
            arrays = _builtin_arrays()
        elif spec.scheme == "fashion-mnist":
            arrays = _fashion_arrays(spec.path.resolve())
        else:
            arrays = _cifar_arrays(spec, download)
        train_idx, val_idx = split_train_val(arrays.train_labels, val_size, seed)

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
) -> DataLoader:
    """A DataLoader whose order depends only on `seed` (a private torch.Generator).

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
    "TensorImageDataset",
    "data_info",
    "load_data",
    "make_loader",
    "parse_spec",
    "split_train_val",
]
