"""`WidthFamily`: the configuration template of the width-based one-shot spaces (GLiT,
AutoFormer), after timm's `build_model_with_cfg`: a plugin is built from a named width
(a preset of its `Width` dataclass) plus keyword overrides of any of its fields, saves
both as its options, refuses genotypes of other spaces and lists the published networks
at its width. Torch-free."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from archspace import Genotype, GenotypeError, Space

W = TypeVar("W")

#: the width each run profile uses unless the user names one
PROFILE_WIDTHS = {"quick": "cpu", "paper": "tiny"}


@dataclass(frozen=True)
class WidthFamily(Generic[W]):
    """A space's named widths and how its plugin's options change them.

    `label` names the space in errors; `width_hint` follows the allowed widths in the
    unknown-width error (`{fields}` in it lists the width fields); `other_options` are
    the plugin's options besides `width` and the width fields (listed when an unknown
    option is refused).
    """

    label: str
    widths: Mapping[str, W]
    width_hint: str
    other_options: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The width dataclass's fields: each is an option of the plugin."""
        return tuple(f.name for f in dataclasses.fields(next(iter(self.widths.values()))))

    def resolve(self, width: str, overrides: Mapping[str, Any]) -> W:
        """The named width with `overrides` applied."""
        if width not in self.widths:
            raise ValueError(
                f"unknown {self.label} width {width!r}; allowed: {', '.join(self.widths)} "
                + self.width_hint.format(fields=", ".join(self.fields))
            )
        return self.override(self.widths[width], overrides)

    def override(self, base: W, overrides: Mapping[str, Any]) -> W:
        """`base` with the fields `overrides` names (None keeps a field as it is)."""
        unknown = sorted(set(overrides) - set(self.fields))
        if unknown:
            raise ValueError(
                f"unknown {self.label} option(s) {', '.join(unknown)}; allowed: "
                + ", ".join(("width", *self.other_options, *self.fields))
            )
        changed = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(base, **changed)  # type: ignore[type-var]

    def options(self, base: str, width: W, **other: Any) -> dict[str, Any]:
        """Options that rebuild the plugin exactly: the base width name, the other
        options, then every width field (tuples as the lists JSON gives back)."""
        fields = dataclasses.asdict(width)  # type: ignore[call-overload]
        return {"width": base, **other, **{k: _plain(v) for k, v in fields.items()}}

    def profile_options(self, profile: str) -> dict[str, Any]:
        """The CPU width for the quick profile, Tiny for the paper's."""
        return {"width": PROFILE_WIDTHS[profile]} if profile in PROFILE_WIDTHS else {}

    def presets_at(self, width: W, presets: Iterable[tuple[str, str]]) -> list[str]:
        """The names among (preset, width name) pairs published at exactly `width`."""
        return [name for name, width_name in presets if self.widths[width_name] == width]

    def check(self, space: Space, genotype: Genotype, otherwise: str) -> None:
        """Refuse a genotype of another space; `otherwise` ends the error's sentence
        "the genotype belongs to space X, ..." with what this plugin's space is."""
        if genotype.space.fingerprint != space.fingerprint:
            raise GenotypeError(
                f"the genotype belongs to space {genotype.space.name!r}, {otherwise}"
            )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
