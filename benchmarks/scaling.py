"""Scaling (issue 7): evaluation over gloo ranks, and search time vs population and depth.

1. Evaluation throughput: the same candidates evaluated through a GLiT supernet by
   `torchrun` jobs of 1 and 2 CPU processes (gloo), each process with the given torch
   threads, from one supernet checkpoint; the workbench shards the candidates and
   gathers the accuracies. Reported:
   candidates/s and the speed-up of 2 ranks over 1, and whether both gave the same
   accuracies.
2. Search wall time: an evolution search (the `quick` schedule's shape: population P,
   P/2 parents, P/2 mutants + P/2 crossovers, 3 generations) over the GLiT space of
   depth D, evaluated through a briefly trained supernet, for a grid of P and D.
   Reported: evaluations, wall time and seconds per evaluation.

    python benchmarks/scaling.py [--candidates 16] [--populations 4,8,16] [--depths 4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: a few supernet steps: enough for weights that give varied accuracies
TRAIN = {
    "supernet.epochs": 1,
    "supernet.max_steps_per_epoch": 4,
    "eval.max_images": 500,
    "eval.bn_batches": 2,
}


def make_workbench(run_dir: Path, depth: int = 4):
    from glit_space import GlitPlugin

    plugin = GlitPlugin(width="cpu", depth=depth)
    workbench = plugin.workbench({"run_dir": run_dir, "seed": 0, "device": "cpu", "recipe": TRAIN})
    return plugin, workbench


def worker(folder: Path, candidates: int, threads: int) -> None:
    """One process of the evaluation job (under torchrun), on the folder's supernet."""
    import torch

    from oneshot.distributed import shutdown

    torch.set_num_threads(threads)
    plugin, workbench = make_workbench(folder)
    genotypes = [plugin.space.sample(np.random.default_rng([7, i])) for i in range(candidates)]
    workbench.evaluate(genotypes[:2], "bench")  # warm-up: data, allocator
    workbench.ranks.barrier()
    started = time.perf_counter()
    scores = workbench.evaluate(genotypes, "bench")
    seconds = time.perf_counter() - started
    if workbench.ranks.is_main:
        result = folder / f"result-{workbench.ranks.world_size}x{threads}.json"
        result.write_text(json.dumps({"seconds": seconds, "scores": scores}))
    shutdown()


def evaluation_job(folder: Path, ranks: int, candidates: int, threads: int) -> dict:
    """Time a torchrun job of `ranks` processes evaluating through folder's supernet."""
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--standalone", "--nproc-per-node", str(ranks), __file__]
    command += ["--worker", str(folder), "--candidates", str(candidates)]
    command += ["--threads", str(threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads((folder / f"result-{ranks}x{threads}.json").read_text())


def search_time(population: int, depth: int) -> tuple[int, float]:
    from strategies.driver import run_search
    from strategies.evaluations import Evaluations
    from strategies.evolution import EvolutionSearcher

    with tempfile.TemporaryDirectory() as folder:
        plugin, workbench = make_workbench(Path(folder), depth)
        workbench.train_supernet(plugin.space, "bench")
        searcher = EvolutionSearcher(
            population=population,
            parents=max(2, population // 2),
            mutants=population // 2,
            crossovers=population // 2,
            generations=3,
        )
        evaluations = Evaluations(lambda genotypes: workbench.evaluate(genotypes, "bench"))
        started = time.perf_counter()
        run_search(searcher, plugin.space, evaluations, seed=0)
        return evaluations.fresh, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--populations", default="4,8,16")
    parser.add_argument("--depths", default="4,8")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.candidates, args.threads)
        return
    import torch

    torch.set_num_threads(2)
    print("| ranks x threads | candidates | wall s | candidates/s | vs 1 rank |")
    print("|---|---|---|---|---|")
    jobs = [(1, 1), (1, 2), (2, 1)]
    with tempfile.TemporaryDirectory() as folder:
        plugin, workbench = make_workbench(Path(folder))
        workbench.train_supernet(plugin.space, "bench")  # once, for every job to load
        results = {
            (ranks, threads): evaluation_job(Path(folder), ranks, args.candidates, threads)
            for ranks, threads in jobs
        }
    base = results[1, 1]["seconds"]
    for (ranks, threads), result in results.items():
        rate = args.candidates / result["seconds"]
        print(
            f"| {ranks} x {threads} | {args.candidates} | {result['seconds']:.1f} | "
            f"{rate:.2f} | {base / result['seconds']:.2f}x |"
        )
    same = results[1, 1]["scores"] == results[2, 1]["scores"]
    print(f"\n2 ranks gave the same accuracies as 1: {same}\n")
    print("| depth | population | evaluations | wall s | s per evaluation |")
    print("|---|---|---|---|---|")
    for depth in [int(d) for d in args.depths.split(",")]:
        for population in [int(p) for p in args.populations.split(",")]:
            evaluated, seconds = search_time(population, depth)
            print(
                f"| {depth} | {population} | {evaluated} | {seconds:.1f} | "
                f"{seconds / evaluated:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
