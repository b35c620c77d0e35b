"""A new searcher in a few dozen lines: a hill-climber, registered and run end to end.

A searcher only proposes (`ask`) and learns (`tell`); the driver owns the budget, the
cache, resume, failures, the constraint check and the archive. This one mutates the
best architecture found so far, restarting from a fresh sample when stuck. Its options
are its own: declared once, they are checked before any work (`--set
searcher.patience=0` is refused, naming them), listed by `archsearch strategies`, and
passed to the constructor.

    python examples/custom_searcher.py [RUN_FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from archspace import Genotype
from strategies import PipelineResult, RunConfig, start_run
from strategies.asktell import AskTellSearcher
from strategies.options import Option
from strategies.searchers import searchers


class HillClimber(AskTellSearcher):
    name = "hill-climb"
    summary = "mutate the best so far (a hill-climber with random restarts)"
    options = (
        Option("batch", int, 8, "mutants of the best per step", low=1),
        Option("patience", int, 3, "steps without improvement before a restart", low=1),
    )

    def __init__(self, batch: int = 8, patience: int = 3) -> None:
        self.batch, self.patience = batch, patience

    def start(self, context) -> None:
        super().start(context)
        self.best: tuple[Genotype, float] | None = None
        self.seen: set[str] = set()
        self.stuck = 0

    def ask(self) -> list[Genotype]:
        if self.best is None or self.stuck >= self.patience:  # (re)start: fresh samples
            self.stuck = 0
            return self.context.sample(self.batch)
        space, rng = self.context.space, self.context.rng
        rows = space.mutate_batch(space.to_array([self.best[0]] * self.batch), rng, prob=0.2)
        children = [g for g in space.from_array(rows) if self.context.feasible(g)]
        return [g for g in children if g.key not in self.seen] or self.context.sample(1)

    def tell(self, genotypes, fitnesses) -> None:
        improved = False
        for genotype, fitness in zip(genotypes, fitnesses):
            self.seen.add(genotype.key)
            if fitness is not None and (self.best is None or fitness > self.best[1]):
                self.best, improved = (genotype, fitness), True
        self.stuck = 0 if improved else self.stuck + 1


def main(folder: Path) -> PipelineResult:
    searchers.register(HillClimber.name, HillClimber)  # or an `archsearch.searchers` entry point
    config = RunConfig(
        space="synthetic",
        strategy="spos",
        searcher="hill-climb",
        budgets={"cost": 60},
        seed=0,
        search={"top_k": 2, "max_evaluations": 60},
        searcher_options={"batch": 8, "patience": 2},
    )
    result = start_run(config, folder)
    print(result.genotype.to_json(), result.metrics, f"{result.evaluations} evaluated")
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
