"""Search quality (issue 7): hierarchical-ea vs flat SPOS vs random at an equal budget.

On the full Fashion-MNIST (Debian's `dataset-fashion-mnist` IDX files), the small CPU
width and a MACs budget, each strategy runs with several seeds and the same total
training budget, counted in training images (supernet steps + retraining steps):

- spos:            one supernet of S images, top 2 retrained (R images each);
- hierarchical-ea: two supernets of S/2 images (distribution, detail), top 1 of each
                   stage retrained;
- random:          2 + S/R architectures sampled under the budget, each retrained.

Reported per strategy: the kept architecture's retrained test top-1 (mean and spread
over seeds) and its MACs. Then the ranking study: a sample of architectures from the
distribution stage's space and one from the detail stage's space (seed 0) are
retrained standalone and their search-validation top-1 is compared, by Kendall's tau,
with the supernet estimate from that stage's supernet and from the flat supernet; as a
control, the same two kinds of supernet are also trained with their budgets swapped (a
stage supernet of S images, a flat one of S/2), and MACs alone is the baseline.

Every run is a normal run folder under --out; an interrupted benchmark resumes.

    python benchmarks/search_quality.py [--seeds 5] [--jobs 2] [--out .bench/search-quality]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archspace.files import write_text

STRATEGIES = ("hierarchical-ea", "spos", "random")
BATCH = 128


def run_configs(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """(run folder name, RunConfig dict) for every strategy and seed."""
    supernet_steps = args.supernet_images // BATCH
    common_recipe = {
        "val_size": args.val_size,
        "eval.max_images": args.eval_images,
        "supernet.epochs": 1,
        "supernet.batch_size": BATCH,
        "retrain.epochs": 1,
        "retrain.batch_size": BATCH,
        "retrain.max_steps_per_epoch": args.retrain_images // BATCH,
    }
    random_architectures = 2 + args.supernet_images // args.retrain_images
    per_strategy = {  # (search settings, strategy options, recipe)
        "spos": ({"top_k": 2}, {}, {"supernet.max_steps_per_epoch": supernet_steps}),
        "hierarchical-ea": (
            {"top_k": 1},
            {},
            {"supernet.max_steps_per_epoch": supernet_steps // 2},
        ),
        "random": ({}, {"architectures": random_architectures}, {}),
    }
    configs = []
    for seed in range(args.seeds):
        for strategy in STRATEGIES:
            search, options, recipe = per_strategy[strategy]
            configs.append(
                (
                    f"{strategy}-seed{seed}",
                    {
                        "space": "glit",
                        "strategy": strategy,
                        "space_options": {"width": "cpu"},
                        "profile": "quick",
                        "budget": args.budget,
                        "budget_metric": "macs",
                        "seed": seed,
                        "search": search,
                        "strategy_options": options,
                        "workbench": {
                            "data": args.data,
                            "device": "cpu",
                            "recipe": {**common_recipe, **recipe},
                        },
                    },
                )
            )
    return configs


def _worker_threads(jobs: int) -> None:
    """Several runs at once share the cores: one torch thread each (the workbench reads
    OMP_NUM_THREADS), which keeps execution out of the runs' saved configs."""
    if jobs > 1:
        os.environ["OMP_NUM_THREADS"] = "1"


def _remembered(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The record saved at `path`, else `compute()` saved there atomically: a finished
    job keeps what it measured (its wall time too) when the benchmark is run again."""
    if path.exists():
        return json.loads(path.read_text())
    record = compute()
    write_text(path, json.dumps(record))
    return record


def run_search(job: tuple[str, dict[str, Any], str]) -> dict[str, Any]:
    """One search run (resumed if its folder exists); its answer and wall time."""
    from strategies.run import RunConfig, start_run

    name, config, out = job

    def search() -> dict[str, Any]:
        started = time.monotonic()
        result = start_run(RunConfig.from_dict(config), Path(out) / name)
        return {
            "name": name,
            "strategy": result.strategy,
            "key": result.genotype.key,
            "test_top1": result.metrics["test_top1"],
            "val_top1": result.metrics["val_top1"],
            "macs": result.costs["macs"],
            "evaluations": result.evaluations,
            "retrains": result.retrains,
            "seconds": time.monotonic() - started,
        }

    return _remembered(Path(out) / f"{name}.json", search)


def _workbench(plugin, config: dict[str, Any], run_dir: Path):
    from oneshot.progress import EventLog

    workbench = plugin.workbench({**config["workbench"], "run_dir": run_dir, "seed": 0})
    workbench.log = EventLog(None)  # reading a finished run: write nothing into it
    return workbench


def retrain_standalone(job: tuple[str, str, dict[str, Any], str]) -> dict[str, Any]:
    """Train one sampled architecture from scratch with the runs' retraining recipe."""
    from glit_space import GlitPlugin

    key, sample, config, out = job
    folder = Path(out) / "ranking"

    def retrain() -> dict[str, Any]:
        plugin = GlitPlugin(width="cpu")
        workbench = plugin.workbench({**config["workbench"], "run_dir": folder, "seed": 0})
        metrics = workbench.retrain(plugin.space.from_key(key), sample)
        return {"key": key, "sample": sample, **metrics}

    return _remembered(folder / f"{sample}-{key}.json", retrain)


def ranking_samples(args, configs: dict[str, dict[str, Any]]):
    """Sample A (distribution stage's space) and B (detail stage's space), with each
    architecture's estimate from several predictors: the seed-0 runs' own stage and
    flat supernets, the same two kinds of supernet with their training budgets swapped
    (a control: is a difference the space's or the budget's?), and MACs alone."""
    from archspace.space import as_rng
    from glit_space import GlitPlugin
    from strategies.store import RunStore

    plugin = GlitPlugin(width="cpu")
    space, constraint = plugin.space, plugin.budget(args.budget, "macs")
    hierarchical, flat = Path(args.out) / "hierarchical-ea-seed0", Path(args.out) / "spos-seed0"
    with RunStore(hierarchical, readonly=True) as store:
        winner = space.from_dict(store.stage_result("distribution")["genotype"])
    stage_spaces = {
        "distribution": space.restrict("distribution", space.default()),
        "detail": space.restrict("detail", winner),
    }
    hier_bench = _workbench(plugin, configs["hierarchical-ea-seed0"], hierarchical)
    flat_bench = _workbench(plugin, configs["spos-seed0"], flat)
    # the control: supernets of the same spaces trained with the other strategy's budget
    control = Path(args.out) / "control"
    full_bench = plugin.workbench({**configs["spos-seed0"]["workbench"], "run_dir": control})
    half_bench = plugin.workbench(
        {**configs["hierarchical-ea-seed0"]["workbench"], "run_dir": control}
    )
    half_bench.train_supernet(space, "flat-half")  # resumes (or skips) when already trained
    rng = as_rng(args.ranking_seed)
    samples = {}
    for stage, stage_space in stage_spaces.items():
        chosen: dict[str, Any] = {}
        while len(chosen) < args.ranking_sample:
            genotype = stage_space.sample_feasible(constraint, rng)
            chosen.setdefault(genotype.key, genotype)
        genotypes = list(chosen.values())
        full_bench.train_supernet(stage_space, f"{stage}-full")
        samples[stage] = {
            "keys": [g.key for g in genotypes],
            "predictors": {
                "stage supernet, S/2 (the run's)": hier_bench.evaluate(genotypes, stage),
                "flat supernet, S (the run's)": flat_bench.evaluate(genotypes, "flat"),
                "stage supernet, S": full_bench.evaluate(genotypes, f"{stage}-full"),
                "flat supernet, S/2": half_bench.evaluate(genotypes, "flat-half"),
                "MACs": [plugin.cost(g)["macs"] for g in genotypes],
            },
        }
    return samples


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {sd:.4f} (min {min(values):.4f}, max {max(values):.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist:/usr/share/datasets/fashion-mnist")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs in parallel, 1 torch thread each (default 1: one run at a time, with "
        "every core)",
    )
    parser.add_argument("--out", default=".bench/search-quality")
    parser.add_argument(
        "--budget", type=float, default=None, help="MACs budget [default: DeiT at this width]"
    )
    parser.add_argument("--supernet-images", type=int, default=40_960)
    parser.add_argument("--retrain-images", type=int, default=20_480)
    parser.add_argument("--val-size", type=int, default=5000)
    parser.add_argument("--eval-images", type=int, default=1000)
    parser.add_argument("--ranking-sample", type=int, default=8)
    parser.add_argument("--ranking-seed", type=int, default=12345)
    args = parser.parse_args()
    if args.budget is None:
        from glit_space import GlitPlugin

        plugin = GlitPlugin(width="cpu")
        args.budget = plugin.cost(plugin.space.default())["macs"]
    started = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ranking").mkdir(exist_ok=True)
    configs = run_configs(args)
    by_name = dict(configs)
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(
        args.jobs, initializer=_worker_threads, initargs=(args.jobs,), maxtasksperchild=1
    )
    with pool:
        runs = pool.map(run_search, [(n, c, str(out)) for n, c in configs], chunksize=1)
        print(f"searches done after {time.monotonic() - started:.0f} s", flush=True)
        samples = ranking_samples(args, by_name)
        jobs = [
            (key, stage, by_name["spos-seed0"], str(out))
            for stage, sample in samples.items()
            for key in sample["keys"]
        ]
        retrained = pool.map(retrain_standalone, jobs, chunksize=1)
    report(args, runs, samples, retrained, time.monotonic() - started)


def report(args, runs, samples, retrained, seconds: float) -> None:
    from scipy.stats import kendalltau

    lines = [
        f"full Fashion-MNIST ({args.data}), width cpu, MACs budget {args.budget / 1e6:g}M, "
        f"seeds {args.seeds}, training budget per run {args.supernet_images} supernet + "
        f"retraining images (R = {args.retrain_images}); wall {seconds / 60:.1f} min",
        "",
        "| strategy | retrained test top-1, mean ± sd (min, max) | val top-1 mean | "
        "MACs chosen (M) | evaluations / retrains per run | wall s per run |",
        "|---|---|---|---|---|---|",
    ]
    summary: dict[str, Any] = {"runs": runs, "args": vars(args)}
    for strategy in STRATEGIES:
        mine = [r for r in runs if r["strategy"] == strategy]
        lines.append(
            f"| {strategy} | {spread([r['test_top1'] for r in mine])} | "
            f"{statistics.fmean(r['val_top1'] for r in mine):.4f} | "
            + ", ".join(f"{r['macs'] / 1e6:.1f}" for r in mine)
            + f" | {mine[0]['evaluations']} / {mine[0]['retrains']} | "
            f"{statistics.fmean(r['seconds'] for r in mine):.0f} |"
        )
    predictors = list(next(iter(samples.values()))["predictors"])
    lines += [
        "",
        "Kendall tau between each predictor and the standalone-retrained top-1 (search-val: "
        f"{args.eval_images} images; test: the whole test split). S = "
        f"{args.supernet_images} supernet training images.",
        "",
        "| sample (seed 0) | n | retrained top-1 | range | "
        + " | ".join(f"tau: {name}" for name in predictors)
        + " |",
        "|---|---|---|---|" + "---|" * len(predictors),
    ]
    for stage, sample in samples.items():
        for split in ("val_top1", "test_top1"):
            truth = {r["key"]: r[split] for r in retrained if r["sample"] == stage}
            actual = [truth[k] for k in sample["keys"]]
            sample[f"retrained_{split}"] = actual
            taus = [kendalltau(sample["predictors"][name], actual).statistic for name in predictors]
            lines.append(
                f"| {stage} stage's space | {len(actual)} | {split.removesuffix('_top1')} | "
                f"{min(actual):.4f}-{max(actual):.4f} | "
                + " | ".join(f"{tau:.3f}" for tau in taus)
                + " |"
            )
    summary["ranking"] = samples
    summary["retrained"] = retrained
    summary["seconds"] = seconds
    text = "\n".join(lines)
    print(text)
    Path(args.out, "summary.json").write_text(json.dumps(summary, indent=2))
    Path(args.out, "summary.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
