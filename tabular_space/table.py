"""`table`: a user's file of architectures and their metrics, searched as a space.

    archsearch run --space table --set space.file=bench.csv --strategy random
    archsearch run --space table --set space.file=bench.jsonl \\
        --set space.choices=depth,width --set space.metric=top1 --budget params=5M

The file is a CSV with a header row, or JSON lines (`.jsonl`, `.ndjson` or `.json`: one
object per line). Options:

- `file`: the file (required; `table:FILE` as a space name is not supported, give
  `--set space.file=FILE`);
- `metric`: the fitness column, higher is better (default: `accuracy`, else the first
  column named like acc / accuracy / top1);
- `costs`: comma-separated columns usable as budgets (default: those of params, macs,
  flops, latency present), each becoming a cost metric (`--budget params=5M`);
- `choices`: comma-separated columns that describe an architecture (default: every
  column that is neither the metric, a cost nor named like another metric - acc, top1,
  top5, loss, error).

Each choice column's distinct values (numbers where the column is numeric, otherwise
strings) become its options, and the space is the product of the options. Rows must
name distinct architectures. A space genotype the table has no row for cannot be looked
up: its evaluation is a failure (fitness None, with an error naming it) and its costs
are NaN, so no budget admits it. A sparse table therefore wastes evaluations on
failures, and a run stops after `search.max_consecutive_failures` of them in a row;
give budgets or a dense (full-product) table. Selection and reporting use the same
metric column (`val_top1 == test_top1`).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from archspace.choice import Choice
from archspace.constraints import Budget
from archspace.errors import SpaceDefinitionError
from archspace.genotype import Genotype
from archspace.plugin import SpacePlugin
from archspace.space import Space
from tabular_space.lookup import LookupWorkbench

COST_COLUMNS = ("params", "macs", "flops", "latency")
_METRIC_LIKE = re.compile(r"acc|top-?[15]|loss|error", re.IGNORECASE)
_FITNESS_LIKE = re.compile(r"acc|top-?1", re.IGNORECASE)
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


def _number(value: Any) -> float | None:
    """`value` as a float when it is a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _option(value: Any, where: str) -> Any:
    """A cell of a choice column as an option value (JSON lists become tuples)."""
    if isinstance(value, list):
        return tuple(_option(v, where) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"{where}: {value!r} cannot be an option (use a string or a number)")


def _distinct(cells: Sequence[Any]) -> list[Any]:
    """The distinct values of a column, sorted (in file order where kinds are mixed)."""
    seen = list(dict.fromkeys(cells))
    try:
        return sorted(seen)
    except TypeError:
        return seen


def _split(names: str | Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return [str(n) for n in names]


def read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names (in file order) and rows of a CSV or JSON-lines file; every error
    names the file."""
    if not path.is_file():
        raise FileNotFoundError(
            f"space table: file {path} does not exist (give a CSV or JSON-lines file of "
            "architectures and metrics: --set space.file=PATH)"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save the table "
            "as a UTF-8 CSV or JSON-lines file"
        ) from None
    if path.suffix.lower() in JSON_SUFFIXES:
        columns, rows = _json_rows(path, text)
    else:
        columns, rows = _csv_rows(path, text)
    if not rows:
        raise ValueError(f"{path}: the table has no rows")
    return columns, rows


def _json_rows(path: Path, text: str) -> tuple[list[str], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}, line {number}: not a JSON object ({error.msg}); a JSON-lines "
                "table holds one object per line"
            ) from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, got {row!r}")
        rows.append(row)
        columns.update(dict.fromkeys(row))
    return list(columns), rows


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    reader = csv.DictReader(text.splitlines())
    try:
        if not reader.fieldnames:
            raise ValueError(f"{path}: the CSV file has no header row")
        columns = list(dict.fromkeys(name.strip() for name in reader.fieldnames))
        for row in reader:
            if None in row:
                raise ValueError(f"{path}, line {reader.line_num}: more values than header columns")
            rows.append(
                {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
            )
    except csv.Error as error:
        raise ValueError(f"{path}, line {reader.line_num}: {error}") from None
    return columns, rows


class _Table:
    """A table file's columns and rows, read for one plugin: what the options name is
    checked against them, each error naming the file."""

    def __init__(self, path: Path) -> None:
        self.path, self.where = path, str(path)
        self.columns, self.rows = read_rows(path)

    def check(self, names: Sequence[str], option: str) -> None:
        for column in names:
            if column not in self.columns:
                raise ValueError(
                    f"{self.where}: {option} names unknown column {column!r}; the columns are "
                    + ", ".join(self.columns)
                )

    def numeric(self, column: str, option: str) -> np.ndarray:
        values = []
        for number, row in enumerate(self.rows, start=1):
            value = _number(row.get(column))
            if value is None or math.isnan(value):
                raise ValueError(
                    f"{self.where}: the {option} column {column!r} must be numeric; row "
                    f"{number} has {row.get(column)!r}"
                )
            values.append(value)
        return np.array(values, dtype=float)

    def metric(self, metric: str | None) -> str:
        """The fitness column: `metric`, else 'accuracy' or the first numeric column
        named like acc / top1."""
        if metric is None:
            named = ["accuracy"] if "accuracy" in self.columns else []
            candidates = named + [c for c in self.columns if _FITNESS_LIKE.search(c)]
            metric = next(
                (c for c in candidates if all(_number(r.get(c)) is not None for r in self.rows)),
                None,
            )
        if metric is None:
            raise ValueError(
                f"{self.where}: no fitness column found (looked for 'accuracy' and numeric "
                "columns named like acc / top1); name one with --set space.metric=COLUMN; "
                "the columns are " + ", ".join(self.columns)
            )
        self.check([metric], "metric")
        return metric

    def costs(self, costs: str | Sequence[str] | None, metric: str) -> list[str]:
        """The cost columns: `costs`, else those named like params, macs, flops, latency."""
        names = _split(costs)
        if names is None:
            names = [c for c in self.columns if c.lower() in COST_COLUMNS and c != metric]
        self.check(names, "costs")
        if metric in names:
            raise ValueError(
                f"{self.where}: column {metric!r} cannot be both the metric and a cost"
            )
        return names

    def choices(
        self, choices: str | Sequence[str] | None, metric: str, costs: Sequence[str]
    ) -> list[str]:
        """The choice columns: `choices`, else every column that is not a metric or cost."""
        names = _split(choices)
        if names is None:
            names = [
                c
                for c in self.columns
                if c != metric and c not in costs and not _METRIC_LIKE.search(c)
            ]
        self.check(names, "choices")
        taken = {metric, *costs} & set(names)
        if taken:
            raise ValueError(
                f"{self.where}: column(s) {', '.join(sorted(taken))} cannot be a choice and "
                "the metric or a cost at once"
            )
        if not names:
            raise ValueError(
                f"{self.where}: no choice columns (every column is a metric or a cost); name "
                "them with --set space.choices=COL1,COL2"
            )
        return names

    def cells(self, column: str) -> list[Any]:
        """A choice column's cells as option values: numbers where a text file's column
        is numeric (ints where every value is whole), JSON's own types otherwise."""
        cells = [row.get(column) for row in self.rows]
        as_numbers = [_number(v) for v in cells]
        from_text = self.path.suffix.lower() not in JSON_SUFFIXES  # JSON keeps its types
        if (
            from_text
            and all(n is not None for n in as_numbers)
            and not all(isinstance(v, str) and v == "" for v in cells)
        ):
            whole = all(float(n).is_integer() for n in as_numbers if n is not None)
            return [int(n) if whole else float(n) for n in as_numbers]  # type: ignore[arg-type]
        return [_option(v, f"{self.where}: column {column!r}") for v in cells]

    def space(self, values: Mapping[str, list[Any]]) -> Space:
        """The product of each choice column's distinct values (sorted where they sort)."""
        try:
            return Space(
                [
                    Choice(column, _distinct(cells), level="table")
                    for column, cells in values.items()
                ],
                name="table",
            )
        except SpaceDefinitionError as error:
            raise SpaceDefinitionError(f"{self.where}: {error}") from None

    def row_numbers(self, space: Space, values: Mapping[str, list[Any]]) -> dict:
        """Each row's option indices -> its number; two rows of one architecture refused."""
        row_of: dict[tuple[int, ...], int] = {}
        for number in range(len(self.rows)):
            key = tuple(
                space.choices[p].index_of(cells[number]) for p, cells in enumerate(values.values())
            )
            if key in row_of:
                named = ", ".join(f"{c}={cells[number]!r}" for c, cells in values.items())
                raise ValueError(
                    f"{self.where}: rows {row_of[key] + 1} and {number + 1} describe the same "
                    f"architecture ({named}); "
                    "add the column that tells them apart to choices"
                )
            row_of[key] = number
        return row_of


class TablePlugin(SpacePlugin):
    """Architectures and metrics from a file: choice columns span the space, the metric
    column is the fitness, cost columns are budget metrics."""

    name: ClassVar[str] = "table"
    summary: ClassVar[str] = (
        "a CSV / JSON-lines file of architectures and metrics (--set space.file=PATH); "
        "selection and reporting use the same metric column"
    )
    metrics: tuple[str, ...] = ()

    def __init__(
        self,
        file: str | Path | None = None,
        choices: str | Sequence[str] | None = None,
        metric: str | None = None,
        costs: str | Sequence[str] | None = None,
    ) -> None:
        if file is None or str(file).strip() == "":
            raise ValueError(
                "space table needs a file of architectures and metrics: "
                "--set space.file=PATH (a CSV or JSON-lines file)"
            )
        self.file = Path(file).expanduser()
        table = _Table(self.file)
        self.metric = table.metric(metric)
        self._fitness = table.numeric(self.metric, "metric")
        cost_names = table.costs(costs, self.metric)
        self._costs = {c: table.numeric(c, "cost") for c in cost_names}
        self.metrics = tuple(cost_names)
        self.choice_names = tuple(table.choices(choices, self.metric, cost_names))
        values = {column: table.cells(column) for column in self.choice_names}
        self._space = table.space(values)
        self._row_of = table.row_numbers(self._space, values)

    # ---- the plugin ----------------------------------------------------------------------

    @property
    def space(self) -> Space:
        return self._space

    @property
    def rows(self) -> int:
        return len(self._row_of)

    def options(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "choices": ",".join(self.choice_names),
            "metric": self.metric,
            "costs": ",".join(self.metrics),
        }

    def row(self, genotype: Genotype) -> int | None:
        """The table row (0-based) of a genotype, None when the table has none."""
        return self._row_of.get(tuple(genotype.indices))

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """Row number of each index vector, -1 where the table has none."""
        return np.array([self._row_of.get(tuple(r), -1) for r in np.asarray(rows).tolist()])

    def fitness_batch(self, rows: np.ndarray) -> np.ndarray:
        """The metric of each index vector's row, NaN where the table has none."""
        numbers = self._rows(rows)
        return np.where(numbers >= 0, self._fitness[np.maximum(numbers, 0)], np.nan)

    def fitness(self, genotype: Genotype) -> float:
        """The metric of a genotype's row; ValueError (naming it) when the table has none."""
        found = self.row(genotype)
        if found is None:
            raise ValueError(
                f"{self.file} has no row for {self.describe_genotype(genotype)} (space table: "
                f"only the {self.rows} architectures of the file can be evaluated)"
            )
        return float(self._fitness[found])

    def optimum(self, budgets: Mapping[str, float] | None = None) -> float:
        """The best metric value of the table (of the rows within `budgets`)."""
        allowed = np.ones(len(self._fitness), dtype=bool)
        for metric, bound in (budgets or {}).items():
            if metric not in self._costs:
                raise ValueError(
                    f"space table has no cost metric {metric!r}; its metrics: "
                    + (", ".join(self.metrics) or "none")
                )
            allowed &= self._costs[metric] <= bound
        if not allowed.any():
            raise ValueError(f"no row of {self.file} fits the budgets {dict(budgets or {})}")
        return float(self._fitness[allowed].max())

    def describe_genotype(self, genotype: Genotype) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in genotype.values.items())

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return ()  # without its file there is nothing to name (and no instance to make)

    def default_budgets(self) -> dict[str, float]:
        return {}

    def budget(self, maximum: float, metric: str | None = None) -> Budget:
        if not self.cost_metrics:
            raise ValueError(
                f"{self.file} has no cost columns to budget; name them with "
                "--set space.costs=COL1,COL2 (numeric columns such as params or latency)"
            )
        return super().budget(maximum, metric)

    def cost(self, genotype: Genotype) -> dict[str, float]:
        found = self.row(genotype)
        return {
            m: float("nan") if found is None else float(v[found]) for m, v in self._costs.items()
        }

    def cost_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        numbers = self._rows(rows)
        present = numbers >= 0
        result = {}
        for metric, values in self._costs.items():
            column = np.full(len(numbers), np.nan)
            column[present] = values[numbers[present]]
            result[metric] = column
        return result

    def cost_range(self, metric: str, space: Space | None = None) -> tuple[float, float] | None:
        if metric not in self._costs or space is not None:
            return None
        values = self._costs[metric]
        return float(values.min()), float(values.max())

    def workbench(self, config: Mapping[str, Any] | None = None) -> TableWorkbench:
        return TableWorkbench(self, self.fitness_batch)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "file": str(self.file),
            "rows": self.rows,
            "metric": self.metric,
            "selection": "selection and reporting use the same metric column",
        }


class TableWorkbench(LookupWorkbench):
    """Lookups only: genotypes without a row evaluate as failures (NaN -> fitness None)."""

    def data_summary(self) -> str:
        p = self.plugin
        return (
            f"table: {p.rows} architectures from {p.file} (space of {p.space.size:,}); fitness "
            f"is column {p.metric!r}; selection and reporting use the same metric column"
        )

    def retrain(self, genotype: Genotype, stage: str) -> dict[str, float]:
        metrics = super().retrain(genotype, stage)
        return {**metrics, self.plugin.metric: metrics["test_top1"]}
