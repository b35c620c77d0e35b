"""The AutoFormer space plugin: weight-entangled ViT supernets (ICCV 2021).

Space definition, published presets, analytic cost model (MACs and parameters),
standalone modules and the weight-entangled supernet. Importing this package does not
import torch; building modules does.
"""

from autoformer_space.config import WIDTHS, Arch, BlockArch, Width
from autoformer_space.plugin import AutoFormerPlugin
from autoformer_space.presets import PRESETS, PUBLISHED
from autoformer_space.space import arch_of, autoformer_space, decode_batch, genotype_of

__all__ = [
    "PRESETS",
    "PUBLISHED",
    "WIDTHS",
    "Arch",
    "AutoFormerPlugin",
    "BlockArch",
    "Width",
    "arch_of",
    "autoformer_space",
    "decode_batch",
    "genotype_of",
]
