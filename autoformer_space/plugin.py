"""`AutoFormerPlugin`: the AutoFormer space registered as `autoformer` (entry point
`archsearch.spaces`). Importing it does not import torch; building modules does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from archspace import Genotype, Space
from autoformer_space import cost as cost_model
from autoformer_space.config import WIDTHS, Arch, BlockArch
from autoformer_space.presets import PRESETS, preset
from autoformer_space.space import arch_of, autoformer_space, decode_batch, genotype_of
from oneshot.interface import ModelInput
from oneshot.plugin import OneShotPlugin
from oneshot.widths import WidthFamily

#: AutoFormer's widths and how `width` and the width fields configure the plugin
FAMILY = WidthFamily("AutoFormer", WIDTHS, "(then override any of {fields})")


class AutoFormerPlugin(OneShotPlugin):
    """AutoFormer (ICCV 2021): a ViT whose embedding dim, depth and per-block MLP ratio
    and head count are searched in one weight-entangled supernet.

    Costs are multiply-accumulates and parameters, computed analytically; they equal
    what torch's FlopCounterMode (FLOPs / 2) and the built module's parameter count give.
    """

    name: ClassVar[str] = "autoformer"
    summary: ClassVar[str] = "AutoFormer weight-entangled ViT supernets (ICCV 2021, Table 1)"
    metrics: ClassVar[tuple[str, ...]] = ("macs", "params")

    def __init__(self, width: str = "tiny", **overrides: Any) -> None:
        self.width = FAMILY.resolve(width, overrides)
        self.base_width = width
        self._space = autoformer_space(self.width, name=f"autoformer-{width}")

    @property
    def space(self) -> Space:
        return self._space

    def options(self) -> dict[str, Any]:
        """Options that rebuild this plugin exactly: the base width plus every field."""
        return FAMILY.options(self.base_width, self.width)

    # ---- genotypes <-> networks ----------------------------------------------------------

    def arch(self, genotype: Genotype) -> Arch:
        """The network of a genotype of this space (or of a sub-space of it)."""
        FAMILY.check(
            self._space,
            genotype,
            "whose choices differ from this AutoFormer space's "
            f"({self.base_width} width with its overrides)",
        )
        return arch_of(genotype)

    def genotype(self, arch: Arch) -> Genotype:
        return genotype_of(self._space, arch)

    def presets(self) -> Mapping[str, Genotype]:
        """Published networks whose width equals this plugin's width."""
        at_width = FAMILY.presets_at(self.width, ((n, w) for n, (w, _) in PRESETS.items()))
        return {name: self.genotype(PRESETS[name][1]) for name in at_width}

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return tuple(PRESETS)

    @classmethod
    def from_preset(cls, name: str) -> tuple[AutoFormerPlugin, Genotype]:
        """The plugin at the preset's own width and the preset's genotype."""
        width, arch = preset(name)
        plugin = cls(width)
        return plugin, plugin.genotype(arch)

    @classmethod
    def profile_options(cls, profile: str) -> dict[str, Any]:
        """The CPU width for the quick profile, Tiny for the paper's."""
        return FAMILY.profile_options(profile)

    def block_layout(self, genotype: Genotype) -> list[dict[str, Any]]:
        arch = self.arch(genotype)
        return [
            {"bars": {"heads": b.heads}, "mlp_ratio": b.mlp_ratio, "embed_dim": arch.embed_dim}
            for b in arch.blocks
        ]

    def describe_genotype(self, genotype: Genotype) -> str:
        """One line, e.g. "depth 13, dim 192, heads 3-4, mlp 3.0-4.0"."""
        arch = self.arch(genotype)
        heads = _span(b.heads for b in arch.blocks)
        mlp = _span(f"{b.mlp_ratio:.1f}" for b in arch.blocks)
        return f"depth {arch.depth}, dim {arch.embed_dim}, heads {heads}, mlp {mlp}"

    # ---- cost model ------------------------------------------------------------------------

    def cost(self, genotype: Genotype) -> dict[str, float]:
        return cost_model.model_cost(self.width, self.arch(genotype)).as_dict()

    def cost_breakdown(self, genotype: Genotype) -> list[tuple[str, dict[str, float]]]:
        """Per part ("patch_embed", "block i", "head"): {"macs": ..., "params": ...}."""
        parts = cost_model.model_cost_breakdown(self.width, self.arch(genotype))
        return [(name, part.as_dict()) for name, part in parts]

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        f = decode_batch(self.width, rows)
        macs, params = cost_model.cost_batch(
            self.width, f["embed_dim"], f["mlp_ratio"], f["heads"], f["active"]
        )
        return {"macs": macs, "params": params}

    def default_budgets(self) -> dict[str, float]:
        """Half-way between the cheapest and the dearest MACs: the smallest network
        (the space's default) would leave nothing to search."""
        low, high = self.cost_range("macs")
        return {"macs": (low + high) / 2}

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float]:
        """Exact cheapest and dearest cost over `space` (pins respected): for each depth
        and embed dim, blocks cost independently, so the extremes are per-block ones."""
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; metrics: {', '.join(self.metrics)}")
        space = space or self._space
        totals = []
        for depth in _allowed(space, "depth"):
            for d in _allowed(space, "embed_dim"):
                fixed = cost_model.patch_embed_cost(self.width, d)
                low = high = getattr(fixed + cost_model.head_cost(self.width, d), metric)
                for i in range(depth):
                    values = [
                        getattr(cost_model.block_cost(self.width, d, BlockArch(r, h)), metric)
                        for r in _allowed(space, f"blocks.{i}.mlp_ratio")
                        for h in _allowed(space, f"blocks.{i}.heads")
                    ]
                    low, high = low + min(values), high + max(values)
                totals += [low, high]
        return float(min(totals)), float(max(totals))

    # ---- latency tables (see autoformer_space.latency) -----------------------------------

    def latency_parts(self, genotype: Genotype) -> list[str]:
        """["patch_embed:embed_dim=D", one "block:embed_dim=D,heads=H,mlp_ratio=M" per
        block, "head:embed_dim=D"]: depth enters as the number of block parts."""
        from autoformer_space.latency import part_keys

        return part_keys(self.arch(genotype))

    def latency_part_keys(self) -> list[str]:
        """Per embed dim of the width: the stem, every heads x MLP-ratio block, the head."""
        from autoformer_space.latency import width_keys

        return width_keys(self.width)

    def latency_module(self, key: str):
        """(fresh module in eval mode, input shape without the batch dim) of one part."""
        from autoformer_space.latency import latency_module

        return latency_module(self.width, key)

    # ---- torch side ------------------------------------------------------------------------

    def model_input(self) -> ModelInput:
        w = self.width
        return ModelInput(in_chans=w.in_chans, img_size=w.img_size, num_classes=w.num_classes)

    def build(self, genotype: Genotype, drop_path_rate: float = 0.0):
        """A standalone `AutoFormer` module of the genotype."""
        from autoformer_space.model import AutoFormer

        return AutoFormer(self.width, self.arch(genotype), drop_path_rate=drop_path_rate)

    def supernet(self, drop_path_rate: float = 0.0):
        """The weight-entangled `AutoFormerSupernet` holding the largest weights."""
        from autoformer_space.supernet import AutoFormerSupernet

        return AutoFormerSupernet(self.width, drop_path_rate=drop_path_rate)


def _allowed(space: Space, name: str) -> list[Any]:
    """The options of a choice that `space` leaves open (its pin, if pinned)."""
    position = space.position(name)
    options = space.choices[position].options
    return [options[space.pins[position]]] if position in space.pins else list(options)


def _span(values) -> str:
    values = sorted(set(values), key=float)
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"
