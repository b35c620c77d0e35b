"""Plain descriptions of GLiT networks: the backbone width and one `BlockArch` per block.

Everything else in the plugin (modules, supernet, cost model) works on these
descriptions, so this module stays free of torch: the search strategies and the cost
model can use it without paying for a torch import.

Head counts are expressed in thirds: `BlockArch.global_thirds` in 0..3 says how many
thirds of a block's heads are global (self-attention); the rest are local (convolution).
With N heads and embedding dim D, the leading `D * thirds / 3` channels go to the
global path and the trailing channels to the local path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oneshot.shapes import PatchGrid

FFN_ACTIVATIONS = ("gelu", "swish")


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

    @property
    def head_channels(self) -> int:
        return self.embed_dim // self.num_heads


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
    all-global block, the qkv ratio of an all-local one) are carried but ignored."""

    global_thirds: int
    kernel: int = 31
    expansion: int = 1
    qkv_ratio: float = 1.0
    ffn_ratio: float = 4

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

    @property
    def has_global(self) -> bool:
        return self.global_thirds > 0

    @property
    def has_local(self) -> bool:
        return self.global_thirds < 3

    def global_heads(self, width: Width) -> int:
        return width.num_heads * self.global_thirds // 3

    def global_channels(self, width: Width) -> int:
        """C_g: the leading channels handled by self-attention."""
        return width.embed_dim * self.global_thirds // 3

    def local_channels(self, width: Width) -> int:
        """C_l: the trailing channels handled by the convolution path."""
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

    def check(self, arch: BlockArch, where: str = "block") -> None:
        """Raise a ValueError naming the field if `arch` needs more weights than allocated."""
        limits = (
            ("kernel", arch.kernel, self.max_kernel),
            ("expansion", arch.expansion, self.max_expansion),
            ("qkv_ratio", arch.qkv_ratio, self.max_qkv_ratio),
            ("ffn_ratio", arch.ffn_ratio, self.max_ffn_ratio),
        )
        for name, value, limit in limits:
            if value > limit:
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
