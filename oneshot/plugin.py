"""`OneShotPlugin`: a space plugin base that brings the one-shot training backend.

A torch space subclasses it and supplies the torch side of `oneshot.interface`
(`model_input`, `supernet`, `build`) next to the space and cost model; it then gets
SPOS training, evaluation, retraining, torchrun, export of a run's trained weights and
the run set-up from the data, with no training code of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archspace import Genotype, SpacePlugin
from archspace.latency import LatencyTableError
from archspace.plugin import DEFAULT_DATA
from oneshot.interface import ModelInput

#: what `OneShotPlugin.workbench` reads from a run's config
WORKBENCH_KEYS = frozenset(
    {
        "run_dir",
        "seed",
        "profile",
        "recipe",
        "data",
        "device",
        "threads",
        "download",
        "num_workers",
        "memory_gib",
        "accumulation",
    }
)


def _check_keys(workbench: Mapping[str, Any]) -> None:
    """Refuse a workbench setting `OneShotPlugin.workbench` would not read."""
    unknown = sorted(set(workbench) - WORKBENCH_KEYS)
    if unknown:
        raise ValueError(
            f"unknown workbench setting(s) {', '.join(unknown)}; allowed: "
            + ", ".join(sorted(WORKBENCH_KEYS))
        )


def retrain_checkpoint(run_dir: str | Path, stage: str, key: str) -> Path:
    """Where a run keeps the retrained weights of architecture `key` from `stage`."""
    return Path(run_dir) / "retrain" / f"{stage}-{key}.pt"


class MeasuresLatency:
    """Latency tables measured with torch (`oneshot.latency`) for a plugin whose parts
    build alone (`latency_part_keys`, `latency_module`): mix it into any torch space;
    `OneShotPlugin` has it."""

    def build_latency_table(self, out: str | Path, **settings: Any):
        from oneshot.latency import build_table

        return build_table(self, out=out, **settings)

    def check_latency_table(self, table: Any, **settings: Any) -> dict[str, Any]:
        from oneshot.latency import check_table

        return check_table(table, self, **settings)

    def latency_module(self, key: str) -> tuple[Any, tuple[int, ...]]:
        """The part `key` of `latency_part_keys` built alone, with its input's shape
        (batch excluded): what a latency table times. Default: the space cannot."""
        raise LatencyTableError(
            f"space {self.name!r} cannot build its latency "
            "parts alone: implement latency_module(key) -> (module, input shape)"
        )


class OneShotPlugin(MeasuresLatency, SpacePlugin):
    """Base of the torch spaces: subclasses add `model_input`, `supernet` and `build`."""

    def model_input(self) -> ModelInput:
        raise NotImplementedError

    def supernet(self, drop_path_rate: float = 0.0):
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:
        model = self.model_input()
        return (model.in_chans, model.img_size, model.img_size)

    @classmethod
    def data_options(cls, data: str, download: bool = False) -> dict[str, Any]:
        """The class count of the data: the space's head must match it."""
        from oneshot.sources import data_info

        return {"num_classes": data_info(data, download=download).num_classes}

    def check_run_settings(self, workbench: Mapping[str, Any]) -> None:
        """Everything `workbench` reads, checked before the run starts: the keys, the
        recipe (profile plus `recipe` overrides), the device, threads, num_workers,
        download, seed and the data spec (and its folder)."""
        import torch

        from oneshot.distributed import check_launched_device
        from oneshot.memory import ACCUMULATION
        from oneshot.recipes import get_recipe
        from oneshot.runtime import DEVICES
        from oneshot.sources import DataSpec, data_info

        _check_keys(workbench)
        recipe = workbench.get("recipe", {})
        if not isinstance(recipe, Mapping):
            raise ValueError(f"the recipe overrides must be a table, got {recipe!r}")
        get_recipe(workbench.get("profile", "quick")).override(**recipe)
        device = workbench.get("device", "auto")
        allowed = f"{', '.join(DEVICES)} or cuda:N (N a GPU index)"
        if not isinstance(device, str) or not (
            device in DEVICES or re.fullmatch(r"cuda:\d+", device)
        ):
            raise ValueError(f"unknown device {device!r}; allowed: {allowed}")
        check_launched_device(device)
        if device.startswith("cuda"):
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                raise ValueError(
                    f"device {device!r} was asked for but no CUDA GPU is available here; "
                    "use --device cpu (or auto)"
                )
            if ":" in device and int(device.partition(":")[2]) >= count:
                raise ValueError(
                    f"device {device!r} does not exist: this machine has {count} CUDA GPU(s), "
                    f"cuda:0 to cuda:{count - 1}"
                )
        for key in ("threads", "num_workers"):
            value = workbench.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValueError(f"workbench.{key} must be a non-negative int, got {value!r}")
        memory = workbench.get("memory_gib")
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, (int, float)) or memory <= 0
        ):
            raise ValueError(
                f"workbench.memory_gib must be a positive number of GiB (the memory each "
                f"process may fill on its device), got {memory!r}"
            )
        accumulation = workbench.get("accumulation", "auto")
        if accumulation not in ACCUMULATION:
            raise ValueError(
                f"workbench.accumulation must be one of {', '.join(ACCUMULATION)} (fit a "
                f"batch too large for the memory by gradient accumulation, or refuse it), "
                f"got {accumulation!r}"
            )
        for key, kind, what in (("download", bool, "true or false"), ("seed", int, "an int")):
            value = workbench.get(key)
            if value is not None and not (
                isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            ):
                raise ValueError(f"{key} must be {what}, got {value!r}")
        data = workbench.get("data", DEFAULT_DATA)
        DataSpec.parse(data)
        data_info(data, download=bool(workbench.get("download", False)))

    def workbench(self, config: Mapping[str, Any]):
        """The training backend for a run, from the config keys in WORKBENCH_KEYS
        (`recipe` holds dotted overrides; `threads` the CPU threads per process). Under
        torchrun it joins the job's process group (gloo on the CPU, nccl with one GPU per
        process)."""
        from oneshot.distributed import init_from_env, local_device
        from oneshot.recipes import get_recipe
        from oneshot.runtime import default_workers, select_runtime
        from oneshot.workbench import OneShotWorkbench

        _check_keys(config)
        recipe = get_recipe(config.get("profile", "quick")).override(**config.get("recipe", {}))
        runtime = select_runtime(
            local_device(config.get("device", "auto")), threads=config.get("threads")
        )
        return OneShotWorkbench(
            self,
            recipe,
            config["run_dir"],
            data=config.get("data", DEFAULT_DATA),
            seed=config.get("seed", 0),
            runtime=runtime,
            download=config.get("download", False),
            num_workers=(
                default_workers(runtime.device)
                if config.get("num_workers") is None
                else config["num_workers"]
            ),
            ranks=init_from_env(runtime.device),  # launched by torchrun: join its group
            memory_gib=config.get("memory_gib"),
            accumulation=config.get("accumulation", "auto"),
        )

    def export_model(
        self, genotype: Genotype, run_dir: str | Path | None = None, stages: Sequence[str] = ()
    ):
        """The standalone module; from a run folder with the retrained weights of the
        latest of `stages` that retrained `genotype`."""
        model = self.build(genotype)
        if run_dir is None:
            return model, "freshly initialised weights (not trained)"
        from oneshot.checkpoint import load_checkpoint

        for stage in reversed(stages):
            path = retrain_checkpoint(run_dir, stage, genotype.key)
            if path.exists():
                model.load_state_dict(load_checkpoint(path)["model"])
                return model, f"retrained weights from {path}"
        raise FileNotFoundError(
            f"run folder {run_dir} has no retrained weights for {genotype.key} "
            f"(expected {Path(run_dir) / 'retrain'}/<stage>-{genotype.key}.pt)"
        )
