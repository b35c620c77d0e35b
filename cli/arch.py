"""Resolve an ARCH argument: a preset name, an architecture JSON file, or a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archspace import Genotype, GenotypeError, SpacePlugin, load_space

ARCH_HELP = (
    "a preset (deit-tiny, deit-small, deit-base, glit-tiny), an architecture JSON file "
    "(as written to a run's architecture.json, or a bare genotype with --space options), "
    "or a run folder"
)


def resolve_arch(arch: str, space: str = "glit", **options: Any) -> tuple[SpacePlugin, Genotype]:
    path = Path(arch)
    if path.is_dir():
        path = path / "architecture.json"
        if not path.exists():
            raise FileNotFoundError(
                f"{arch} is a folder without architecture.json: not a finished run folder"
            )
    if path.suffix == ".json" or path.exists():
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"architecture file {arch} does not exist") from None
        except json.JSONDecodeError as error:
            raise GenotypeError(f"architecture file {arch} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise GenotypeError(f"architecture file {arch} must hold a JSON object")
        if "genotype" in data:
            plugin = load_space(data.get("space", space), **data.get("space_options", {}))
            return plugin, plugin.space.from_dict(data["genotype"])
        plugin = load_space(space, **{k: v for k, v in options.items() if v is not None})
        return plugin, plugin.space.from_dict(data)
    if space == "glit":
        from glit_space import load_preset

        return load_preset(arch)
    plugin = load_space(space, **{k: v for k, v in options.items() if v is not None})
    presets = plugin.presets()
    if arch not in presets:
        raise GenotypeError(
            f"{arch!r} is neither a file nor a preset of space {space!r} "
            f"(presets: {', '.join(presets) or 'none'})"
        )
    return plugin, presets[arch]
