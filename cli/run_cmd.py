"""`archsearch run` and `archsearch compare`: searches as strategy swaps over one space."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from archspace import load_space
from archspace.metrics import metric as metric_of
from archspace.parallel import launched_rank, launched_world_size
from archspace.units import format_count
from cli.budgets import budget_text, format_cost
from cli.errors import friendly_errors
from cli.names_help import NamesHelp, searcher_names, space_names, strategy_names
from cli.progress import echo_json, narrator, stderr_console
from cli.runconfig import build_config, parse_sets, read_toml
from strategies.pipeline import PipelineResult
from strategies.run import RunConfig, load_config, start_run

RUN_OPTIONS = [
    click.option(
        "--space",
        default=None,
        cls=NamesHelp,
        names=space_names,
        help="Registered space: {names} (default: glit).",
    ),
    click.option(
        "--data",
        default=None,
        help="Data spec: builtin:fashion-mnist (default), fashion-mnist:DIR, "
        "cifar10:DIR, cifar100:DIR, imagefolder:DIR.",
    ),
    click.option(
        "--profile",
        default=None,
        type=click.Choice(["quick", "paper"]),
        help="quick: minutes on a 2-core CPU (default); paper: the paper's recipe.",
    ),
    click.option(
        "--budget",
        default=None,
        help="Upper bounds on the space's cost metrics, e.g. macs=1.4G,params=6M; a bare "
        "number bounds the first metric; 'none' for no budget (default: the cost of the "
        "space's default architecture in its first metric).",
    ),
    click.option(
        "--budget-macs",
        default=None,
        help="Alias of --budget macs=VALUE.",
    ),
    click.option(
        "--width",
        default=None,
        help="The space's width (its `width` option), e.g. tiny, small, base, cpu "
        "(default: the profile's, e.g. cpu for quick).",
    ),
    click.option(
        "--searcher",
        default=None,
        cls=NamesHelp,
        names=searcher_names,
        help="Searcher inside spos, hierarchical-ea and zero-cost: {names} (default: evolution).",
    ),
    click.option("--seed", default=None, type=int, help="Seed (default 0)."),
    click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N."),
    click.option("--storage", default=None, help="Optuna storage URL (default: the run's SQLite)."),
    click.option(
        "--download",
        is_flag=True,
        default=None,
        help="Allow torchvision to download cifar10/cifar100.",
    ),
    click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override anything: search.population=20, recipe.supernet.epochs=3, "
        "space.depth=6, workbench.num_workers=2. Repeatable.",
    ),
    click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path),
        default=None,
        help="A TOML file with the same keys as the flags (flags win).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout."),
]


def run_options(function):
    for option in reversed(RUN_OPTIONS):
        function = option(function)
    return function


def _resolve(
    flags: dict[str, Any],
    sets: tuple[str, ...],
    config_file: Path | None,
    only_declared: bool = False,
    **fixed: Any,
) -> RunConfig:
    values = read_toml(config_file) if config_file else {}
    values.update({k: v for k, v in flags.items() if v is not None})
    values.update({k: v for k, v in fixed.items() if v is not None})
    return build_config(values, parse_sets(sets), only_declared=only_declared)


def summary(config: RunConfig, result: PipelineResult, run_dir: Path) -> dict[str, Any]:
    return {
        "run_dir": str(run_dir),
        "strategy": result.strategy,
        "searcher": config.searcher if result.strategy != "random" else None,
        "key": result.genotype.key,
        "architecture": result.genotype.to_dict(),
        "costs": result.costs,
        "metrics": result.metrics,
        "budgets": config.budgets,
        "evaluations": result.evaluations,
        "retrains": result.retrains,
        "seconds": round(result.seconds, 1),
    }


def print_summary(console: Console, info: dict[str, Any]) -> None:
    table = Table(title=f"chosen architecture ({info['strategy']})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("key", info["key"])
    for metric, value in info["costs"].items():
        declared = metric_of(metric)
        label = f"{declared.title} ({declared.note})" if declared.note else declared.title
        table.add_row(label, format_cost(metric, value, long=True))
    for metric, bound in info["budgets"].items():
        table.add_row(f"budget ({metric})", format_cost(metric, bound))
    labels = {"val_top1": "retrained search-val top-1", "test_top1": "retrained test top-1"}
    for metric, label in labels.items():
        if metric in info["metrics"]:
            table.add_row(label, f"{info['metrics'][metric]:.4f}")
    table.add_row("evaluated / retrained", f"{info['evaluations']} / {info['retrains']}")
    table.add_row("wall time", f"{info['seconds']:.0f} s")
    table.add_row("run folder", info["run_dir"])
    console.print(table)


def _require_out_when_launched(out: Path | None) -> None:
    """Under torchrun every process must name the same folder: a time stamp may not."""
    if out is None and launched_world_size() > 1:
        raise click.UsageError(
            "give --out when launching with torchrun: all processes must use the same "
            "run folder, and a default one is named after the time"
        )


def default_out(config: RunConfig, label: str | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.space}-{label or config.strategy}-{stamp}"


@click.command("run")
@click.option(
    "--strategy",
    default=None,
    cls=NamesHelp,
    names=strategy_names,
    help="Registered strategy: {names} (default: hierarchical-ea).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Run folder (default: runs/SPACE-STRATEGY-TIME).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    default=None,
    help="Continue the run in this folder from its saved config.",
)
@run_options
@friendly_errors
def run_command(strategy, out, resume, sets, config_file, as_json, **flags) -> None:
    """Search an architecture: train supernets, search them, retrain the best.

    Defaults give a complete search on the built-in data (a Fashion-MNIST subset) on a
    2-core CPU in minutes, ending with the chosen architecture, its MACs, parameters
    and retrained test top-1. A killed run continues with --resume.

    \b
    Examples:
      archsearch run --space glit --strategy hierarchical-ea
      archsearch run --strategy spos --searcher optuna --budget-macs 90M
      archsearch run --profile paper --data imagefolder:/data/imagenet --budget-macs 1.4G
      archsearch run --resume runs/glit-hierarchical-ea-20261123-101500
    """
    console = stderr_console()
    if resume is not None:
        config, run_dir = load_config(resume), resume
    else:
        config = _resolve(flags, sets, config_file, strategy=strategy)
        run_dir = out or default_out(config)
        _require_out_when_launched(out)
    say = narrator(console)
    say(
        f"run folder {run_dir}: {config.strategy} on {config.space} "
        f"({json.dumps(config.space_options)}), profile {config.profile}, budget "
        + (budget_text(config.budgets) or "none")
    )
    result = start_run(config, run_dir, say=say)
    if launched_rank() != 0:
        return
    info = summary(config, result, run_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        print_summary(Console(), info)


@click.command("compare")
@click.option(
    "--strategies",
    default=None,
    cls=NamesHelp,
    names=strategy_names,
    help="Comma-separated strategies ({names}), run with the same space, data, budget, seed "
    "[default: hierarchical-ea,spos,random; spos when --searchers is given].",
)
@click.option(
    "--searchers",
    default=None,
    cls=NamesHelp,
    names=searcher_names,
    help="Comma-separated searchers ({names}) inside the strategies (default: --searcher's); each "
    "strategy runs with each searcher.",
)
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seeds per arm (seed, seed+1, ...): with more than one, a statistical comparison "
    "(mean, sd, 95% CI, tests against the best, best-so-far bands).",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs in parallel processes (with --seeds).",
)
@click.option(
    "--spaces",
    default=None,
    cls=NamesHelp,
    names=space_names,
    help="Comma-separated spaces ({names}) to compare at one budget (instead of --space); "
    "each runs every strategy. Without --budget the budget is the smallest of the spaces' "
    "defaults.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the runs and the table (default: runs/SPACE-compare-TIME). "
    "Re-running with the same --out resumes unfinished runs.",
)
@run_options
@friendly_errors
def compare_command(
    strategies, searchers, seeds, jobs, spaces, out, sets, config_file, as_json, **flags
) -> None:
    """Compare strategies as swaps over one space (the paper's Table 5), or spaces at
    one budget.

    Writes comparison.md and comparison.json: space, strategy, MACs, params, search-val
    top-1, retrained test top-1, supernet rank correlation where known, wall time.
    `--set ARM:KEY=VALUE` changes one arm only (e.g. to give arms equal training).

    \b
    Examples:
      archsearch compare --space glit --strategies hierarchical-ea,spos,random
      archsearch compare --strategies spos,random --seed 1 --out runs/table5
      archsearch compare --spaces glit,autoformer --strategies spos --budget macs=20M
      archsearch compare --seeds 5 --set spos:recipe.supernet.max_steps_per_epoch=320
    """
    from cli.compare import compare_runs, write_comparison

    if strategies is None:
        strategies = "spos" if searchers else "hierarchical-ea,spos,random"
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    if not names:
        raise click.BadParameter("give at least one strategy", param_hint="--strategies")
    space_names = [s.strip() for s in (spaces or "").split(",") if s.strip()]
    if spaces is not None and not space_names:
        raise click.BadParameter("give at least one space", param_hint="--spaces")
    if space_names and flags.get("space"):
        raise click.UsageError("give --space or --spaces, not both")
    searcher_names = [s.strip() for s in (searchers or "").split(",") if s.strip()]
    arms = [
        (space, name, searcher)
        for space in (space_names or [None])
        for name in names
        for searcher in (searcher_names or [None])
    ]
    labels = [_arm_label(arm, arms) for arm in arms]
    common, per_arm = _arm_sets(sets, labels)
    configs = {
        label: _resolve(
            {
                **flags,
                "space": arm[0] or flags.get("space"),
                "searcher": arm[2] or flags.get("searcher"),
            },
            (*common, *per_arm[label]),
            config_file,
            only_declared=True,
            strategy=arm[1],
        )
        for label, arm in zip(labels, arms)
    }
    _require_used_options(configs, common, per_arm)
    if len(space_names) > 1:
        configs = _one_budget(configs, explicit=_names_budget(flags, config_file))
    first = next(iter(configs.values()))
    folder = out or default_out(first, "compare")
    _require_out_when_launched(out)
    say = narrator(stderr_console())
    if len(space_names) > 1:
        say(f"comparing spaces {', '.join(space_names)} at {budget_text(first.budgets)}")
    if seeds > 1:
        _study(configs, seeds, jobs, folder, say, as_json)
        return
    rows = compare_runs(configs, folder, say)
    if launched_rank() != 0:
        return
    paths = write_comparison(rows, folder)
    if as_json:
        click.echo(json.dumps({"table": rows, "files": [str(p) for p in paths]}, indent=2))
    else:
        Console().print(paths[0].read_text())


def _arm_sets(sets: tuple[str, ...], labels: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """`--set` items for every arm, and those for one arm (`ARM:KEY=VALUE`, e.g.
    `spos:recipe.supernet.max_steps_per_epoch=320`, to give arms equal budgets)."""
    common: list[str] = []
    per_arm: dict[str, list[str]] = {label: [] for label in labels}
    for item in sets:
        key, sep, value = item.partition("=")
        arm, colon, name = key.rpartition(":")
        if not sep or not colon:
            common.append(item)
        elif arm.strip() in per_arm:
            per_arm[arm.strip()].append(f"{name}={value}")
        else:
            raise click.BadParameter(
                f"{item!r} names arm {arm.strip()!r}; the arms are {', '.join(labels)}",
                param_hint="--set",
            )
    return common, per_arm


def _require_used_options(
    configs: dict[str, RunConfig], common: list[str], per_arm: dict[str, list[str]]
) -> None:
    """A searcher or strategy option shared by the arms applies to the arms whose
    searcher or pipeline declares it; one that no arm (or not its own arm) uses is an
    error, not silently dropped."""
    for label, config in configs.items():
        for item in (*common, *per_arm[label]):
            key = item.partition("=")[0].strip()
            section, _, name = key.partition(".")
            if section not in ("searcher", "strategy"):
                continue
            own = item in per_arm[label]
            scope = [config] if own else list(configs.values())
            used = [
                c
                for c in scope
                if name in (c.searcher_options if section == "searcher" else c.strategy_options)
            ]
            if used:
                continue
            owner = config.searcher if section == "searcher" else config.strategy
            kind = "searcher" if section == "searcher" else "strategy"
            raise click.BadParameter(
                f"{key!r} is an option of no {kind} "
                + (f"of arm {label!r} ({owner!r})" if own else "of the compared arms")
                + "; `archsearch strategies` lists each one's options",
                param_hint="--set",
            )


def _arm_label(arm: tuple, arms: list[tuple]) -> str:
    """The parts of (space, strategy, searcher) that differ between arms, joined by '/'
    (the strategy when nothing differs)."""
    varying = [i for i in range(3) if len({a[i] for a in arms}) > 1]
    return "/".join(str(arm[i]) for i in varying) or str(arm[1])


def _study(
    configs: dict[str, RunConfig], seeds: int, jobs: int, folder: Path, say, as_json: bool
) -> None:
    """Every arm over `seeds` seeds, then the statistics (see studies.seeds)."""
    from studies.seeds import run_study, space_optimum, summarise, write_study

    first = next(iter(configs.values()))
    if len({c.space for c in configs.values()}) > 1:
        raise click.UsageError("--seeds compares strategies and searchers over one space")
    say(f"{len(configs)} arms x {seeds} seeds in {folder}")
    records = run_study(configs, range(first.seed, first.seed + seeds), folder, jobs=jobs, say=say)
    summary = summarise(records, space_optimum(first))
    paths = write_study(records, summary, folder)
    if as_json:
        echo_json(summary, paths)
    else:
        Console().print(paths[0].read_text())


def _names_budget(flags: dict[str, Any], config_file: Path | None) -> bool:
    values = read_toml(config_file) if config_file else {}
    values.update({k: v for k, v in flags.items() if v is not None})
    return any(k in ("budget", "budget_macs") or k.startswith("budget.") for k in values)


def _one_budget(configs: dict[str, RunConfig], *, explicit: bool) -> dict[str, RunConfig]:
    """Spaces compared at one budget: the user's, else the smallest default budget in
    the metrics every space reports (so it is within reach of each)."""
    if explicit:
        return configs
    shared = set.intersection(*(set(c.budgets) for c in configs.values()))
    if not shared:
        raise click.UsageError(
            "the spaces' default budgets share no metric; give one with --budget, e.g. "
            "--budget macs=20M"
        )
    budgets = {m: min(c.budgets[m] for c in configs.values()) for m in sorted(shared)}
    ranges: dict[tuple[str, str], tuple[float, float]] = {}
    for config in configs.values():
        plugin = load_space(config.space, **config.space_options)
        for metric in budgets:
            found = plugin.metric_range(metric)
            if found is not None:
                ranges[(config.space, metric)] = found
    if any(low > budgets[metric] for (_, metric), (low, _) in ranges.items()):
        raise click.UsageError(
            f"the smallest default budget ({budget_text(budgets)}) is out of reach of a space; "
            "give one with --budget. Cost ranges: "
            + "; ".join(
                f"{space} {metric} {format_count(low)} to {format_count(high)}"
                for (space, metric), (low, high) in ranges.items()
            )
        )
    return {name: dataclasses.replace(c, budgets=budgets) for name, c in configs.items()}
