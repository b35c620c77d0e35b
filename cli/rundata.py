"""What a report reads from a run folder: config, answer, evaluations, generations.

Only the run folder is read (config.json, architecture.json and the run store, opened
read-only), so this works on a finished run, on one still in progress and on a killed one.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archspace import load_space
from strategies.store import STORE_FILE, RunStore, store_error

# The file names `strategies.run` writes; repeated here so that reading a run needs only
# the store, not the search machinery.
CONFIG_FILE = "config.json"
ARCHITECTURE_FILE = "architecture.json"
REPORT_FILE = "report.md"
PLOT_FILES = ("accuracy_vs_cost.png", "fitness_per_generation.png", "architecture.png")

FITNESS_LABEL = "fitness: supernet search-validation top-1"
DETAIL_ABBREVIATIONS = {"kernel": "k", "expansion": "e", "qkv": "qkv", "ffn": "ffn"}
SCALES = (("G", 1e9), ("M", 1e6), ("K", 1e3))
DPI = 120


class NotARunFolder(FileNotFoundError):
    """RUN_DIR lacks the run store: nothing to report (exit code 2 from the command)."""


@dataclass
class RunData:
    """Everything the report shows, read once so the plots and the text agree."""

    run_dir: Path
    config: dict[str, Any]
    answer: dict[str, Any] | None
    evaluations: list[dict[str, Any]]
    generations: list[dict[str, Any]]
    retrains: list[dict[str, Any]]
    finished_stages: list[str]
    stage_results: dict[str, dict[str, Any]]
    stages: list[str] = field(default_factory=list)
    plugin: Any = None
    plugin_error: str | None = None

    @property
    def finished(self) -> bool:
        return self.answer is not None

    @property
    def budgets(self) -> dict[str, float]:
        """Every budget of the run by metric (also read from the older single-budget form)."""
        if "budgets" in self.config:
            return {k: float(v) for k, v in (self.config["budgets"] or {}).items()}
        value = self.config.get("budget")
        return {} if value is None else {self.config.get("budget_metric") or "macs": float(value)}

    @property
    def budget(self) -> float | None:
        """The bound on the plotted metric, if the run has one."""
        return self.budgets.get(self.metric or "")

    @property
    def metric(self) -> str | None:
        """The plotted cost metric: the primary budget's, else the plugin's first, else
        the first seen."""
        if self.budgets:
            return next(iter(self.budgets))
        if self.plugin is not None and self.plugin.cost_metrics:
            return str(self.plugin.cost_metrics[0])
        for row in [*self.evaluations, *self.retrains]:
            if row.get("costs"):
                return str(next(iter(row["costs"])))
        return None

    def chosen(self) -> tuple[dict[str, Any] | None, str]:
        """The chosen architecture, or for an unfinished run the best so far (and which)."""
        if self.answer is not None:
            return self.answer, "chosen"
        for stage in reversed(self.finished_stages):
            result = self.stage_results.get(stage) or {}
            if "genotype" in result:
                return {
                    "key": result.get("best"),
                    "genotype": result["genotype"],
                    "costs": result.get("costs", {}),
                    "metrics": result.get("metrics", {}),
                    "stage": stage,
                }, f"kept by finished stage {stage!r} (provisional)"
        retrained = [r for r in self.retrains if "val_top1" in (r.get("metrics") or {})]
        if retrained:
            best = max(retrained, key=lambda r: r["metrics"]["val_top1"])
            return {**best}, (
                f"retrained in stage {best['stage']!r} with the best val top-1 so far (provisional)"
            )
        ok = [e for e in self.evaluations if _ok(e)]
        if ok:
            last_stage = ok[-1]["stage"]
            best = max((e for e in ok if e["stage"] == last_stage), key=lambda e: e["fitness"])
            return {
                "key": best["key"],
                "genotype": best["genotype"],
                "costs": best["costs"],
                "metrics": {},
                "stage": last_stage,
            }, (f"best evaluated so far in stage {last_stage!r} (provisional, not retrained)")
        return None, "none yet"


def _ok(evaluation: Mapping[str, Any]) -> bool:
    fitness = evaluation.get("fitness")
    return (
        evaluation.get("status", "ok") == "ok"
        and fitness is not None
        and math.isfinite(float(fitness))
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file, or None when it is missing or half-written (a killed run)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_run(run_dir: Path) -> RunData:
    """Read a run folder; NotARunFolder when it has no run store."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotARunFolder(f"{run_dir} does not exist or is not a folder")
    if not (run_dir / STORE_FILE).exists():
        raise NotARunFolder(
            f"{run_dir} is not a run folder: it has no {STORE_FILE}; give the folder a "
            f"search wrote, the one holding {CONFIG_FILE} and {STORE_FILE}"
        )
    try:
        return _load_run(run_dir)
    except sqlite3.DatabaseError as error:  # damaged past the first page
        raise store_error(run_dir / STORE_FILE, error) from None


def _load_run(run_dir: Path) -> RunData:
    with RunStore(run_dir, readonly=True) as store:
        config = _read_json(run_dir / CONFIG_FILE) or store.meta("config") or {}
        answer = _read_json(run_dir / ARCHITECTURE_FILE)  # written last: the run finished
        finished_stages = store.stages()
        data = RunData(
            run_dir=run_dir,
            config=config,
            answer=answer,
            evaluations=store.evaluations(),
            generations=store.generations(),
            retrains=store.retrains(),
            finished_stages=finished_stages,
            stage_results={s: store.stage_result(s) or {} for s in finished_stages},
        )
        plugin_options = store.meta("plugin_options")
    data.stages = _unique(
        [
            *finished_stages,
            *(e["stage"] for e in data.evaluations),
            *(g["stage"] for g in data.generations),
            *(r["stage"] for r in data.retrains),
        ]
    )
    space = (answer or {}).get("space") or config.get("space")
    options = (
        (answer or {}).get("space_options") or plugin_options or config.get("space_options") or {}
    )
    if space:
        try:
            data.plugin = load_space(space, **options)
        except Exception as error:  # the report still shows everything else
            data.plugin_error = f"{type(error).__name__}: {error}"
    return data


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
