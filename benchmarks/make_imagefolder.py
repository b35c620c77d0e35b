"""Write the built-in images as an ImageNet-style folder of JPEGs (issue 24, item 4).

`gpu_check.sh` needs `imagefolder:` data to exercise what users run on GPUs: JPEG
decoding, the DeiT augmentation pipeline and loader workers. No image set can be
downloaded there, so this makes one from the embedded Fashion-MNIST subset: each 28 px
grey image upsampled (bicubic) to `--size` px, saved as an RGB JPEG in

    OUT/train/NN-CLASS/*.jpg   from the subset's training images
    OUT/val/NN-CLASS/*.jpg     from its test images (archsearch's test split)

The `NN-` prefix keeps the folder order (ImageFolder's labels) equal to the original
labels. A class has 800 training and 200 test images; asking for more repeats them,
mirrored on every other pass, which is enough for throughput checks (not for accuracy).
The classes are written in parallel processes.

    python benchmarks/make_imagefolder.py --out DIR [--per-class-train 20]
        [--per-class-val 10] [--size 224] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from oneshot.sources import FASHION_MNIST_CLASSES, _builtin_npz


def class_folder(label: int) -> str:
    """E.g. "00-t-shirt-top": sortable, no characters a file system dislikes."""
    name = re.sub(r"[^a-z0-9]+", "-", FASHION_MNIST_CLASSES[label].lower()).strip("-")
    return f"{label:02d}-{name}"


def write_class(folder: Path, images: np.ndarray, count: int, size: int, quality: int) -> int:
    """Write `count` JPEGs of `images` (uint8, N x 28 x 28) upsampled to `size` px."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        passes, index = divmod(i, len(images))
        image = Image.fromarray(images[index])  # 2-D uint8: mode "L"
        if passes % 2:
            image = ImageOps.mirror(image)
        image = image.resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
        image.save(folder / f"{i:05d}.jpg", quality=quality)
    return count


def make_imagefolder(
    out: Path, per_class: dict[str, int], size: int, quality: int = 90, workers: int = 1
) -> int:
    """Write both splits (`per_class`: split -> images per class); the images written."""
    arrays = _builtin_npz()
    sources = {"train": "train", "val": "test"}  # our val/ is archsearch's test split
    jobs = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for split, count in per_class.items():
            images, labels = arrays[f"{sources[split]}_images"], arrays[f"{sources[split]}_labels"]
            for label in np.unique(labels):
                folder = out / split / class_folder(int(label))
                chosen = images[labels == label]
                jobs.append(pool.submit(write_class, folder, chosen, count, size, quality))
        return sum(job.result() for job in jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    parser.add_argument("--per-class-train", type=int, default=20)
    parser.add_argument("--per-class-val", type=int, default=10)
    parser.add_argument("--size", type=int, default=224, help="side of the images in pixels")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if min(args.per_class_train, args.per_class_val, args.size) < 1:
        parser.error("--per-class-train, --per-class-val and --size must be at least 1")
    start = time.perf_counter()
    per_class = {"train": args.per_class_train, "val": args.per_class_val}
    written = make_imagefolder(args.out, per_class, args.size, args.quality, args.workers)
    seconds = time.perf_counter() - start
    print(
        f"wrote {written:,} JPEGs of {args.size} px ({args.per_class_train} train and "
        f"{args.per_class_val} val per class, {len(FASHION_MNIST_CLASSES)} classes) to "
        f"{args.out} in {seconds:.1f} s "
        f"({written / seconds:,.0f} images/s, {args.workers} processes)"
    )


if __name__ == "__main__":
    main()
