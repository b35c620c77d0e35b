"""Plain descriptions of AutoFormer supernets and networks (no torch).

A `Width` is what a search fixes: the option ranges (embedding dims, depths, MLP ratios,
head counts) and the input/output geometry. An `Arch` is one network of it: an
embedding dim shared by every block and, per block, an MLP ratio and a head count.
The modules, the supernet and the cost model all work on these two, so the search side
never needs torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from oneshot.shapes import PatchGrid

RANGE_FIELDS = ("embed_dims", "depths", "mlp_ratios", "heads")


def _positive_int(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")


def _options(name: str, values: Iterable, kind: type) -> tuple:
    """A sorted tuple of distinct positive values (lists from JSON configs accepted)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"Width.{name} must be a sequence of options, got {values!r}")
    values = tuple(values)
    if not values:
        raise ValueError(f"Width.{name} needs at least one option")
    for v in values:
        bad_type = isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int)
        if bad_type or v <= 0:
            raise ValueError(f"Width.{name} options must be positive {kind.__name__}s, got {v!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"Width.{name} has duplicate options: {values!r}")
    return tuple(sorted(kind(v) for v in values))


@dataclass(frozen=True)
class BlockArch:
    """One transformer block: FFN hidden = mlp_ratio * embed_dim, q/k/v = heads * head_dim."""

    mlp_ratio: float
    heads: int


@dataclass(frozen=True)
class Arch:
    """One AutoFormer network: the embedding dim and its blocks (depth = len(blocks))."""

    embed_dim: int
    blocks: tuple[BlockArch, ...]

    @property
    def depth(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class Width(PatchGrid):
    """A supernet: the searched ranges plus the fixed input, classes and head size.

    `head_dim` is 64 in AutoFormer (q/k/v width = 64 x heads, independent of the
    embedding dim); small widths may use less.
    """

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    heads: tuple[int, ...]
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    head_dim: int = 64

    def __post_init__(self) -> None:
        for name in RANGE_FIELDS:
            kind = float if name == "mlp_ratios" else int
            object.__setattr__(self, name, _options(name, getattr(self, name), kind))
        for f in fields(self):
            if f.name not in RANGE_FIELDS:
                _positive_int("Width", f.name, getattr(self, f.name))
        if self.img_size % self.patch_size:
            raise ValueError(
                f"Width.img_size ({self.img_size}) must be divisible by "
                f"patch_size ({self.patch_size})"
            )
        for d in self.embed_dims:
            for r in self.mlp_ratios:
                if not float(d * r).is_integer():
                    raise ValueError(
                        f"embed dim {d} x mlp ratio {r} = {d * r} is not a whole number of "
                        "hidden units; pick ratios that fit every embed dim"
                    )

    @property
    def max_embed_dim(self) -> int:
        return self.embed_dims[-1]

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    @property
    def max_qkv(self) -> int:
        return self.heads[-1] * self.head_dim

    @property
    def max_hidden(self) -> int:
        return hidden_units(self.max_embed_dim, self.mlp_ratios[-1])

    def largest(self) -> Arch:
        """The network that uses every weight of the supernet."""
        block = BlockArch(self.mlp_ratios[-1], self.heads[-1])
        return Arch(self.max_embed_dim, (block,) * self.max_depth)

    def check(self, arch: Arch) -> Arch:
        """Raise a ValueError naming the field if `arch` is not a network of this width."""
        if not isinstance(arch, Arch):
            raise ValueError(f"expected an Arch, got {type(arch).__name__}")
        _member("embed_dim", arch.embed_dim, self.embed_dims)
        _member("depth", arch.depth, self.depths)
        for i, block in enumerate(arch.blocks):
            if not isinstance(block, BlockArch):
                raise ValueError(f"block {i}: expected a BlockArch, got {type(block).__name__}")
            _member(f"block {i}: mlp_ratio", block.mlp_ratio, self.mlp_ratios)
            _member(f"block {i}: heads", block.heads, self.heads)
        return arch


def _member(what: str, value: object, allowed: tuple) -> None:
    if isinstance(value, bool) or value not in allowed:
        options = ", ".join(str(a) for a in allowed)
        raise ValueError(f"{what} = {value!r} is not an option of this width; allowed: {options}")


def hidden_units(embed_dim: int, mlp_ratio: float) -> int:
    """FFN width; exact because `Width` only admits ratios giving whole numbers."""
    return round(embed_dim * mlp_ratio)


_RATIOS = (3.0, 3.5, 4.0)

#: Supernet ranges of the paper's Table 1 and the official experiments/supernet/*.yaml;
#: see `autoformer_space.presets` for Tiny's MLP ratios and Base's head counts.
WIDTHS: dict[str, Width] = {
    "tiny": Width((192, 216, 240), (12, 13, 14), _RATIOS, (3, 4)),
    "small": Width((320, 384, 448), (12, 13, 14), _RATIOS, (5, 6, 7)),
    "base": Width((528, 576, 624), (14, 15, 16), _RATIOS, (8, 9, 10)),
    # Fashion-MNIST sized (28x28 grey, 10 classes): trains in a minute or two on 2 CPU cores.
    "cpu": Width(
        (48, 56, 64),
        (3, 4),
        (2.0, 3.0, 4.0),
        (2, 3),
        img_size=28,
        patch_size=4,
        in_chans=1,
        num_classes=10,
        head_dim=16,
    ),
}
