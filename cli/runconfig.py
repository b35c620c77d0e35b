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

from archspace import load_space, spaces, strategies
from cli.budgets import parse_budgets
from strategies.run import RunConfig, check_config
from strategies.searchers import searchers
from strategies.settings import SETTINGS, get_settings

DEFAULT_SPACE = "glit"
DEFAULT_STRATEGY = "hierarchical-ea"
DEFAULT_SEARCHER = "evolution"
DEFAULT_DATA = "builtin:fashion-mnist"
FLAG_KEYS = (
    "space",
    "strategy",
    "searcher",
    "data",
    "profile",
    "budget",
    "budget_macs",
    "width",
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
    [space_options] (`space` itself names the space), [workbench] and [budget]
    (metric = bound, e.g. macs = "1.4G")."""
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
    sections = ("search.", "recipe.", "space.", "workbench.", "budget.")
    unknown = [
        k for k in flat if (k not in FLAG_KEYS if "." not in k else not k.startswith(sections))
    ]
    if unknown:
        raise ValueError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; allowed top-level keys: "
            f"{', '.join(FLAG_KEYS)} and the tables search, recipe, space_options, "
            "workbench, budget"
        )
    return flat


def _budgets(values: Mapping[str, Any], plugin: Any) -> dict[str, float]:
    """--budget, its TOML table (budget.METRIC keys) and the --budget-macs alias."""
    table = {k.removeprefix("budget."): v for k, v in values.items() if k.startswith("budget.")}
    text = values.get("budget", table or None)
    if values.get("budget_macs") is not None:
        if text is not None:
            raise ValueError("give --budget or its alias --budget-macs, not both")
        text = values["budget_macs"]
        text = text if str(text).strip().lower() == "none" else {"macs": text}
    if text is None:
        return plugin.default_budgets()
    return parse_budgets(text, plugin.metrics) or {}


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"seed must be an int, got {value!r}")
    return value


def _check_names(values: Mapping[str, Any]) -> None:
    """Refuse an unknown space, strategy or searcher by name, loading none: a space's
    module and its data options may import torch (seconds), and a refused flag should
    not wait for that."""
    spaces.check(values.get("space", DEFAULT_SPACE))
    strategies.check(values.get("strategy", DEFAULT_STRATEGY))
    searchers.check(values.get("searcher", DEFAULT_SEARCHER))


def build_config(flags: Mapping[str, Any], sets: Mapping[str, Any]) -> RunConfig:
    """Resolve flags, file values and --set overrides into a validated RunConfig."""
    values = {k: v for k, v in flags.items() if v is not None}
    space_name = values.get("space", DEFAULT_SPACE)
    _check_names(values)  # unknown names: an error with the closest name, nothing loaded
    profile = values.get("profile", "quick")
    if profile not in SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(SETTINGS)}")
    search, recipe, space_options, workbench = {}, {}, {}, {}
    dotted = {k: v for k, v in values.items() if "." in k and not k.startswith("budget.")}
    for key, value in {**dotted, **sets}.items():
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
    plugin_class = spaces.get(space_name)
    if values.get("width"):
        space_options.setdefault("width", values["width"])
    for key, value in plugin_class.profile_options(profile).items():
        space_options.setdefault(key, value)
    for key in ("data", "device", "download"):
        if values.get(key) is not None:
            workbench.setdefault(key, values[key])
    data = workbench.get("data", DEFAULT_DATA)
    for key, value in plugin_class.data_options(data, bool(workbench.get("download"))).items():
        space_options.setdefault(key, value)
    get_settings(profile).override(**search)  # a bad search value: refused by name, now
    if space_options.get("latency_table"):  # a resumed run may start elsewhere
        space_options["latency_table"] = str(Path(space_options["latency_table"]).resolve())
    plugin = load_space(space_name, **space_options)
    config = RunConfig(
        space=space_name,
        strategy=values.get("strategy", DEFAULT_STRATEGY),
        space_options=space_options,
        searcher=values.get("searcher", DEFAULT_SEARCHER),
        profile=profile,
        budgets=_budgets(values, plugin),
        seed=_seed(values.get("seed", 0)),
        search=search,
        workbench={**workbench, **({"recipe": recipe} if recipe else {})},
        storage=values.get("storage"),
    )
    check_config(config, plugin)  # everything else the run will use, before its folder
    return config
