"""A user-defined search space and plugin in a few dozen lines, searched two ways.

The space: a 3-stage CNN-like model with a width per stage and an optional
squeeze-excite ratio that only matters when the stage uses it. Costs and "accuracy"
are analytic stand-ins; a real plugin would train in `Workbench.retrain`.

    python examples/custom_space.py [RUN_FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from archspace import Choice, Genotype, In, Space, SpacePlugin, Workbench, spaces
from strategies import RunConfig, start_run


class ToyPlugin(SpacePlugin):
    name = "toy"
    summary = "three stages: width, squeeze-excite on/off and its ratio"
    metrics = ("macs",)

    def __init__(self) -> None:
        choices = []
        for i in range(3):
            choices += [
                Choice(f"stage.{i}.width", (16, 32, 64), level="distribution"),
                Choice(f"stage.{i}.se", (False, True), level="distribution"),
                Choice(
                    f"stage.{i}.se_ratio",
                    (0.25, 0.5),
                    level="detail",
                    when=In(f"stage.{i}.se", (True,)),
                ),
            ]
        self._space = Space(choices, name="toy")

    @property
    def space(self) -> Space:
        return self._space

    def cost(self, genotype: Genotype) -> dict[str, float]:
        v = genotype.values
        return {
            "macs": sum(
                v[f"stage.{i}.width"] ** 2 * (1.2 if v[f"stage.{i}.se"] else 1.0) for i in range(3)
            )
        }

    def accuracy(self, genotype: Genotype) -> float:
        v = genotype.values
        return sum(
            0.2 * v[f"stage.{i}.width"] ** 0.5 / 8 + 0.05 * v.get(f"stage.{i}.se_ratio", 0)
            for i in range(3)
        )

    def workbench(self, config):
        plugin = self

        class Bench(Workbench):  # no supernet to train: the estimate is the accuracy
            def train_supernet(self, space, stage):
                return None

            def evaluate(self, genotypes, stage):
                return [plugin.accuracy(g) for g in genotypes]

            def retrain(self, genotype, stage, *, seed=None, alone=False):
                return {
                    "val_top1": plugin.accuracy(genotype),
                    "test_top1": plugin.accuracy(genotype),
                }

        return Bench()


def main(folder: Path) -> dict[str, Genotype]:
    spaces.register("toy", ToyPlugin)  # or an `archsearch.spaces` entry point in a package
    results = {}
    for strategy in ("hierarchical-ea", "random"):
        config = RunConfig(
            space="toy",
            strategy=strategy,
            budgets={"macs": 6000},
            seed=0,
            search={"top_k": 2},
            searcher_options={"population": 8, "generations": 3},
        )
        results[strategy] = start_run(config, folder / strategy).genotype
        print(strategy, results[strategy].to_json())
    return results


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
