"""The comparison table of `archsearch compare` (paper Table 5 as strategy swaps, or
spaces at one budget)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archspace.metrics import metric as metric_of
from archspace.parallel import launched_rank
from archspace.ranks import kendall_tau
from cli.budgets import format_cost
from strategies.run import RunConfig, start_run
from strategies.store import RunStore


def rank_correlation(run_dir: Path) -> float | None:
    """Supernet fitness vs retrained val top-1 over the retrained candidates of a run."""
    with RunStore(run_dir, readonly=True) as store:
        fitness = {(e["stage"], e["key"]): e["fitness"] for e in store.evaluations()}
        pairs = [
            (fitness[(r["stage"], r["key"])], r["metrics"]["val_top1"])
            for r in store.retrains()
            if fitness.get((r["stage"], r["key"])) is not None
        ]
    return kendall_tau([a for a, _ in pairs], [b for _, b in pairs])


def compare_runs(
    configs: dict[str, RunConfig], folder: Path, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    rows = []
    for name, config in configs.items():
        run_dir = folder / name
        say(f"== {name} ==")
        started = time.monotonic()
        result = start_run(config, run_dir, say=say)
        if launched_rank() != 0:  # the main process reads the stores and writes the table
            continue
        with RunStore(run_dir, readonly=True) as store:
            final = store.stages()[-1]
            fitness = {e["key"]: e["fitness"] for e in store.evaluations(final)}
        rows.append(
            {
                "space": config.space,
                "strategy": config.strategy,
                "key": result.genotype.key,
                **result.costs,
                "cost_metrics": list(result.costs),
                "search_val_top1": fitness.get(result.genotype.key),
                "retrained_val_top1": result.metrics.get("val_top1"),
                "test_top1": result.metrics.get("test_top1"),
                "rank_correlation": rank_correlation(run_dir),
                "evaluations": result.evaluations,
                "retrains": result.retrains,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    return rows


def write_comparison(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    metric_keys = list(dict.fromkeys(m for r in rows for m in r.get("cost_metrics", ())))

    def cell(value: Any, metric: str = "") -> str:
        if value is None:
            return "n/a"
        if metric:
            return format_cost(metric, value)
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = [
        "space",
        "strategy",
        *(metric_of(k).title for k in metric_keys),
        "search-val top-1 (supernet)",
        "retrained val top-1",
        "retrained test top-1",
        "supernet rank corr. (Kendall)",
        "evaluated",
        "wall s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    r["space"],
                    r["strategy"],
                    *(cell(r.get(k), k) for k in metric_keys),
                    cell(r["search_val_top1"]),
                    cell(r["retrained_val_top1"]),
                    cell(r["test_top1"]),
                    cell(r["rank_correlation"]),
                    str(r["evaluations"]),
                    f"{r['seconds']:.0f}",
                ]
            )
            + " |"
        )
    note = (
        "\nSearch-val top-1 is the supernet's estimate on the held-out split of the training "
        "data; test top-1 comes from retraining the chosen architecture from scratch. The "
        "rank correlation compares supernet and retrained accuracy over the retrained "
        'candidates (n/a with fewer than 3). MACs are the papers\' "FLOPs".\n'
    )
    markdown = folder / "comparison.md"
    title = "Space comparison" if len({r["space"] for r in rows}) > 1 else "Strategy comparison"
    markdown.write_text(f"# {title}\n\n" + "\n".join(lines) + "\n" + note)
    data = folder / "comparison.json"
    data.write_text(json.dumps(rows, indent=2) + "\n")
    return [markdown, data]
