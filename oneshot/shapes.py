"""Torch-free facts shared by the ViT spaces' descriptions and cost models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates for one image, and trainable parameters."""

    macs: int
    params: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params)

    def as_dict(self) -> dict[str, float]:
        return {"macs": float(self.macs), "params": float(self.params)}


class PatchGrid:
    """Token counts of a ViT width (a mixin for dataclasses with img_size, patch_size)."""

    img_size: int
    patch_size: int

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        """Patches plus the class token: the sequence length every block sees."""
        return self.num_patches + 1
