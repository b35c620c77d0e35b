"""Image pipelines (torchvision transforms.v2) for training and evaluating GLiT networks.

Every pipeline takes a PIL image or a uint8 tensor (C, H, W) — or a batch (N, C, H, W),
which lets the in-memory datasets precompute a deterministic pipeline in one pass — and
returns a float32 tensor shaped for the model: `in_chans` channels of `img_size` pixels,
normalised with the dataset's statistics. Channel conversion (grayscale <-> RGB) happens
here so that one model width can run on any source.

- `eval_transform`: the deterministic pipeline for validation and test (and for training
  with `augment="none"`).
- `train_transform(augment, ...)`: `"none"`, `"light"` (small grayscale sets: padded
  random crop, horizontal flip, random erasing) or `"deit"` (the DeiT recipe for
  ImageNet-like data: random resized crop, flip, RandAugment m9, random erasing 0.25).
- `mixup_cutmix`: the DeiT batch-level MixUp / CutMix, applied after the loader.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

AUGMENTS = ("none", "light", "deit")

# DeiT evaluates ImageNet-like images by resizing to img_size / 0.875 and centre-cropping.
EVAL_CROP_PCT = 0.875
# Weights torchvision's rgb_to_grayscale uses; statistics are converted with the same ones.
_LUMA = (0.2989, 0.587, 0.114)

Stats = tuple[float, ...]


def _check_chans(in_chans: int) -> None:
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 (grayscale) or 3 (RGB), got {in_chans}")


def adapt_stats(mean: Sequence[float], std: Sequence[float], in_chans: int) -> tuple[Stats, Stats]:
    """Per-channel mean/std for `in_chans` channels from a source's own statistics.

    Grayscale statistics are repeated for RGB; RGB statistics are mixed with the luma
    weights for grayscale (exact for the mean, a close approximation for the std).
    """
    _check_chans(in_chans)
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != len(std) or len(mean) not in (1, 3):
        raise ValueError(f"mean {mean} and std {std} must both have 1 or 3 entries")
    if len(mean) == in_chans:
        return mean, std
    if in_chans == 3:
        return mean * 3, std * 3
    return (sum(w * m for w, m in zip(_LUMA, mean)),), (sum(w * s for w, s in zip(_LUMA, std)),)


def _to_channels(in_chans: int) -> v2.Transform:
    """Grayscale(1) leaves 1-channel input alone; RGB() leaves 3-channel input alone."""
    return v2.Grayscale(num_output_channels=1) if in_chans == 1 else v2.RGB()


def _resize(img_size: int, src_size: int | None) -> list[v2.Transform]:
    if src_size == img_size:
        return []
    if src_size is not None:  # square in-memory images: scale straight to the model size
        return [v2.Resize((img_size, img_size), interpolation=InterpolationMode.BICUBIC)]
    return [
        v2.Resize(round(img_size / EVAL_CROP_PCT), interpolation=InterpolationMode.BICUBIC),
        v2.CenterCrop(img_size),
    ]


def _finish(mean: Stats, std: Stats) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]


def eval_transform(
    img_size: int,
    in_chans: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    src_size: int | None = None,
    normalize: bool = True,
) -> v2.Compose:
    """Deterministic pipeline: channels, resize, float in [0, 1], normalise.

    With `normalize=False` it stops at the resized uint8 image, a quarter of the
    float's bytes, for images kept on the device; `Normalise` finishes it there.

    `src_size` is the side of square source images (28 for Fashion-MNIST, 32 for CIFAR);
    None means images of any size (folders), resized to img_size / 0.875 and centre-cropped.
    `mean`/`std` are the source's statistics; they are converted to `in_chans` channels.
    """
    mean, std = adapt_stats(mean, std, in_chans)
    # Shrink channels before resizing and grow them after: the resize then does less work.
    steps: list[v2.Transform] = [v2.ToImage()]
    if in_chans == 1:
        steps.append(_to_channels(1))
    steps += _resize(img_size, src_size)
    if in_chans == 3:
        steps.append(_to_channels(3))
    finish = _finish(mean, std) if normalize else []
    return v2.Compose([*steps, *finish, v2.ToPureTensor()])


class Normalise:
    """The end of `eval_transform` (float in [0, 1], then the statistics) for a uint8
    batch on any device: the same operations, so the same values, as the pipeline."""

    def __init__(self, in_chans: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = (list(stats) for stats in adapt_stats(mean, std, in_chans))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = F.to_dtype(images, torch.float32, scale=True)
        return F.normalize(images, self.mean, self.std)


def train_transform(
    augment: str,
    img_size: int,
    in_chans: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    src_size: int | None = None,
) -> v2.Compose:
    """Training pipeline by name (one of AUGMENTS); arguments as for `eval_transform`.

    "light" suits small, low-resolution sets where heavy augmentation hurts: a random crop
    with 1/7 padding (4 px at 28 px), horizontal flip and random erasing (p=0.25).
    "deit" is the DeiT/GLiT retraining recipe; MixUp/CutMix are batch-level, see
    `mixup_cutmix`.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got {augment!r}")
    if augment == "none":
        return eval_transform(img_size, in_chans, mean, std, src_size=src_size)
    mean, std = adapt_stats(mean, std, in_chans)
    steps: list[v2.Transform] = [v2.ToImage()]
    if augment == "light":
        if in_chans == 1:
            steps.append(_to_channels(1))
        if src_size is None:
            steps.append(
                v2.RandomResizedCrop(
                    img_size, scale=(0.35, 1.0), interpolation=InterpolationMode.BICUBIC
                )
            )
        else:
            steps.append(v2.RandomCrop(src_size, padding=max(1, src_size // 7)))
        steps.append(v2.RandomHorizontalFlip())
        if src_size is not None:
            steps += _resize(img_size, src_size)
        if in_chans == 3:
            steps.append(_to_channels(3))
        steps += _finish(mean, std)
        steps.append(v2.RandomErasing(p=0.25, value=0.0))
    else:  # deit
        steps += [
            v2.RandomResizedCrop(img_size, interpolation=InterpolationMode.BICUBIC),
            v2.RandomHorizontalFlip(),
            # RandAugment works on uint8 and must see the model's channels (colour ops).
            _to_channels(in_chans),
            v2.RandAugment(num_ops=2, magnitude=9, interpolation=InterpolationMode.BILINEAR),
            *_finish(mean, std),
            v2.RandomErasing(p=0.25, value="random"),
        ]
    return v2.Compose([*steps, v2.ToPureTensor()])


def mixup_cutmix(
    num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0
) -> v2.Transform | None:
    """Batch-level MixUp or CutMix (one chosen at random per batch), as in DeiT.

    Call it on a collated batch: `images, targets = mix(images, labels)` turns int64
    labels (B,) into soft targets (B, num_classes). Returns None when both alphas are 0,
    so callers can skip it with a plain `if`.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ValueError(
            f"mixup_alpha and cutmix_alpha must be >= 0, got {mixup_alpha} and {cutmix_alpha}"
        )
    choices: list[v2.Transform] = []
    if mixup_alpha > 0:
        choices.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        choices.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if not choices:
        return None
    return choices[0] if len(choices) == 1 else v2.RandomChoice(choices)
