"""Train one given architecture standalone, once per seed (`archsearch train`).

The architecture (a preset, an architecture file, a run's answer) is trained from
scratch with the profile's retraining recipe, exactly as a run retrains its answer,
once per seed. Each seed's metrics are written as it finishes and a stopped training
continues from its checkpoint, so a killed job resumes with the same call; under
torchrun the processes share out the seeds. The folder is laid out like a run's
(`architecture.json`, `retrain/<stage>-<key>.pt`), so `archsearch export FOLDER`
exports the weights of the seed with the best search-validation top-1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from archspace import Genotype, SpacePlugin, load_space, ranks_of
from archspace.files import folders_holding, write_json, write_text
from strategies.run import ARCHITECTURE_FILE, load_config
from strategies.statistics import Summary, interval_text

SETTINGS_FILE = "train.json"
REPORT_FILES = ("train.md", "train-summary.json")
#: the metrics summarised over seeds, with their labels in the report
REPORTED = {"val_top1": "search-val top-1", "test_top1": "test top-1"}


class TrainingError(ValueError):
    """A request that cannot be trained (or conflicts with the folder's)."""


def on_data(
    plugin: SpacePlugin, genotype: Genotype, data: str, download: bool = False
) -> tuple[SpacePlugin, Genotype]:
    """The plugin with the options `data` implies (the head sized to its classes) and
    the genotype in its space: a preset of ImageNet's 1,000 classes trains on
    Fashion-MNIST with a 10-class head."""
    implied = type(plugin).data_options(data, download)
    if all(plugin.options().get(k) == v for k, v in implied.items()):
        return plugin, genotype
    moved = load_space(plugin.name, **{**plugin.load_options(), **implied})
    return moved, moved.space.from_dict(genotype.to_dict())


def training_only(workbench: Mapping[str, Any]) -> dict[str, Any]:
    """Workbench settings less the supernet's recipe, which never shapes a standalone
    training: a row trained beside searches agrees with the same row trained alone."""
    recipe = {
        key: value
        for key, value in dict(workbench.get("recipe") or {}).items()
        if key != "supernet" and not key.startswith("supernet.")
    }
    return {**workbench, "recipe": recipe} if "recipe" in workbench else dict(workbench)


def _comparable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A folder's saved settings as this version writes them (see `training_only`)."""
    return {**settings, "workbench": training_only(settings.get("workbench") or {})}


def find_training(settings: Mapping[str, Any], folders: Iterable[str | Path]) -> Path | None:
    """A training folder with these very settings anywhere under `folders`, or None:
    a study whose row another study trained alike takes it (and its finished seeds)."""
    wanted = json.loads(json.dumps(settings, default=str))
    for folder in folders_holding(SETTINGS_FILE, folders):
        try:
            found = json.loads((folder / SETTINGS_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _comparable(found) == wanted:
            return folder
    return None


def stage_of(seed: int) -> str:
    """The stage name a seed's training is stored under (`retrain/<stage>-<key>.pt`)."""
    return f"train-s{seed}"


class StandaloneTraining:
    """`plugin`'s `genotype` trained from scratch for seeds `first_seed ..
    first_seed + seeds - 1` in `folder`. `workbench` holds the workbench settings
    (profile, data, device, recipe overrides, ...; `OneShotPlugin.workbench`)."""

    def __init__(
        self,
        plugin: SpacePlugin,
        genotype: Genotype,
        folder: str | Path,
        *,
        seeds: int = 1,
        first_seed: int = 0,
        workbench: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise TrainingError(f"seeds must be a positive int, got {seeds!r}")
        self.plugin, self.genotype, self.folder = plugin, genotype, Path(folder)
        self.seeds = [first_seed + k for k in range(seeds)]
        settings = {k: v for k, v in (workbench or {}).items() if v is not None}
        settings.pop("seed", None)  # a training's seed is its own
        plugin.check_run_settings(settings)  # refused before any work
        self.workbench_settings = training_only(settings)
        self._bench: Any = None

    @classmethod
    def from_run(
        cls,
        run: str | Path,
        folder: str | Path,
        *,
        seeds: int = 1,
        first_seed: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> StandaloneTraining:
        """A run's answer, trained with the run's own data and retraining recipe (plus
        `overrides`: workbench settings, `recipe` merged key by key); seeds start at the
        run's seed unless `first_seed` is given."""
        run = Path(run)
        config = load_config(run)
        answer_path = run / ARCHITECTURE_FILE
        if not answer_path.exists():
            raise TrainingError(f"{run} has no {ARCHITECTURE_FILE}: the run has not finished")
        answer = json.loads(answer_path.read_text())
        plugin = load_space(config.space, **config.space_options)
        settings = {**config.workbench, "profile": config.profile}
        for key, value in (overrides or {}).items():
            if key == "recipe":
                value = {**settings.get("recipe", {}), **value}
            settings[key] = value
        return cls(
            plugin,
            plugin.space.from_dict(answer["genotype"]),
            folder,
            seeds=seeds,
            first_seed=config.seed if first_seed is None else first_seed,
            workbench=settings,
        )

    # ---- settings -----------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        """What a training in this folder must agree on (more seeds may be added)."""
        return json.loads(
            json.dumps(
                {
                    "space": self.plugin.name,
                    "space_options": self.plugin.load_options(),
                    "key": self.genotype.key,
                    "workbench": self.workbench_settings,
                },
                default=str,
            )
        )

    def _check_folder(self) -> None:
        path = self.folder / SETTINGS_FILE
        if not path.exists():
            return
        found = _comparable(json.loads(path.read_text()))
        differs = sorted(
            k for k in {*found, *self.settings} if found.get(k) != self.settings.get(k)
        )
        if differs:
            raise TrainingError(
                f"{self.folder} holds a training with other settings (differing: "
                f"{', '.join(differs)}); rerun with the same ones to resume it, or choose "
                "another --out"
            )

    def workbench(self) -> Any:
        if self._bench is None:
            settings = {**self.workbench_settings, "run_dir": self.folder, "seed": self.seeds[0]}
            self._bench = self.plugin.workbench(settings)
        return self._bench

    def seed_path(self, seed: int) -> Path:
        return self.folder / "seeds" / f"{seed}.json"

    # ---- work ---------------------------------------------------------------------------

    def run(
        self,
        say: Callable[[str], None] = lambda message: None,
        progress: Callable[[int, int, str], None] = lambda done, total, what: None,
    ) -> dict[int, dict[str, float]]:
        """Train every seed not finished before; the metrics of every seed."""
        self._check_folder()
        bench = self.workbench()
        ranks = ranks_of(bench)
        if ranks.is_main:
            write_json(self.folder / SETTINGS_FILE, self.settings)
        pending = [s for s in self.seeds if not self.seed_path(s).exists()]
        ranks.barrier()  # every process has seen the same finished files
        done = len(self.seeds) - len(pending)
        say(
            f"training {self.genotype.key} ({self.plugin.describe_genotype(self.genotype)}): "
            f"{done} of {len(self.seeds)} seed(s) done before, {len(pending)} to go"
        )
        progress(done, len(self.seeds), "")
        alone = ranks.world_size > 1  # a seed per process
        for seed in pending[ranks.rank :: ranks.world_size] if alone else pending:
            metrics = bench.retrain(self.genotype, stage_of(seed), seed=seed, alone=alone)
            record = {"seed": seed, "metrics": {k: float(v) for k, v in metrics.items()}}
            write_json(self.seed_path(seed), record)  # each process writes its own seeds
            done += ranks.world_size if alone else 1
            progress(min(done, len(self.seeds)), len(self.seeds), f"seed {seed}")
            say(
                f"seed {seed}: search-val top-1 {metrics['val_top1']:.4f}, "
                f"test top-1 {metrics['test_top1']:.4f}"
            )
        ranks.barrier()
        results = self.results()
        if ranks.is_main:
            self._write_answer(results)
        return results

    def results(self) -> dict[int, dict[str, float]]:
        """The metrics of every finished seed of this request."""
        found = {}
        for seed in self.seeds:
            path = self.seed_path(seed)
            if path.exists():
                found[seed] = json.loads(path.read_text())["metrics"]
        return found

    def _write_answer(self, results: Mapping[int, Mapping[str, float]]) -> None:
        """architecture.json as a run writes it, naming the best seed's stage, so that
        `archsearch export FOLDER` exports that seed's weights."""
        best = max(results, key=lambda s: results[s]["val_top1"])
        write_json(
            self.folder / ARCHITECTURE_FILE,
            {
                "space": self.plugin.name,
                "space_options": self.plugin.load_options(),
                "key": self.genotype.key,
                "genotype": self.genotype.to_dict(),
                "costs": self.plugin.costs(self.genotype),
                "metrics": dict(results[best]),
                "stages": [stage_of(best)],
                "seed": best,
            },
        )

    # ---- report -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Per seed the metrics; per reported metric the mean, sd and 95% t interval."""
        results = self.results()
        if not results:
            raise TrainingError(f"{self.folder} holds no finished seed yet")
        return {
            "space": self.plugin.name,
            "key": self.genotype.key,
            "architecture": self.plugin.describe_genotype(self.genotype),
            "costs": self.plugin.costs(self.genotype),
            "seeds": {str(s): dict(m) for s, m in results.items()},
            "summary": {
                name: asdict(Summary.of([m[name] for m in results.values()])) for name in REPORTED
            },
        }

    def write_report(self) -> tuple[dict[str, Any], list[Path]]:
        """train.md and train-summary.json in the folder."""
        summary = self.summary()
        md, js = (self.folder / name for name in REPORT_FILES)
        write_json(js, summary)
        write_text(md, render(summary))
        return summary, [md, js]


def render(summary: Mapping[str, Any]) -> str:
    """The Markdown report: one row per seed, then mean, sd and interval."""
    lines = [
        f"# {summary['space']} {summary['key']}: trained standalone",
        "",
        f"{summary['architecture']}",
        "",
        "| seed | " + " | ".join(REPORTED.values()) + " | training (s) |",
        "|---|" + "---|" * (len(REPORTED) + 1),
    ]
    for seed, metrics in summary["seeds"].items():
        cells = [f"{metrics[name]:.4f}" for name in REPORTED]
        seconds = metrics.get("train_seconds")  # a tabulated space trains nothing
        took = "" if seconds is None else f"{seconds:.0f}"
        lines.append(f"| {seed} | " + " | ".join(cells) + f" | {took} |")
    lines.append("")
    for name, label in REPORTED.items():
        s = summary["summary"][name]
        interval = f", 95% interval{interval_text(s)}" if s["n"] > 1 else ""
        lines.append(
            f"- {label}: mean {s['mean']:.4f}, sd {s['sd']:.4f} over {s['n']} seed(s){interval}"
        )
    return "\n".join(lines) + "\n"


__all__ = ["StandaloneTraining", "TrainingError", "on_data", "render", "stage_of"]
