"""Turn command-line flags and an optional TOML file into a `RunConfig`.

Precedence: explicit flags > the --config file > profile defaults. `--set key=value`
reaches every tunable: `search.population=20`, `recipe.supernet.epochs=3`,
`space.depth=6`, `workbench.num_workers=2`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib

from archspace import load_space, spaces
from archspace.units import parse_count
from strategies.run import RunConfig

#: GLiT width used by each profile unless --width says otherwise
PROFILE_WIDTHS = {"quick": "cpu", "paper": "tiny"}
FLAG_KEYS = (
    "space",
    "strategy",
    "searcher",
    "data",
    "profile",
    "budget_macs",
    "width",
    "variant",
    "seed",
    "device",
    "storage",
    "download",
)


def parse_value(text: str) -> Any:
    """`--set` values: JSON when it parses (numbers, true, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value (e.g. search.population=20), got {item!r}")
        result[key.strip()] = parse_value(value.strip())
    return result


def read_toml(path: Path) -> dict[str, Any]:
    """A run.toml: top-level flag names plus the tables [search], [recipe.*],
    [space_options] (`space` itself names the space) and [workbench]."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"config file {path} is not valid TOML: {error}") from None
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key.replace('-', '_') if not prefix else key}"
            if isinstance(value, Mapping):
                walk(value, name + ".")
            else:
                flat[name] = value

    walk(data, "")
    flat = {
        ("space." + k.removeprefix("space_options.") if k.startswith("space_options.") else k): v
        for k, v in flat.items()
    }
    unknown = [k for k in flat if "." not in k and k not in FLAG_KEYS]
    if unknown:
        raise ValueError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; allowed top-level keys: "
            f"{', '.join(FLAG_KEYS)} and the tables search, recipe, space_options, workbench"
        )
    return flat


def build_config(flags: Mapping[str, Any], sets: Mapping[str, Any]) -> RunConfig:
    """Resolve flags, file values and --set overrides into a validated RunConfig."""
    values = {k: v for k, v in flags.items() if v is not None}
    space_name = values.get("space", "glit")
    spaces.get(space_name)  # unknown space: error with the closest name
    profile = values.get("profile", "quick")
    if profile not in PROFILE_WIDTHS:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILE_WIDTHS)}")
    search, recipe, space_options, workbench = {}, {}, {}, {}
    for key, value in {**{k: v for k, v in values.items() if "." in k}, **sets}.items():
        section, _, name = key.partition(".")
        target = {
            "search": search,
            "recipe": recipe,
            "space": space_options,
            "workbench": workbench,
        }.get(section)
        if target is None or not name:
            raise ValueError(
                f"unknown setting {key!r}; use search.<field>, recipe.<section>.<field>, "
                "space.<option> or workbench.<option>"
            )
        target[name] = value
    if space_name == "glit":
        space_options.setdefault("width", values.get("width") or PROFILE_WIDTHS[profile])
        if values.get("variant"):
            space_options.setdefault("variant", values["variant"])
        data = values.get("data", "builtin:fashion-mnist")
        workbench.setdefault("data", data)
        from glit_space.datasets import data_info

        info = data_info(data, download=bool(values.get("download")))
        space_options.setdefault("num_classes", info.num_classes)
    for key in ("device", "download"):
        if values.get(key) is not None:
            workbench.setdefault(key, values[key])
    plugin = load_space(space_name, **space_options)
    budget = values.get("budget_macs")
    budget_value = None if budget in (None, "none") else parse_count(budget)
    if budget is None:  # the default budget: the space's default architecture (DeiT for GLiT)
        budget_value = float(plugin.cost(plugin.space.default())[plugin.metrics[0]])
    return RunConfig(
        space=space_name,
        strategy=values.get("strategy", "hierarchical-ea"),
        space_options=space_options,
        searcher=values.get("searcher", "evolution"),
        profile=profile,
        budget=budget_value,
        budget_metric=plugin.metrics[0],
        seed=int(values.get("seed", 0)),
        search=search,
        workbench={**workbench, **({"recipe": recipe} if recipe else {})},
        storage=values.get("storage"),
    )
