"""Plain descriptions of GLiT networks: the backbone width and one `BlockArch` per block.

Everything else in the plugin (modules, supernet, cost model) works on these
descriptions, so this module stays free of torch: the search strategies and the cost
model can use it without paying for a torch import.

Head counts are expressed in thirds: `BlockArch.global_thirds` in 0..3 says how many
thirds of a block's heads are global (self-attention); the rest are local. With N heads
and embedding dim D, the leading `D * thirds / 3` channels go to the global path and the
trailing channels to the local path.

The local sub-module is the width's `locality` (the paper's Table 6 compares three):
- "conv1d" (the paper's choice, the default): pointwise + GLU, depthwise 1-D
  convolution of `kernel` taps along the token sequence (class token included),
  BatchNorm, Swish, pointwise;
- "conv2d": the same with a `kernel` x `kernel` depthwise convolution on the square
  grid of patch tokens; the network then has no class token and reads out the average
  of its tokens;
- "local-attention": self-attention of the local heads inside windows of `area`
  consecutive patch tokens (see `local_areas`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from oneshot.shapes import PatchGrid

FFN_ACTIVATIONS = ("gelu", "swish")
LOCALITIES = ("conv1d", "conv2d", "local-attention")
#: the BlockArch fields that size each locality's local sub-module
LOCAL_FIELDS = {
    "conv1d": ("kernel", "expansion"),
    "conv2d": ("kernel", "expansion"),
    "local-attention": ("area",),
}


def _check_positive_int(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")


def _exact_int(value: float, what: str) -> int:
    """Turn a product like `channels * ratio` into an int, refusing fractional results."""
    if not float(value).is_integer():
        raise ValueError(f"{what} = {value} is not a whole number of channels")
    return int(value)


@dataclass(frozen=True)
class Width(PatchGrid):
    """The fixed backbone shared by every candidate of a search: sizes, depth and input."""

    embed_dim: int
    num_heads: int
    depth: int
    img_size: int
    patch_size: int
    in_chans: int = 3
    num_classes: int = 1000
    ffn_act: str = "gelu"
    locality: str = "conv1d"

    def __post_init__(self) -> None:
        for name in (
            "embed_dim",
            "num_heads",
            "depth",
            "img_size",
            "patch_size",
            "in_chans",
            "num_classes",
        ):
            _check_positive_int("Width", name, getattr(self, name))
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"Width.embed_dim ({self.embed_dim}) must be divisible by "
                f"num_heads ({self.num_heads})"
            )
        if self.num_heads % 3:
            raise ValueError(
                f"Width.num_heads ({self.num_heads}) must be divisible by 3: the global/local "
                "distribution is counted in thirds of the heads"
            )
        if self.img_size % self.patch_size:
            raise ValueError(
                f"Width.img_size ({self.img_size}) must be divisible by "
                f"patch_size ({self.patch_size})"
            )
        if self.ffn_act not in FFN_ACTIVATIONS:
            raise ValueError(
                f"Width.ffn_act must be one of {FFN_ACTIVATIONS}, got {self.ffn_act!r}"
            )
        if self.locality not in LOCALITIES:
            raise ValueError(
                f"unknown GLiT locality {self.locality!r}; allowed: {', '.join(LOCALITIES)}"
            )
        if self.locality == "local-attention":
            local_areas(self)  # refuses a width whose patch tokens no area tiles

    @property
    def head_channels(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def class_token(self) -> bool:
        """Conv2d needs the tokens to be a square grid: no class token there."""
        return self.locality != "conv2d"

    @property
    def num_tokens(self) -> int:
        """The sequence every block sees: the patches, plus the class token if any."""
        return self.num_patches + int(self.class_token)

    @property
    def grid_size(self) -> int:
        """Side of the square grid of patch tokens."""
        return self.img_size // self.patch_size


def local_areas(width: Width) -> tuple[int, ...]:
    """Window sizes (in tokens) local attention may use at this width.

    The paper's areas, 14, 28 and 49 of the 196 patch tokens at 224 px, are 1/14, 1/7
    and 1/4 of them. The rule: every window size that tiles the row-major sequence of
    patch tokens into whole, equal windows and holds from 1/14 to 1/4 of them. At 196
    tokens (the tiny, small and base widths) that is exactly (14, 28, 49); at the cpu
    width's 49 tokens only 7 (one row of the 7 x 7 grid), so the area is not searched
    there (patch_size=2 gives 196 tokens at 28 px). A width with no such size is refused.
    """
    tokens = width.num_patches
    areas = tuple(a for a in range(2, tokens) if tokens % a == 0 and 14 * a >= tokens >= 4 * a)
    if not areas:
        raise ValueError(
            f"local attention needs a window size that divides the {tokens} patch tokens "
            "and holds from 1/14 to 1/4 of them; this width has none (196 tokens give the "
            "paper's 14, 28, 49)"
        )
    return areas


WIDTHS: dict[str, Width] = {
    "tiny": Width(embed_dim=192, num_heads=3, depth=12, img_size=224, patch_size=16),
    "small": Width(embed_dim=384, num_heads=6, depth=12, img_size=224, patch_size=16),
    "base": Width(embed_dim=768, num_heads=12, depth=12, img_size=224, patch_size=16),
    # Small enough to train on a laptop CPU (MNIST-sized inputs); used by demos and tests.
    "cpu": Width(
        embed_dim=96, num_heads=3, depth=4, img_size=28, patch_size=4, in_chans=1, num_classes=10
    ),
}


@dataclass(frozen=True)
class BlockArch:
    """One global-local block. Fields that a block does not use (the kernel of an
    all-global block, the qkv ratio of an all-local one, the area under a convolution
    locality, the kernel and expansion under local attention) are carried but ignored
    (`used_fields`). `kernel` is the Conv1d's taps or the Conv2d's side; `area` the
    local-attention window in tokens (0: none)."""

    global_thirds: int
    kernel: int = 31
    expansion: int = 1
    qkv_ratio: float = 1.0
    ffn_ratio: float = 4
    area: int = 0

    def __post_init__(self) -> None:
        g = self.global_thirds
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g <= 3:
            raise ValueError(f"BlockArch.global_thirds must be an int in 0..3, got {g!r}")
        _check_positive_int("BlockArch", "kernel", self.kernel)
        if self.kernel % 2 == 0:
            raise ValueError(
                f"BlockArch.kernel must be odd so that 'same' padding keeps the token count, "
                f"got {self.kernel}"
            )
        _check_positive_int("BlockArch", "expansion", self.expansion)
        for name in ("qkv_ratio", "ffn_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"BlockArch.{name} must be a positive number, got {value!r}")
        if isinstance(self.area, bool) or not isinstance(self.area, int) or self.area < 0:
            raise ValueError(f"BlockArch.area must be an int >= 0, got {self.area!r}")

    @property
    def has_global(self) -> bool:
        return self.global_thirds > 0

    @property
    def has_local(self) -> bool:
        return self.global_thirds < 3

    def global_heads(self, width: Width) -> int:
        return width.num_heads * self.global_thirds // 3

    def local_heads(self, width: Width) -> int:
        return width.num_heads - self.global_heads(width)

    def used_fields(self, locality: str = "conv1d") -> tuple[str, ...]:
        """The fields that size this block under a locality, in key order."""
        local = LOCAL_FIELDS[locality] if self.has_local else ()
        qkv = ("qkv_ratio",) if self.has_global else ()
        return ("global_thirds", *local, *qkv, "ffn_ratio")

    def global_channels(self, width: Width) -> int:
        """C_g: the leading channels handled by self-attention."""
        return width.embed_dim * self.global_thirds // 3

    def local_channels(self, width: Width) -> int:
        """C_l: the trailing channels handled by the local path."""
        return width.embed_dim - self.global_channels(width)

    def qkv_channels(self, width: Width) -> int:
        """Width of each of q, k and v (C_g * qkv_ratio); 0 for an all-local block."""
        return _exact_int(self.global_channels(width) * self.qkv_ratio, "C_g * qkv_ratio")

    def conv_channels(self, width: Width) -> int:
        """Channels inside the local path after the GLU (E * C_l); 0 for all-global."""
        return self.expansion * self.local_channels(width)

    def ffn_hidden(self, width: Width) -> int:
        return _exact_int(width.embed_dim * self.ffn_ratio, "embed_dim * ffn_ratio")

    def validate(self, width: Width) -> None:
        """Check that every derived size is a whole number for this width."""
        self.ffn_hidden(width)
        if self.has_global:
            heads = self.global_heads(width)
            qkv = self.qkv_channels(width)
            if qkv % heads:
                raise ValueError(
                    f"C_g * qkv_ratio = {qkv} is not divisible by the {heads} global heads "
                    f"(qkv_ratio={self.qkv_ratio}, width {width.embed_dim}/{width.num_heads})"
                )
        tokens = width.num_patches
        windows = self.has_local and width.locality == "local-attention"
        if windows and (not 0 < self.area <= tokens or tokens % self.area):
            raise ValueError(
                f"area={self.area} does not split the {tokens} patch tokens into whole "
                "local-attention windows"
            )


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(BlockArch) if f.name != "global_thirds"}


def canonical_block(arch: BlockArch, locality: str = "conv1d") -> BlockArch:
    """`arch` with the fields it ignores pinned to BlockArch's defaults: equal blocks
    give equal results."""
    used = arch.used_fields(locality)
    return dataclasses.replace(arch, **{k: v for k, v in _DEFAULTS.items() if k not in used})


@dataclass(frozen=True)
class SupernetBounds:
    """Largest detail options the weight-sharing supernet allocates weights for."""

    max_kernel: int = 45
    max_expansion: int = 4
    max_qkv_ratio: float = 2.0
    max_ffn_ratio: float = 6.0

    def __post_init__(self) -> None:
        _check_positive_int("SupernetBounds", "max_kernel", self.max_kernel)
        if self.max_kernel % 2 == 0:
            raise ValueError(f"SupernetBounds.max_kernel must be odd, got {self.max_kernel}")
        _check_positive_int("SupernetBounds", "max_expansion", self.max_expansion)
        for name in ("max_qkv_ratio", "max_ffn_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"SupernetBounds.{name} must be a positive number, got {value!r}")

    def check(self, arch: BlockArch, where: str = "block", locality: str = "conv1d") -> None:
        """Raise a ValueError naming the field if `arch` needs more weights than allocated
        (fields the block ignores under `locality` need none)."""
        used = arch.used_fields(locality)
        limits = (
            ("kernel", arch.kernel, self.max_kernel),
            ("expansion", arch.expansion, self.max_expansion),
            ("qkv_ratio", arch.qkv_ratio, self.max_qkv_ratio),
            ("ffn_ratio", arch.ffn_ratio, self.max_ffn_ratio),
        )
        for name, value, limit in limits:
            if name in used and value > limit:
                raise ValueError(
                    f"{where}: {name}={value} exceeds the supernet maximum {name}<={limit}"
                )


DEFAULT_BOUNDS = SupernetBounds()


def check_blocks(width: Width, blocks: Sequence[BlockArch]) -> tuple[BlockArch, ...]:
    """Validate a block list against a width and return it as a tuple."""
    blocks = tuple(blocks)
    if len(blocks) != width.depth:
        raise ValueError(f"expected {width.depth} blocks for this width, got {len(blocks)}")
    for i, arch in enumerate(blocks):
        if not isinstance(arch, BlockArch):
            raise ValueError(f"block {i}: expected a BlockArch, got {type(arch).__name__}")
        try:
            arch.validate(width)
        except ValueError as err:
            raise ValueError(f"block {i}: {err}") from None
    return blocks


def deit_blocks(width: Width) -> tuple[BlockArch, ...]:
    """The plain DeiT/ViT network: every head global, qkv ratio 1, FFN ratio 4."""
    return tuple(BlockArch(global_thirds=3, qkv_ratio=1.0, ffn_ratio=4) for _ in range(width.depth))


# The published searched GLiT-Tiny (7,264,456 parameters at the "tiny" width).
GLIT_TINY_BLOCKS: tuple[BlockArch, ...] = (
    BlockArch(3, qkv_ratio=0.5, ffn_ratio=4),
    BlockArch(0, kernel=31, expansion=2),
    BlockArch(1, expansion=4, ffn_ratio=6),
    BlockArch(3, qkv_ratio=1.0, ffn_ratio=4),
    BlockArch(0, kernel=45, expansion=4),
    BlockArch(1, expansion=4, ffn_ratio=6),
    BlockArch(3, qkv_ratio=1.0, ffn_ratio=2),
    BlockArch(1, expansion=4, ffn_ratio=2),
    BlockArch(0, kernel=45, expansion=4),
    BlockArch(3, qkv_ratio=1.0, ffn_ratio=4),
    BlockArch(0, kernel=31, expansion=4),
    BlockArch(3, qkv_ratio=2.0, ffn_ratio=6),
)
