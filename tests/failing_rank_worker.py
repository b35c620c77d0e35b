"""Run by tests/test_gpu_readiness.py under torchrun (2 gloo ranks): a candidate that
fails on one rank only, then an out-of-memory on one rank only. Writes what each rank
recorded, which the test compares."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from archspace import EvaluatorError
from archspace.synthetic import SyntheticPlugin
from oneshot.distributed import init_from_env, shutdown
from strategies.evaluations import Evaluations


def main(out: str) -> None:
    ranks = init_from_env()
    space = SyntheticPlugin(depth=3).space
    genotypes = space.from_array(space.sample_batch(8, np.random.default_rng(0)))
    culprit, too_big = genotypes[3].key, genotypes[6].key  # on ranks 1 and 0: [r::2]

    def score(genotype) -> float:
        if genotype.key == culprit:
            raise ValueError("this architecture cannot be built")
        if genotype.key == too_big:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return float(sum(genotype.indices))

    evaluations = Evaluations(lambda batch: ranks.map_each(score, batch))
    evaluations(genotypes[:6])  # one failure, on rank 1 alone
    try:
        evaluations(genotypes[6:])
        stopped = None
    except EvaluatorError as error:
        stopped = str(error)
    record = {
        "results": dict(evaluations.results),
        "errors": {g.key: evaluations.error(g) for g in genotypes[:6] if evaluations.error(g)},
        "culprit": culprit,
        "stopped": stopped,
    }
    with open(f"{out}/rank{ranks.rank}.json", "w") as file:
        json.dump(record, file)
    shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
