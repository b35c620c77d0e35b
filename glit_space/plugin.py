"""`GlitPlugin`: the GLiT space registered as `glit` (entry point `archsearch.spaces`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from archspace import Genotype, GenotypeError, Space
from glit_space import cost as cost_model
from glit_space.config import WIDTHS, BlockArch, SupernetBounds, Width, local_areas
from glit_space.presets import PRESETS, preset_blocks, preset_width
from glit_space.space import (
    EXPANSIONS,
    FFN_RATIOS,
    KERNELS,
    KERNELS_2D,
    QKV_RATIOS,
    VARIANTS,
    block_arrays,
    block_fields,
    blocks_of,
    check_width,
    genotype_of,
    glit_space,
)
from oneshot.interface import ModelInput
from oneshot.plugin import OneShotPlugin
from oneshot.widths import WidthFamily

#: GLiT's widths and how `width`, `variant` and the width fields configure the plugin
FAMILY = WidthFamily(
    "GLiT", WIDTHS, "(or override embed_dim, num_heads, depth, ...)", other_options=("variant",)
)


class GlitPlugin(OneShotPlugin):
    """Global-local vision transformers (GLiT, ICCV 2021): space, cost model, supernet.

    Costs are multiply-accumulates ("FLOPs" in the DeiT and GLiT papers are MACs) and
    parameters, computed analytically; they equal what torch's FlopCounterMode (its
    FLOPs / 2) and the built module's parameter count measure.

    The width field `locality` (`--set space.locality=conv2d`) picks the local
    sub-module the paper's Table 6 compares: conv1d (default), conv2d or local-attention
    (`glit_space.config`); the other localities search the paper variant's space.
    """

    name: ClassVar[str] = "glit"
    summary: ClassVar[str] = "GLiT global-local vision transformers (ICCV 2021, Table 2)"
    metrics: ClassVar[tuple[str, ...]] = ("macs", "params")

    def __init__(self, width: str | Width = "tiny", variant: str = "paper", **overrides: Any):
        if isinstance(width, str):
            self.width_name, self.width = width, FAMILY.resolve(width, overrides)
        else:
            self.width_name, self.width = "custom", FAMILY.override(width, overrides)
        self._base_width = width if isinstance(width, str) else "tiny"  # fields override it
        sizes = {k: v for k, v in overrides.items() if k != "locality"}
        if self.width_name != "custom" and any(v is not None for v in sizes.values()):
            self.width_name += "+custom"
        check_width(self.width)
        if variant not in VARIANTS:
            raise ValueError(f"unknown GLiT variant {variant!r}; allowed: {', '.join(VARIANTS)}")
        self.variant = variant
        locality = self.width.locality
        areas = local_areas(self.width) if locality == "local-attention" else ()
        self._space = glit_space(self.width.depth, variant, locality, areas)

    @property
    def space(self) -> Space:
        return self._space

    def options(self) -> dict[str, Any]:
        """Options that rebuild this plugin exactly: a base width plus every width field
        (the locality only where it is not the default, conv1d, so that options saved
        before it existed still match)."""
        found = FAMILY.options(self._base_width, self.width, variant=self.variant)
        if found["locality"] == "conv1d":
            del found["locality"]
        return found

    # ---- genotypes <-> block descriptions ------------------------------------------------

    def blocks(self, genotype: Genotype) -> tuple[BlockArch, ...]:
        """Per-block architectures of a genotype of this space (or of a sub-space of it)."""
        FAMILY.check(
            self._space, genotype, f"not to {self._space.name!r} at depth {self.width.depth}"
        )
        return blocks_of(genotype)

    def genotype(self, blocks: tuple[BlockArch, ...]) -> Genotype:
        return genotype_of(self._space, blocks)

    def block_layout(self, genotype: Genotype) -> list[dict[str, Any]]:
        """Per block: global and local head counts and the active details (paper Fig. 5)."""
        layout = []
        local = "local attention" if self.width.locality == "local-attention" else "convolution"
        for arch, values in zip(self.blocks(genotype), genotype.to_dict()["blocks"]):
            heads = arch.global_heads(self.width)
            layout.append(
                {
                    "bars": {
                        "global heads (attention)": heads,
                        f"local heads ({local})": self.width.num_heads - heads,
                    },
                    **{k: v for k, v in values.items() if k != "heads"},
                }
            )
        return layout

    @classmethod
    def profile_options(cls, profile: str) -> dict[str, Any]:
        """The CPU width for the quick profile, GLiT-Tiny's for the paper's."""
        return FAMILY.profile_options(profile)

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return tuple(PRESETS)

    @classmethod
    def from_preset(cls, name: str) -> tuple[GlitPlugin, Genotype]:
        return load_preset(name)

    def describe_genotype(self, genotype: Genotype) -> str:
        """Per block G/L head counts, e.g. "G3 L3 G1L2 ..." (global and local thirds)."""
        parts = []
        for arch in self.blocks(genotype):
            g = arch.global_thirds
            parts.append("G" if g == 3 else "L" if g == 0 else f"G{g}L{3 - g}")
        return " ".join(parts)

    def presets(self) -> Mapping[str, Genotype]:
        """Published architectures whose width equals this plugin's width and whose
        blocks this variant holds (the nlp variant: the all-global ones)."""
        found = {}
        for name in FAMILY.presets_at(self.width, PRESETS.items()):
            try:
                found[name] = self.genotype(preset_blocks(name, self.width))
            except GenotypeError:
                continue
        return found

    # ---- cost model ----------------------------------------------------------------------

    def cost(self, genotype: Genotype) -> dict[str, float]:
        total = cost_model.model_cost(self.width, self.blocks(genotype))
        return {"macs": total.macs, "params": total.params}

    def cost_breakdown(self, genotype: Genotype) -> list[tuple[str, dict[str, float]]]:
        return [
            (part, {"macs": cost.macs, "params": cost.params})
            for part, cost in cost_model.model_cost_breakdown(self.width, self.blocks(genotype))
        ]

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        macs, params = cost_model.cost_batch(self.width, **block_arrays(self._space, rows))
        return {"macs": macs, "params": params}

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float]:
        """Exact cheapest and dearest cost over `space`: blocks cost independently."""
        space = space or self._space
        fixed = cost_model.patch_embed_cost(self.width) + cost_model.head_cost(self.width)
        low = high = getattr(fixed, metric)
        for i in range(self.width.depth):
            rows = space.enumerate([f"blocks.{i}.{field}" for field in block_fields(space)])
            values = [
                getattr(cost_model.block_cost(self.width, blocks_of(g)[i]), metric)
                for g in space.from_array(rows)
            ]
            low, high = low + min(values), high + max(values)
        return float(low), float(high)

    # ---- latency tables (see glit_space.latency) -----------------------------------------

    def latency_parts(self, genotype: Genotype) -> list[str]:
        """["patch_embed", one "block:..." key per block (its canonical BlockArch, e.g.
        "block:global_thirds=3,qkv_ratio=1,ffn_ratio=4"), "head"]: equal blocks give
        equal keys."""
        from glit_space.latency import part_keys

        return part_keys(self.blocks(genotype), self.width.locality)

    def latency_part_keys(self) -> list[str]:
        """The stem, every distinct block of this space (198 in the paper variant, 36 in
        the published one, at any width) and the head; a Table 6 locality's keys name it."""
        from glit_space.latency import space_keys

        return space_keys(self._space, self.width.locality)

    def latency_module(self, key: str):
        """(fresh module in eval mode, input shape without the batch dim) of one part."""
        from glit_space.latency import latency_module

        return latency_module(self.width, key)

    # ---- torch side: standalone subnets and the supernet ---------------------------------

    @cached_property
    def bounds(self) -> SupernetBounds:
        kernels = KERNELS_2D if self.width.locality == "conv2d" else KERNELS
        return SupernetBounds(
            max_kernel=max(kernels),
            max_expansion=max(EXPANSIONS),
            max_qkv_ratio=max(QKV_RATIOS),
            max_ffn_ratio=max(FFN_RATIOS),
        )

    def model_input(self) -> ModelInput:
        return ModelInput(self.width.in_chans, self.width.img_size, self.width.num_classes)

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0):
        """A standalone `GLiT` module of the genotype (no search machinery inside)."""
        from glit_space.model import GLiT

        return GLiT(self.width, self.blocks(genotype), drop_path_rate=drop_path_rate)

    def supernet(self, drop_path_rate: float = 0.0):
        """The weight-sharing `GLiTSupernet` holding the largest weights of the space."""
        from glit_space.supernet import GLiTSupernet

        return GLiTSupernet(self.width, self.bounds, drop_path_rate=drop_path_rate)


def load_preset(name: str) -> tuple[GlitPlugin, Genotype]:
    """The plugin at the preset's published width and the preset's genotype."""
    plugin = GlitPlugin(width=preset_width(name))
    return plugin, plugin.genotype(preset_blocks(name, plugin.width))
