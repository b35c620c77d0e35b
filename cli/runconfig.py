"""Turn command-line flags and an optional TOML file into a `RunConfig`.

Precedence: explicit flags > the --config file > profile defaults. `--set key=value`
reaches every tunable: `search.top_k=2` (what every search shares),
`searcher.population=20` (the chosen searcher's own options), `strategy.architectures=3`
(the pipeline's), `recipe.supernet.epochs=3`, `space.depth=6`, `workbench.num_workers=2`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib

from archspace import load_space, spaces
from archspace import strategies as strategy_registry
from archspace.plugin import DEFAULT_DATA
from cli.budgets import parse_budgets
from strategies.options import Option
from strategies.run import RunConfig, check_config, check_search
from strategies.searchers import searchers
from strategies.settings import SETTINGS

#: the `--set SECTION.NAME=VALUE` sections (TOML: the [SECTION] tables; space: [space_options])
SECTIONS = ("search", "searcher", "strategy", "recipe", "space", "workbench")
DEFAULT_SPACE = "glit"
DEFAULT_STRATEGY = "hierarchical-ea"
DEFAULT_SEARCHER = RunConfig.searcher
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
            raise ValueError(f"--set expects key=value (e.g. search.top_k=2), got {item!r}")
        result[key.strip()] = parse_value(value.strip())
    return result


def read_toml(path: Path) -> dict[str, Any]:
    """A run.toml: top-level flag names plus the tables [search], [searcher] and
    [strategy] (their options; `name` inside names the searcher or pipeline, as the
    top-level `searcher = ...` and `strategy = ...` do), [recipe.*], [space_options]
    (`space` itself names the space), [workbench] and [budget] (metric = bound, e.g.
    macs = "1.4G")."""
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
    for section in ("searcher", "strategy"):
        if f"{section}.name" in flat:
            flat[section] = flat.pop(f"{section}.name")
    sections = (*(f"{name}." for name in SECTIONS), "budget.")
    unknown = [
        k for k in flat if (k not in FLAG_KEYS if "." not in k else not k.startswith(sections))
    ]
    if unknown:
        raise ValueError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; allowed top-level keys: "
            f"{', '.join(FLAG_KEYS)} and the tables search, searcher, strategy, recipe, "
            "space_options, workbench, budget"
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
    return parse_budgets(text, plugin.cost_metrics) or {}


def _declared(given: dict[str, Any], options: Sequence[Option]) -> dict[str, Any]:
    names = {option.name for option in options}
    return {name: value for name, value in given.items() if name in names}


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"seed must be an int, got {value!r}")
    return value


def _check_names(values: Mapping[str, Any]) -> None:
    """Refuse an unknown space, strategy or searcher by name, loading none: a space's
    module and its data options may import torch (seconds), and a refused flag should
    not wait for that."""
    spaces.check(values.get("space", DEFAULT_SPACE))
    strategy_registry.check(values.get("strategy", DEFAULT_STRATEGY))
    searchers.check(values.get("searcher", DEFAULT_SEARCHER))


def build_config(
    flags: Mapping[str, Any], sets: Mapping[str, Any], *, only_declared: bool = False
) -> RunConfig:
    """Resolve flags, file values and --set overrides into a validated RunConfig. The
    names and the search, searcher and strategy settings are checked before the space
    is loaded (which may import torch), so a bad flag is refused at once.

    `only_declared` (a comparison's settings shared by its arms): a searcher or strategy
    option that this run's searcher or pipeline does not declare is left out instead of
    refused."""
    values = {k: v for k, v in flags.items() if v is not None}
    space_name = values.get("space", DEFAULT_SPACE)
    _check_names(values)  # unknown names: an error with the closest name, nothing loaded
    profile = values.get("profile", "quick")
    if profile not in SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(SETTINGS)}")
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    dotted = {k: v for k, v in values.items() if "." in k and not k.startswith("budget.")}
    for key, value in {**dotted, **sets}.items():
        section, _, name = key.partition(".")
        if section not in sections or not name:
            raise ValueError(
                f"unknown setting {key!r}; use search.<field>, searcher.<option>, "
                "strategy.<option>, recipe.<section>.<field>, space.<option> or "
                "workbench.<option>"
            )
        sections[section][name] = value
    search, recipe, space_options, workbench = (
        sections[name] for name in ("search", "recipe", "space", "workbench")
    )
    searcher = values.get("searcher", DEFAULT_SEARCHER)
    strategy = values.get("strategy", DEFAULT_STRATEGY)
    if only_declared:
        sections["searcher"] = _declared(sections["searcher"], searchers.get(searcher).options)
        sections["strategy"] = _declared(
            sections["strategy"], strategy_registry.get(strategy).options
        )
    check_search(  # a bad value: refused by name, before the space (and torch) loads
        profile, search, searcher, sections["searcher"], strategy, sections["strategy"]
    )
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
    plugin = load_space(space_name, **space_options)
    for provider in plugin.cost_providers:  # as each gives itself again (a resumed run
        space_options.update(provider.options())  # may start elsewhere: absolute paths)
    config = RunConfig(
        space=space_name,
        strategy=strategy,
        space_options=space_options,
        searcher=searcher,
        profile=profile,
        budgets=_budgets(values, plugin),
        seed=_seed(values.get("seed", 0)),
        search=search,
        searcher_options=sections["searcher"],
        strategy_options=sections["strategy"],
        workbench={**workbench, **({"recipe": recipe} if recipe else {})},
        storage=values.get("storage"),
    )
    check_config(config, plugin)  # everything else the run will use, before its folder
    return config
