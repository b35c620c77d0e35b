"""Rebuild the embedded Fashion-MNIST subset from the official IDX files.

The shipped `fashion_mnist_subset.npz` must be reproducible by anyone with the original
files (Debian's `dataset-fashion-mnist` package installs them in
/usr/share/datasets/fashion-mnist), so the selection uses numpy's legacy `RandomState`
(whose stream numpy keeps frozen) and the archive is written with fixed zip timestamps
(`np.savez_compressed` stamps the current time, which would change the bytes).

    python -m oneshot.data.rebuild_fashion_mnist --out /tmp/subset.npz

This module only needs numpy; `oneshot.datasets` reuses its IDX reader.
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = Path(__file__).with_name("fashion_mnist_subset.npz")
TRAIN_PER_CLASS = 800
TEST_PER_CLASS = 200
SEED = 0
NUM_CLASSES = 10

# Official file stems; each may be stored gzipped (".gz") or not.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# A fixed zip timestamp (the earliest one zip can store) keeps the archive reproducible.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def read_idx_uint8(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped or not) into an array of its shape."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(dims)):
        raise ValueError(
            f"{path}: the header says {dims} ({int(np.prod(dims))} bytes of data) but the "
            f"file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_idx_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Locate the four IDX files in `folder` or torchvision's `folder/FashionMNIST/raw`.

    Returns the files found by key and the names of the missing ones.
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in IDX_FILES.items():
        for where in (folder, folder / "FashionMNIST" / "raw"):
            hits = [where / n for n in (stem, stem + ".gz") if (where / n).is_file()]
            if hits:
                found[key] = hits[0]
                break
        else:
            missing.append(f"{stem}[.gz]")
    return found, missing


def load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """The full Fashion-MNIST splits as uint8 arrays: images N x 28 x 28, labels N."""
    found, missing = find_idx_files(folder)
    if missing:
        raise FileNotFoundError(f"{folder} lacks the Fashion-MNIST IDX files {', '.join(missing)}")
    arrays = {key: read_idx_uint8(path) for key, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match"
            )
    return arrays


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.RandomState) -> np.ndarray:
    """`per_class` random indices of every class, returned in ascending (file) order."""
    order = rng.permutation(len(labels))
    chosen = []
    for c in range(NUM_CLASSES):
        of_class = order[labels[order] == c]
        if len(of_class) < per_class:
            raise ValueError(f"class {c} has only {len(of_class)} images, asked for {per_class}")
        chosen.append(of_class[:per_class])
    return np.sort(np.concatenate(chosen))


def build_subset(
    source: Path, train_per_class: int, test_per_class: int, seed: int = SEED
) -> dict[str, np.ndarray]:
    """Select the class-balanced subset; source indices are kept for provenance."""
    full = load_idx_folder(source)
    rng = np.random.RandomState(seed)
    out: dict[str, np.ndarray] = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        idx = balanced_indices(full[f"{split}_labels"], per_class, rng)
        out[f"{split}_images"] = np.ascontiguousarray(full[f"{split}_images"][idx])
        out[f"{split}_labels"] = np.ascontiguousarray(full[f"{split}_labels"][idx])
        out[f"{split}_source_index"] = idx.astype(np.uint16)
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a deflated .npz (what `np.savez_compressed` makes) with fixed timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m oneshot.data.rebuild_fashion_mnist",
        description="Rebuild the embedded class-balanced Fashion-MNIST subset (.npz).",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=DEBIAN_DIR,
        help=f"folder with the official IDX files, .gz or not (default: {DEBIAN_DIR})",
    )
    parser.add_argument(
        "--train-per-class",
        type=int,
        default=TRAIN_PER_CLASS,
        help="images per class from the official train split",
    )
    parser.add_argument(
        "--test-per-class",
        type=int,
        default=TEST_PER_CLASS,
        help="images per class from the official test split",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="selection seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args(argv)
    try:
        arrays = build_subset(args.source, args.train_per_class, args.test_per_class, args.seed)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    write_npz(args.out, arrays)
    size = args.out.stat().st_size
    print(
        f"wrote {args.out}: {len(arrays['train_labels'])} train and "
        f"{len(arrays['test_labels'])} test images, {size:,} bytes ({size / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
