"""Resolve an ARCH argument: a preset name, an architecture JSON file, or a run folder."""

from __future__ import annotations

import json
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from archspace import Genotype, GenotypeError, SpacePlugin, load_space, spaces
from cli.runconfig import DEFAULT_SPACE

ARCH_HELP = (
    "a preset of any registered space (e.g. deit-tiny, glit-tiny, autoformer-t; "
    "`archsearch spaces` lists them), an architecture JSON file (as written to a run's "
    "architecture.json, or a bare genotype with --space and --width), or a run folder"
)


def find_preset(name: str, space: str | None = None) -> tuple[SpacePlugin, Genotype]:
    """The plugin (at the preset's own options) and genotype of a preset, looked up in
    `space` or, when None, in every registered space."""
    names = [space] if space else spaces.names()
    known: list[str] = []
    for candidate in names:
        plugin_class = spaces.get(candidate)
        presets = plugin_class.preset_names()
        if name in presets:
            return plugin_class.from_preset(name)
        known += presets
    close = get_close_matches(name, known, n=1)
    raise GenotypeError(
        f"{name!r} is neither a file nor a preset"
        + (f" of space {space!r}" if space else "")
        + (f". Did you mean {close[0]!r}?" if close else "")
        + f" Presets: {', '.join(sorted(known)) or 'none'}"
    )


def resolve_arch(
    arch: str, space: str | None = None, *, keep_fixed: bool = False, **options: Any
) -> tuple[SpacePlugin, Genotype]:
    """The plugin and genotype ARCH names; `options` build a bare genotype's space and,
    unless `keep_fixed`, must agree with what a preset or an architecture file fixes."""
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
            plugin = load_space(
                data.get("space", space or DEFAULT_SPACE), **data.get("space_options", {})
            )
            if not keep_fixed:
                _check_fixed(plugin, options, f"architecture file {arch}")
            return plugin, plugin.space.from_dict(data["genotype"])
        plugin = load_space(
            space or DEFAULT_SPACE, **{k: v for k, v in options.items() if v is not None}
        )
        return plugin, plugin.space.from_dict(data)
    plugin, genotype = find_preset(arch, space)
    if not keep_fixed:
        _check_fixed(plugin, options, f"preset {arch!r}")
    return plugin, genotype


def _check_fixed(plugin: SpacePlugin, options: dict[str, Any], what: str) -> None:
    """Refuse space options that contradict the ones a preset or an architecture file
    fixes (they would be silently ignored: a preset trains at its own width)."""
    fixed = plugin.options()
    clashes = {k: v for k, v in options.items() if v is not None and fixed.get(k) != v}
    if clashes:
        raise GenotypeError(
            f"{what} fixes "
            + ", ".join(f"{k}={fixed.get(k)!r} (asked: {v!r})" for k, v in clashes.items())
            + "; options such as --width go with a bare genotype JSON"
        )
