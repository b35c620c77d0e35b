"""The GLiT paper's tables as studies: each row a network trained standalone for several
seeds (`studies.standalone`), reported beside the paper's ImageNet top-1.

Table 1 (head splits) and Table 3 (DeiT-Tiny against GLiT-Tiny) are fixed networks, so
they are presets trained alike. Every row keeps its own folder (`<out>/<row>`), so a
killed table resumes row by row, seed by seed. The paper's figures are ImageNet top-1
at the tiny width; a row's figures here are on the data given, so what can reproduce
is the ordering of the rows, not the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspace import spaces
from archspace.files import write_json, write_text
from archspace.plugin import DEFAULT_DATA
from archspace.registry import lookup
from strategies.statistics import interval_text
from studies.standalone import StandaloneTraining, on_data


@dataclass(frozen=True)
class Row:
    label: str
    preset: str  # a preset name; "{width}" is replaced by the table's width
    paper_top1: float  # ImageNet top-1 (%) in the paper


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    rows: tuple[Row, ...]
    widths: tuple[str, ...] | None = None  # None: any width of the space


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
    ),
}


def table(name: str) -> PaperTable:
    """A table by name; the error lists the known ones."""
    return lookup(TABLES, name, "paper table")


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


class PaperStudy:
    """One table's rows trained standalone in `folder`/<row> for `seeds` seeds each, at
    `width`, with the workbench settings `workbench` (data, profile, recipe, ...)."""

    def __init__(
        self,
        name: str,
        folder: str | Path,
        *,
        width: str = "cpu",
        seeds: int = 3,
        workbench: Mapping[str, Any] | None = None,
        space: str = "glit",
    ) -> None:
        self.table, self.folder, self.width = table(name), Path(folder), width
        if self.table.widths is not None and width not in self.table.widths:
            raise ValueError(
                f"{self.table.title} holds networks published at the "
                f"{', '.join(self.table.widths)} width only, not {width!r}; at another "
                "width, search one (`archsearch run --strategy hierarchical-ea`) and train it "
                "(`archsearch train RUN --seeds N`)"
            )
        settings = dict(workbench or {})
        plugin_class = spaces.get(space)
        self.trainings: list[tuple[Row, StandaloneTraining]] = []
        for row in self.table.rows:
            plugin, genotype = plugin_class.from_preset(row.preset.format(width=width))
            plugin, genotype = on_data(plugin, genotype, settings.get("data", DEFAULT_DATA))
            training = StandaloneTraining(
                plugin, genotype, self.folder / slug(row.label), seeds=seeds, workbench=settings
            )
            self.trainings.append((row, training))

    def run(
        self,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
    ) -> None:
        """Train every row (what was finished before is kept)."""
        for number, (row, training) in enumerate(self.trainings, start=1):
            say(f"[{number}/{len(self.trainings)}] {self.table.name} row {row.label}")
            training.run(say=say, progress=progress)

    def summary(self) -> dict[str, Any]:
        rows = []
        for row, training in self.trainings:
            found = training.summary()
            rows.append(
                {
                    "row": row.label,
                    "preset": row.preset.format(width=self.width),
                    "paper_top1": row.paper_top1,
                    "costs": found["costs"],
                    "test_top1": found["summary"]["test_top1"],
                    "val_top1": found["summary"]["val_top1"],
                }
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
        "| row | MACs | params | test top-1, mean ± sd [95% interval] (n) | paper (ImageNet) |",
        "|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        t = row["test_top1"]
        interval = interval_text(t, digits=2, scale=100)
        lines.append(
            f"| {row['row']} | {row['costs']['macs'] / 1e6:.1f}M | "
            f"{row['costs']['params'] / 1e6:.3f}M | {100 * t['mean']:.2f} ± {100 * t['sd']:.2f}"
            f"{interval} ({t['n']}) | {row['paper_top1']:.2f} |"
        )
    order = summary["order"]
    lines += [
        "",
        f"Order by test top-1 here: {' > '.join(order['ours'])}; in the paper: "
        f"{' > '.join(order['paper'])} ({'the same' if order['same'] else 'different'}).",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["TABLES", "PaperStudy", "PaperTable", "Row", "render", "table"]
