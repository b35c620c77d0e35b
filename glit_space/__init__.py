"""The GLiT space plugin: global-local vision transformers (ICCV 2021).

Space definition and presets, modules, weight-sharing supernet, analytic cost model
(MACs and parameters), and the BatchNorm recalibration used under weight sharing; the
width's `locality` chooses the local sub-module (the paper's Table 6: conv1d, conv2d,
local-attention).
Importing this package does not import torch; building modules does.
"""

from glit_space.config import LOCALITIES, WIDTHS, BlockArch, SupernetBounds, Width, local_areas
from glit_space.plugin import GlitPlugin, load_preset
from glit_space.presets import PRESETS
from glit_space.space import VARIANTS, blocks_of, genotype_of, glit_space

__all__ = [
    "LOCALITIES",
    "PRESETS",
    "VARIANTS",
    "WIDTHS",
    "BlockArch",
    "GlitPlugin",
    "SupernetBounds",
    "Width",
    "blocks_of",
    "genotype_of",
    "glit_space",
    "load_preset",
    "local_areas",
]
