"""The GLiT paper's tables as studies: each row a network trained standalone for several
seeds (`studies.standalone`) or a search run once per seed, reported beside the paper's
ImageNet top-1.

Table 1 (head splits) and Table 3 (DeiT-Tiny against GLiT-Tiny) are fixed networks, so
they are presets trained alike; GLiT-Tiny exists at the tiny width only, so at another
width Table 3 is DeiT against the hierarchical search there (Table 4's first and last
rows). Tables 4 (the search space) and 6 (the locality module) compare searches: a
search row is one run per seed (`<out>/<row>/seed<k>`, a normal run folder) under the
same MACs budget (DeiT's at the width, as in the paper), reported by its answer's
retrained test top-1; Table 4's DeiT row is the fixed network. Every row keeps its own
folder (`<out>/<row>`), so a killed table resumes row by row, seed by seed, and a row
that another table (or a comparison) already ran with the same settings is copied from
its folder (`reuse`) rather than run twice. The paper's figures are ImageNet top-1 at
the tiny width; a row's figures here are on the data given, so what can reproduce is
the ordering of the rows, not the numbers.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archspace import load_space, spaces
from archspace.files import copy_folder, write_json, write_text
from archspace.plugin import DEFAULT_DATA
from archspace.registry import lookup
from strategies.statistics import Summary, compare_to, interval_text
from studies.standalone import StandaloneTraining, find_training, on_data

if TYPE_CHECKING:
    from strategies.run import RunConfig


@dataclass(frozen=True)
class Row:
    label: str
    preset: str  # a preset name; "{width}" is replaced by the table's width
    paper_top1: float  # ImageNet top-1 (%) in the paper


@dataclass(frozen=True)
class SearchRow:
    """A row that is a search: `strategy` over the GLiT space with these options."""

    label: str
    paper_top1: float
    strategy: str = "hierarchical-ea"
    space_options: Mapping[str, Any] = field(default_factory=dict)
    strategy_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    rows: tuple[Row | SearchRow, ...]
    widths: tuple[str, ...] | None = None  # None: any width of the space
    #: the rows at a width not in `widths` (None: such widths are refused)
    elsewhere: tuple[Row | SearchRow, ...] | None = None

    def at(self, width: str) -> PaperTable:
        """The table as run at `width`: its own rows, or those it has for other widths."""
        if self.widths is None or width in self.widths:
            return self
        if self.elsewhere is None:
            raise ValueError(
                f"{self.title} holds networks published at the {', '.join(self.widths)} "
                f"width only, not {width!r}"
            )
        return dataclasses.replace(self, rows=self.elsewhere, widths=None, elsewhere=None)


TABLES: dict[str, PaperTable] = {
    "table1": PaperTable(
        "table1",
        "Table 1: every block's 3 heads split alike, self-attention - Conv1d",
        (
            Row("3-0 (DeiT)", "split-3-0-{width}", 72.20),
            Row("2-1", "split-2-1-{width}", 72.89),
            Row("1-2", "split-1-2-{width}", 73.98),
            Row("0-3", "split-0-3-{width}", 71.02),
        ),
    ),
    "table3": PaperTable(
        "table3",
        "Table 3: DeiT-Tiny against the searched GLiT-Tiny",
        (Row("DeiT-Tiny", "deit-tiny", 72.2), Row("GLiT-Tiny", "glit-tiny", 76.3)),
        widths=("tiny",),
        # GLiT-Tiny is the paper's answer at the tiny width; at another width the same
        # comparison is DeiT against the hierarchical search there (Table 4's rows)
        elsewhere=(Row("DeiT", "split-3-0-{width}", 72.2), SearchRow("GLiT (searched)", 76.3)),
    ),
    "table4": PaperTable(
        "table4",
        "Table 4: the search space (hierarchical search, DeiT's MACs as the budget)",
        (
            Row("DeiT", "split-3-0-{width}", 72.2),
            SearchRow("only distribution", 75.4, strategy_options={"stop_after": "distribution"}),
            SearchRow("NLP-NAS space", 73.4, strategy="spos", space_options={"variant": "nlp"}),
            SearchRow("full space", 76.3),
        ),
    ),
    "table6": PaperTable(
        "table6",
        "Table 6: the locality module (hierarchical search, DeiT's MACs as the budget)",
        (
            SearchRow("Conv1d", 76.3),
            SearchRow("local-area attention", 72.4, space_options={"locality": "local-attention"}),
            SearchRow("Conv2d", 76.4, space_options={"locality": "conv2d"}),
        ),
    ),
}


def table(name: str) -> PaperTable:
    """A table by name; the error lists the known ones."""
    return lookup(TABLES, name, "paper table")


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


class SearchRuns:
    """A search row: one run of `row.strategy` per seed in `folder`/seed<k>, at `width`,
    under `budgets`, with the workbench settings and the run settings `search` (search
    settings under "search", the searcher's options under "searcher", space options under
    "space"). A seed whose very run finished under one of the `reuse` folders (another
    table's row: Table 4's full space is Table 6's Conv1d) is copied from there."""

    def __init__(
        self,
        row: SearchRow,
        folder: Path,
        *,
        width: str,
        seeds: int,
        workbench: Mapping[str, Any],
        search: Mapping[str, Mapping[str, Any]],
        budgets: Mapping[str, float],
        reuse: Sequence[Path] = (),
    ) -> None:
        from strategies.run import RunConfig, check_config

        self.row, self.folder, self.reuse = row, folder, tuple(reuse)
        settings = {k: v for k, v in workbench.items() if k != "profile"}
        implied = spaces.get("glit").data_options(settings.get("data", DEFAULT_DATA))
        self.configs = [
            RunConfig(
                space="glit",
                strategy=row.strategy,
                space_options={
                    "width": width,
                    **search.get("space", {}),
                    **row.space_options,
                    **implied,
                },
                profile=workbench.get("profile", "quick"),
                budgets=dict(budgets),
                seed=seed,
                search=dict(search.get("search", {})),
                searcher_options=dict(search.get("searcher", {})),
                strategy_options=dict(row.strategy_options),
                workbench=settings,
            )
            for seed in range(seeds)
        ]
        for config in self.configs:  # every row's settings refused before any work
            check_config(config, load_space("glit", **config.space_options))

    def folder_of(self, seed: int) -> Path:
        return self.folder / f"seed{seed}"

    def pending(self, say: Callable[[str], None] = lambda message: None) -> list[RunConfig]:
        """The seeds still to run; a seed whose very run finished under a `reuse` folder
        is copied from there first (atomically: a copy cut short is redone)."""
        from strategies.run import ARCHITECTURE_FILE, CONFIG_FILE, find_finished_run

        todo = []
        for config in self.configs:
            folder = self.folder_of(config.seed)
            if (folder / ARCHITECTURE_FILE).exists():
                continue
            done = (
                None if (folder / CONFIG_FILE).exists() else find_finished_run(config, self.reuse)
            )
            if done is None:
                todo.append(config)
                continue
            copy_folder(done, folder)
            say(f"{self.row.label} seed {config.seed}: the same run finished in {done}")
        return todo

    def run(
        self,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
    ) -> None:
        """Run (or resume) every seed still to run, one after the other."""
        todo = self.pending(say)
        for number, config in enumerate(todo, start=1):
            run_search(config.to_dict(), str(self.folder_of(config.seed)), say)
            progress(number, len(todo), f"{self.row.label} seed {config.seed}")

    def summary(self) -> dict[str, Any]:
        """The answers' mean costs and their retrained top-1 over the finished seeds."""
        from strategies.run import ARCHITECTURE_FILE

        found = {}
        for config in self.configs:
            path = self.folder_of(config.seed) / ARCHITECTURE_FILE
            if path.exists():
                found[config.seed] = json.loads(path.read_text())
        if not found:
            raise ValueError(f"{self.folder} holds no finished run yet")
        answers = list(found.values())
        costs = {m: float(np.mean([a["costs"][m] for a in answers])) for m in answers[0]["costs"]}
        return {
            "costs": costs,
            "seeds": {str(seed): a["metrics"] for seed, a in found.items()},
            "summary": {
                name: asdict(Summary.of([a["metrics"][name] for a in answers]))
                for name in ("val_top1", "test_top1")
            },
        }

    def describe(self) -> str:
        options = {**self.row.space_options, **self.row.strategy_options}
        spelled = ", ".join(f"{k}={v}" for k, v in options.items())
        return f"search: {self.row.strategy}" + (f" ({spelled})" if spelled else "")


def run_search(
    config: Mapping[str, Any], folder: str, say: Callable[[str], None] = lambda message: None
) -> None:
    """Start or resume one search row's seed (a plain function: a worker process runs it)."""
    from strategies.run import CONFIG_FILE, RunConfig, resume_run, start_run

    if (Path(folder) / CONFIG_FILE).exists():
        resume_run(folder, say=say)
    else:
        start_run(RunConfig.from_dict(dict(config)), folder, say=say)


class PaperStudy:
    """One table's rows in `folder`/<row> for `seeds` seeds each, at `width`, with the
    workbench settings `workbench` (data, profile, recipe, ...): fixed networks trained
    standalone, searches run with the run settings `search` ({"search": {...},
    "searcher": {...}}) under DeiT's MACs at the width; a search whose very run
    finished under one of the `reuse` folders is copied from there, not run again."""

    def __init__(
        self,
        name: str,
        folder: str | Path,
        *,
        width: str = "cpu",
        seeds: int = 3,
        workbench: Mapping[str, Any] | None = None,
        search: Mapping[str, Mapping[str, Any]] | None = None,
        space: str = "glit",
        reuse: Sequence[str | Path] = (),
    ) -> None:
        self.table, self.folder, self.width = table(name).at(width), Path(folder), width
        self.reuse = [Path(f) for f in reuse]
        settings = dict(workbench or {})
        search = search or {}
        fixed = [r.label for r in self.table.rows if isinstance(r, Row)]
        if search and len(fixed) == len(self.table.rows):
            raise ValueError(
                f"{self.table.title} trains fixed networks, it searches nothing: change only "
                f"the recipe and the workbench (not {', '.join(sorted(search))} settings)"
            )
        if search.get("space") and fixed:
            raise ValueError(
                f"{self.table.title} has fixed networks ({', '.join(fixed)}): space options "
                "would make its searches incomparable with them; change only the recipe, "
                "the workbench and the search"
            )
        plugin_class = spaces.get(space)
        self.trainings: list[tuple[Row | SearchRow, StandaloneTraining | SearchRuns]] = []
        budgets = load_space(space, width=width, **search.get("space", {})).default_budgets()
        for row in self.table.rows:
            if isinstance(row, SearchRow):
                runs = SearchRuns(
                    row, self.folder / slug(row.label), width=width, seeds=seeds,
                    workbench=settings, search=search, budgets=budgets,
                    reuse=self.reuse,
                )  # fmt: skip
                self.trainings.append((row, runs))
                continue
            plugin, genotype = plugin_class.from_preset(row.preset.format(width=width))
            plugin, genotype = on_data(plugin, genotype, settings.get("data", DEFAULT_DATA))
            training = StandaloneTraining(
                plugin, genotype, self.folder / slug(row.label), seeds=seeds, workbench=settings
            )
            self.trainings.append((row, training))

    def adopt_fixed_rows(self, say: Callable[[str], None] = lambda message: None) -> None:
        """Copy in each fixed row not started here that a `reuse` folder trained with the
        very same settings (Table 3's DeiT at the cpu width is Table 4's), seeds and all."""
        for row, training in self.trainings:
            if isinstance(training, StandaloneTraining) and not training.folder.exists():
                done = find_training(training.settings, self.reuse)
                if done is not None:
                    copy_folder(done, training.folder)
                    say(f"{row.label}: the same training is in {done}")

    def run(
        self,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
        jobs: int = 1,
    ) -> None:
        """Train every row (what was finished before is kept); with `jobs` > 1 the search
        rows' seeds run in that many processes at once, after the fixed rows."""
        self.adopt_fixed_rows(say)
        searches = [t for _, t in self.trainings if isinstance(t, SearchRuns)]
        if jobs <= 1 or not searches:
            for number, (row, training) in enumerate(self.trainings, start=1):
                say(f"[{number}/{len(self.trainings)}] {self.table.name} row {row.label}")
                training.run(say=say, progress=progress)
            return
        for row, training in self.trainings:
            if not isinstance(training, SearchRuns):
                say(f"{self.table.name} row {row.label}")
                training.run(say=say, progress=progress)
        todo = [(runs, config) for runs in searches for config in runs.pending(say)]
        say(f"{self.table.name}: {len(todo)} search run(s) in {jobs} processes")
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(run_search, c.to_dict(), str(r.folder_of(c.seed))): (r, c)
                for r, c in todo
            }
            try:
                for number, future in enumerate(concurrent.futures.as_completed(futures), 1):
                    future.result()
                    runs, config = futures[future]
                    progress(number, len(todo), f"{runs.row.label} seed {config.seed}")
            except BaseException:  # a failed run stops the table; the finished runs stay
                pool.shutdown(cancel_futures=True)
                raise

    def summary(self) -> dict[str, Any]:
        rows = []
        for row, training in self.trainings:
            found = training.summary()
            rows.append(
                {
                    "row": row.label,
                    "network": training.describe()
                    if isinstance(training, SearchRuns)
                    else row.preset.format(width=self.width),
                    "paper_top1": row.paper_top1,
                    "costs": found["costs"],
                    "test_top1": found["summary"]["test_top1"],
                    "val_top1": found["summary"]["val_top1"],
                    "test_top1_seeds": [m["test_top1"] for m in found["seeds"].values()],
                }
            )
        best = max(rows, key=lambda r: r["test_top1"]["mean"])
        for row in rows:  # is a row's gap to the best beyond what the seeds move?
            row["vs_best"] = (
                None
                if row is best
                else asdict(compare_to(row["test_top1_seeds"], best["test_top1_seeds"]))
            )
        ours = [r["row"] for r in sorted(rows, key=lambda r: -r["test_top1"]["mean"])]
        paper = [r["row"] for r in sorted(rows, key=lambda r: -r["paper_top1"])]
        return {
            "table": self.table.name,
            "title": self.table.title,
            "width": self.width,
            "rows": rows,
            "order": {"ours": ours, "paper": paper, "same": ours == paper},
        }

    def write_report(self) -> tuple[dict[str, Any], list[Path]]:
        summary = self.summary()
        md, js = self.folder / f"{self.table.name}.md", self.folder / f"{self.table.name}.json"
        write_json(js, summary)
        write_text(md, render(summary))
        return summary, [md, js]


def render(summary: Mapping[str, Any]) -> str:
    lines = [
        f"# {summary['title']} (width {summary['width']})",
        "",
        "| row | MACs | params | test top-1, mean ± sd [95% interval] (n) | Welch p vs best "
        "| paper (ImageNet) |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        t = row["test_top1"]
        interval = interval_text(t, digits=2, scale=100)
        lines.append(
            f"| {row['row']} | {row['costs']['macs'] / 1e6:.1f}M | "
            f"{row['costs']['params'] / 1e6:.3f}M | {100 * t['mean']:.2f} ± {100 * t['sd']:.2f}"
            f"{interval} ({t['n']}) | {_versus(row)} | {row['paper_top1']:.2f} |"
        )
    order = summary["order"]
    lines += [
        "",
        f"Order by test top-1 here: {' > '.join(order['ours'])}; in the paper: "
        f"{' > '.join(order['paper'])} ({'the same' if order['same'] else 'different'}). "
        "Welch p vs best: two-sided Welch's t-test of a row's seeds against the best "
        "row's (n/a under 2 seeds); a large p means the seeds do not tell the two apart.",
    ]
    return "\n".join(lines) + "\n"


def _versus(row: Mapping[str, Any]) -> str:
    """The row's Welch p against the best row ("best" for that one)."""
    if "vs_best" in row and row["vs_best"] is None:
        return "best"
    p = (row.get("vs_best") or {}).get("welch_p")
    return "n/a" if p is None else f"{p:.2g}"


__all__ = ["TABLES", "PaperStudy", "PaperTable", "Row", "SearchRow", "render", "table"]
