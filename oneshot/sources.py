"""Data sources by spec string: what `SCHEME:LOCATION` names and where its images are.

    builtin:fashion-mnist   the embedded Fashion-MNIST subset (the default; no download)
    fashion-mnist:DIR       the full Fashion-MNIST from its IDX files (.gz or not)
    cifar10:DIR             torchvision's CIFAR-10 layout (DIR/cifar-10-batches-py)
    cifar100:DIR            torchvision's CIFAR-100 layout (DIR/cifar-100-python)
    imagefolder:DIR         ImageNet layout: DIR/train/<class>/* and DIR/val/<class>/*

Every problem with a spec or its folder is a `DataError` that names the spec, the
folder and what was expected. Nothing is downloaded unless `download=True` is passed.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from archspace.plugin import DEFAULT_DATA
from oneshot.data.rebuild_fashion_mnist import find_idx_files, load_idx_folder

if TYPE_CHECKING:
    import torch
    from torch.utils.data import Dataset
    from torchvision import datasets as tv_datasets

# torch and torchvision are imported where images are read, not here: a spec is checked
# (and a bad command line refused) in a fraction of a second, before torch loads

SCHEMES = ("builtin", "fashion-mnist", "cifar10", "cifar100", "imagefolder")
BUILTINS = ("fashion-mnist",)

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
# scheme: torchvision's class name, display name, statistics, classes, its folder
_CIFAR = {
    "cifar10": ("CIFAR10", "CIFAR-10", CIFAR10_STATS, 10, "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "CIFAR-100", CIFAR100_STATS, 100, "cifar-100-python"),
}


class DataError(ValueError):
    """A data spec or data folder that cannot be used; the message names what is wrong."""


class ClassCountError(DataError):
    """The data's class count differs from the model width's `num_classes`."""

    def __init__(self, message: str, *, data_classes: int, model_classes: int) -> None:
        super().__init__(message)
        self.data_classes = data_classes
        self.model_classes = model_classes


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


# ---------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Arrays:
    """An in-memory source: uint8 (N, C, H, W) images and int64 labels for both splits."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


@functools.cache
def _builtin_npz() -> dict[str, np.ndarray]:
    """The embedded subset's arrays, read once (checking a spec and loading it share them)."""
    with resources.files("oneshot").joinpath("data", BUILTIN_FILE).open("rb") as f:
        npz = np.load(f)
        return {k: npz[k] for k in npz.files}


@functools.cache
def _builtin_arrays() -> _Arrays:
    import torch

    data = {k: torch.from_numpy(v.copy()) for k, v in _builtin_npz().items()}
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
    import torch

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
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(folder, train=train, download=True)
    mean, std = FASHION_MNIST_STATS
    return DataInfo(spec, 10, FASHION_MNIST_CLASSES, 1, 28, mean, std)


def _cifar_root(spec: DataSpec, download: bool) -> Path:
    _, name, _, _, base_folder = _CIFAR[spec.scheme]
    root = spec.path
    if root.name == base_folder and root.is_dir():  # DIR given as the extracted folder
        root = root.parent
    if download:
        return root
    get = f" Pass --download (download=True) to fetch {name} (about 170 MB) into it."
    if not root.is_dir():
        raise _missing_folder(spec, get)
    if not (root / base_folder).is_dir():
        raise DataError(
            f"Data folder {root} (from spec '{spec}') does not hold {name}: expected the "
            f"sub-folder {base_folder}/ of torchvision's layout (the python version of "
            f"the data set, extracted).{get}"
        )
    return root


def _cifar_dataset(spec: DataSpec, root: Path, train: bool, download: bool) -> Dataset:
    import torchvision.datasets

    class_name, name, _, _, base_folder = _CIFAR[spec.scheme]
    try:
        return getattr(torchvision.datasets, class_name)(root, train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted."
        raise DataError(
            f"{name} in {root / base_folder} (from spec '{spec}') is incomplete or "
            f"corrupted ({err}). Delete it and pass --download (download=True) to fetch it "
            "again."
        ) from None


def _cifar_info(spec: DataSpec, download: bool) -> DataInfo:
    _, _, (mean, std), _, _ = _CIFAR[spec.scheme]
    root = _cifar_root(spec, download)
    classes = tuple(_cifar_dataset(spec, root, False, download).classes)
    return DataInfo(spec, len(classes), classes, 3, 32, mean, std)


def _cifar_arrays(spec: DataSpec, download: bool) -> _Arrays:
    import torch

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
    from torchvision.datasets.folder import find_classes

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
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    folder = _folder_split(spec, split)
    try:
        return ImageFolder(folder)
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
        mean, std = FASHION_MNIST_STATS
        n = int(_builtin_npz()["train_labels"].max()) + 1
        return DataInfo(spec, n, FASHION_MNIST_CLASSES, 1, 28, mean, std)
    if spec.scheme == "fashion-mnist":
        return _fashion_info(spec, download)
    if spec.scheme in _CIFAR:
        return _cifar_info(spec, download)
    return _folder_info(spec)
