"""Zero-cost proxies of architectures sampled from a space, against its known truth.

`archsearch proxies --space nb201 --archs 1000` scores N architectures drawn uniformly
from a space (or all of them, `--archs all`) with each proxy on its freshly initialised
network, and, where the space knows its architectures' trained accuracy (a tabular
space: NAS-Bench-201's table), measures how well each proxy, and each cost metric as a
baseline, ranks them: Kendall tau-b and Spearman with bootstrap 95% intervals, top-5
and top-10% agreement (`studies.rank_stats`), and the seconds a proxy takes per
architecture. (A one-shot space's ground truth comes from `archsearch rank`; its
proxies are scored by `archsearch proxies STUDY_FOLDER`.)

The folder keeps the plan (space, sample, minibatch) and each proxy's scores as they
are made, so a rerun with the same folder scores only what is missing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspace import Genotype, SpacePlugin
from archspace.files import write_json, write_text
from archspace.known import KnownResultsWorkbench
from studies.proxy_scores import read_scores, read_timing, score_and_keep
from studies.rank_stats import agreement, estimate_text

PLAN_FILE = "proxy-plan.json"
REPORT_FILE = "proxies.md"
DATA_FILE = "proxies.json"
TIMING_FILE = "proxy-seconds.json"
#: the most architectures `--archs all` enumerates
MAX_ALL = 100_000


class ProxyStudyError(ValueError):
    """A request the folder or the space cannot honour."""


def scores_path(folder: Path, name: str) -> Path:
    return folder / f"scores-{name}.json"


class ProxyStudy:
    """Proxies of `archs` architectures of `plugin`'s space (None: every one) in
    `folder`, on a `batch_size` minibatch drawn with `seed` by `workbench`."""

    def __init__(
        self,
        plugin: SpacePlugin,
        folder: str | Path,
        workbench: Any,
        *,
        archs: int | None = 1000,
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        if archs is not None and (isinstance(archs, bool) or archs < 2):
            raise ProxyStudyError(f"archs must be at least 2 (or all), got {archs!r}")
        if batch_size < 2:
            raise ProxyStudyError(f"the minibatch needs at least 2 images, got {batch_size}")
        self.plugin, self.folder, self.workbench = plugin, Path(folder), workbench
        self.seed, self.batch_size = seed, batch_size
        self.plan = self._plan(archs)

    def _plan(self, archs: int | None) -> dict[str, Any]:
        settings = {
            "space": self.plugin.name,
            "space_options": self.plugin.load_options(),
            "archs": "all" if archs is None else archs,
            "seed": self.seed,
            "batch_size": self.batch_size,
        }
        path = self.folder / PLAN_FILE
        if path.exists():
            plan = json.loads(path.read_text())
            differ = {k: (plan.get(k), v) for k, v in settings.items() if plan.get(k) != v}
            if differ:
                raise ProxyStudyError(
                    f"{self.folder} holds a proxy study with other settings ("
                    + ", ".join(
                        f"{k}: {old!r} there, {new!r} now" for k, (old, new) in differ.items()
                    )
                    + "): use another --out or the same settings"
                )
            return plan
        plan = {**settings, "keys": [g.key for g in self._sample(archs)]}
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(path, plan, indent=1)
        return plan

    def _sample(self, archs: int | None) -> list[Genotype]:
        space = self.plugin.space
        if archs is None or archs >= space.size:
            if space.size > MAX_ALL:
                raise ProxyStudyError(
                    f"space {space.name!r} holds {space.size:.3g} architectures; --archs all "
                    f"takes at most {MAX_ALL:,}: give a number"
                )
            return space.from_array(space.enumerate(space.names))
        rng = np.random.default_rng(self.seed)
        chosen: dict[str, Genotype] = {}
        while len(chosen) < archs:
            for genotype in space.from_array(space.sample_batch(archs - len(chosen), rng)):
                chosen.setdefault(genotype.key, genotype)
        return list(chosen.values())

    def genotypes(self) -> list[Genotype]:
        return [self.plugin.space.from_key(k) for k in self.plan["keys"]]

    # ---- scoring ----------------------------------------------------------------------

    def score(
        self,
        names: Sequence[str],
        *,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
    ) -> None:
        """Every planned architecture's proxies `names`; kept as they are made, shared
        out between the processes of a torchrun job."""
        score_and_keep(
            self.workbench,
            self.genotypes(),
            names,
            lambda name: scores_path(self.folder, name),
            batch_size=self.batch_size,
            seed=self.seed,
            timing_path=self.folder / TIMING_FILE,
            say=say,
            progress=progress,
        )

    # ---- results ------------------------------------------------------------------------

    def truth(self) -> dict[str, float] | None:
        """Each architecture's known accuracy, for a space that knows it (None else)."""
        if not isinstance(self.workbench, KnownResultsWorkbench):
            return None
        return {g.key: float(self.plugin.fitness(g)) for g in self.genotypes()}

    def summary(self) -> dict[str, Any]:
        """Per proxy (and cost metric): what was scored, seconds per architecture, and
        against the truth its agreement (each with a bootstrap 95% interval)."""
        truth = self.truth()
        keys = self.plan["keys"]
        timing = read_timing(self.folder / TIMING_FILE)
        predictors: dict[str, dict[str, float]] = {}
        for path in sorted(self.folder.glob("scores-*.json")):
            predictors[path.stem.removeprefix("scores-")] = read_scores(path)
        costs = [self.plugin.costs(g) for g in self.genotypes()] if truth else []
        for metric in self.plugin.cost_metrics if truth else ():
            # a cost as a predictor: bigger networks are better trained (the usual baseline)
            predictors[f"cost:{metric}"] = {k: c[metric] for k, c in zip(keys, costs)}
        rows = []
        for label, scores in predictors.items():
            scored = [k for k in keys if k in scores]
            row: dict[str, Any] = {"predictor": label, "scored": len(scored)}
            if label in timing:
                seconds, count = timing[label]
                row["seconds_per_arch"] = seconds / count
            if truth and len(scored) >= 2:
                values = [scores[k] for k in scored]
                row["finite"] = int(sum(math.isfinite(v) for v in values))
                estimates = agreement(values, [truth[k] for k in scored], seed=self.seed)
                row.update({name: e.to_dict() for name, e in estimates.items()})
            rows.append(row)
        return {
            "space": self.plan["space"],
            "space_options": self.plan["space_options"],
            "archs": len(keys),
            "seed": self.seed,
            "batch_size": self.batch_size,
            "truth": _truth_note(self.workbench) if truth else None,
            "data": getattr(self.workbench, "data", None),
            "predictors": rows,
        }

    def write_report(self) -> tuple[dict[str, Any], list[Path]]:
        """The Markdown report, the JSON summary and a scatter per proxy (with truth)."""
        summary = self.summary()
        report, data = self.folder / REPORT_FILE, self.folder / DATA_FILE
        write_text(report, markdown(summary))
        write_json(data, summary, indent=1)
        paths = [report, data]
        truth = self.truth()
        if truth:
            for path in sorted(self.folder.glob("scores-*.json")):
                name = path.stem.removeprefix("scores-")
                plot = self.folder / f"scatter-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
                plot_scatter(read_scores(path), truth, name, plot)
                paths.append(plot)
        return summary, paths


def _truth_note(workbench: Any) -> str:
    summary = workbench.data_summary() if hasattr(workbench, "data_summary") else None
    return summary or "the space's known accuracy"


def markdown(summary: Mapping[str, Any]) -> str:
    lines = [
        f"# Zero-cost proxies on {summary['space']}",
        "",
        f"{summary['archs']} architectures, minibatch of {summary['batch_size']} images "
        f"(seed {summary['seed']})" + (f" from {summary['data']}" if summary["data"] else "") + ".",
        "",
    ]
    if summary["truth"]:
        lines += [
            f"Truth: {summary['truth']}. Bootstrap 95% intervals in brackets.",
            "",
            "| predictor | scored (finite) | Spearman | Kendall tau | top-10% | s/arch |",
            "|---|---|---|---|---|---|",
        ]
        for row in summary["predictors"]:
            seconds = row.get("seconds_per_arch")
            lines.append(
                f"| {row['predictor']} | {row['scored']} ({row.get('finite', '-')}) | "
                f"{estimate_text(row.get('spearman'))} | {estimate_text(row.get('kendall'))} | "
                f"{estimate_text(row.get('top10pct'))} | "
                + ("-" if seconds is None else f"{seconds:.3f}")
                + " |"
            )
    else:
        lines += ["No truth known for this space: scores only.", "", "| proxy | scored | s/arch |"]
        lines += ["|---|---|---|"]
        for row in summary["predictors"]:
            seconds = row.get("seconds_per_arch")
            lines.append(
                f"| {row['predictor']} | {row['scored']} | "
                + ("-" if seconds is None else f"{seconds:.3f}")
                + " |"
            )
    return "\n".join(lines) + "\n"


def plot_scatter(scores: Mapping[str, float], truth: Mapping[str, float], name: str, path: Path):
    """One proxy (rank, so that synflow's 1e40s and -inf fit) against the truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import rankdata

    keys = [k for k in scores if k in truth]
    figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    axes.scatter(
        rankdata([scores[k] for k in keys]) / len(keys),
        [truth[k] for k in keys],
        s=6,
        alpha=0.5,
    )
    axes.set_xlabel(f"zero-cost proxy {name}: rank quantile (untrained)")
    axes.set_ylabel("known accuracy")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


__all__ = ["ProxyStudy", "ProxyStudyError"]
