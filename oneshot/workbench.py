"""`OneShotWorkbench`: the training backend of every torch space (archspace's `Workbench`).

It needs from the space plugin only the torch-side interface of `oneshot.interface`
(a supernet with `activate`, `build`, `model_input`).

Supernet training is SPOS: every step samples one path uniformly from the (sub-)space
being searched, seeded by (run seed, stage, step), activates it and trains it.
Evaluation gives a path's search-validation top-1 with inherited weights after
BatchNorm recalibration. Retraining trains the standalone subnet from scratch with the
DeiT recipe and reports top-1 on the test split, the only place the test split is used.
Each training run checkpoints into the run folder and resumes from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from archspace import EvaluatorError, Genotype, Space, Workbench
from archspace.seeds import stage_entropy, stage_seed
from oneshot.checkpoint import load_checkpoint
from oneshot.datasets import (
    DEFAULT_DATA,
    DataSplits,
    load_data,
    make_loader,
    stratified_sample,
)
from oneshot.distributed import Ranks
from oneshot.evaluation import supernet_top1, top1
from oneshot.interface import OneShotSpace
from oneshot.memory import (
    MemoryBudgetError,
    device_budget,
    largest_path,
    plan_memory,
    step_need,
)
from oneshot.optimisation import param_groups, warmup_cosine
from oneshot.plugin import retrain_checkpoint
from oneshot.progress import EventLog
from oneshot.proxy_scoring import minibatch, score_untrained
from oneshot.recipes import Recipe, RetrainRecipe, SupernetRecipe
from oneshot.runtime import Runtime, select_runtime
from oneshot.training import Loop, TrainResult
from oneshot.transforms import mixup_cutmix

#: search-val images kept as uint8 on the device between candidate evaluations, at most
#: (bytes); a larger split is kept in host memory (pinned for a GPU) up to
#: HOST_CACHE_BYTES, and streamed from its files beyond that
EVAL_CACHE_BYTES = 1 << 30
HOST_CACHE_BYTES = 8 << 30


class _Normalised:
    """Search-val batches kept as uint8, normalised on the device as they are read
    (exactly the float pipeline's values; a quarter of its memory)."""

    def __init__(self, batches: list[tuple[Tensor, Tensor]], normalise, device) -> None:
        self.batches, self.normalise, self.device = batches, normalise, device

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in self.batches:
            x = x.to(self.device, non_blocking=True)
            yield self.normalise(x), y.to(self.device, non_blocking=True)


class OneShotWorkbench(Workbench):
    """Supernet training, supernet evaluation and retraining for one run folder."""

    def __init__(
        self,
        plugin: OneShotSpace,
        recipe: Recipe,
        run_dir: str | Path,
        *,
        data: str = DEFAULT_DATA,
        seed: int = 0,
        runtime: Runtime | None = None,
        download: bool = False,
        num_workers: int = 0,
        log: EventLog | None = None,
        ranks: Ranks | None = None,
        memory_gib: float | None = None,
        accumulation: str = "auto",
    ) -> None:
        self.plugin, self.recipe, self.seed = plugin, recipe, seed
        self.memory_gib, self.accumulation = memory_gib, accumulation
        self.run_dir = Path(run_dir)
        self.runtime = runtime or select_runtime("auto")
        self.data_spec, self.download, self.num_workers = data, download, num_workers
        self.ranks = ranks or Ranks()
        self.log = log or EventLog(self.run_dir / "train-log.jsonl" if self.ranks.is_main else None)
        self._data: dict[str, DataSplits] = {}
        self._proxy_batches: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}
        self._supernets: dict[str, nn.Module] = {}
        self._eval_batches: list[tuple[Tensor, Tensor]] | None = None
        self._calibration_batches: list[Tensor] | None = None

    # ---- data ---------------------------------------------------------------------------

    def data(self, augment: str = "none") -> DataSplits:
        """Splits with the given training augmentation (val and test never augmented)."""
        if augment == "auto":
            scheme = self.data_spec.partition(":")[0].strip().lower()
            augment = "deit" if scheme == "imagefolder" else "light"
        if augment not in self._data:
            first = self.download and self.ranks.active and not self._data
            if first and not self.ranks.is_main:
                self.ranks.barrier()  # rank 0 downloads, the others read its files
            self._data[augment] = load_data(
                self.data_spec,
                self.plugin.model_input(),
                val_size=self.recipe.val_size,
                val_max=self.recipe.val_max,
                seed=self.seed,
                augment=augment,
                download=self.download,
            )
            if first and self.ranks.is_main:
                self.ranks.barrier()
        return self._data[augment]

    def _eval_split(self, val: Dataset | None = None) -> Dataset:
        """The search-validation images one evaluation uses (of `val`, by default the
        split's floats): the whole split, or under `eval.max_images` a seeded
        class-stratified draw (the same for every path)."""
        val = self.data().val if val is None else val
        cap = self.recipe.eval.max_images
        if cap is None or cap >= len(val):
            return val
        return Subset(val, stratified_sample(self.data().val.targets, cap, self.seed).tolist())

    def _val_loader(self):
        return self._loader(self._eval_split(), self.recipe.eval.batch_size)

    def _search_val(self) -> Iterable[tuple[Tensor, Tensor]]:
        """The search-val images of every candidate evaluation, decoded once: kept as
        uint8 on the device when they fit `EVAL_CACHE_BYTES` (a search evaluates
        hundreds of candidates on the same images), else in host memory (pinned for a
        GPU) up to `HOST_CACHE_BYTES`, normalised on the device batch by batch; a split
        larger still is streamed from its files by the loader each time."""
        if self._eval_batches is None:
            data = self.data()
            raw = self._eval_split(data.val_uint8)
            size = len(raw) * data.in_chans * data.img_size**2
            kept: list[tuple[Tensor, Tensor]] = []
            if size <= HOST_CACHE_BYTES:
                on_device = size <= EVAL_CACHE_BYTES
                pin = not on_device and self.runtime.device.type == "cuda"
                for x, y in self._loader(raw, self.recipe.eval.batch_size):
                    if on_device:
                        x, y = x.to(self.runtime.device), y.to(self.runtime.device)
                    elif pin:
                        x, y = x.pin_memory(), y.pin_memory()
                    kept.append((x, y))
            self._eval_batches = kept
        if not self._eval_batches:
            return self._val_loader()
        return _Normalised(self._eval_batches, self.data().normalise, self.runtime.device)

    def _calibration_on_device(self) -> list[Tensor]:
        """The BatchNorm calibration batches, made and moved to the device once."""
        if self._calibration_batches is None:
            self._calibration_batches = [x.to(self.runtime.device) for x in self._calibration()]
        return self._calibration_batches

    def data_summary(self) -> str:
        """One line for the run's start: what each split holds."""
        data = self.data()
        per_eval = len(self._eval_split())
        drawn = (
            f" ({per_eval:,} per evaluation, drawn by class)" if per_eval < len(data.val) else ""
        )
        return (
            f"data {data.info.spec}, {data.num_classes} classes: {len(data.train):,} train, "
            f"{len(data.val):,} search-val{drawn}, {len(data.test):,} test"
        )

    def _loader(self, dataset, batch_size: int):
        return make_loader(
            dataset,
            batch_size,
            shuffle=False,
            seed=self.seed,
            num_workers=self.num_workers,
            pin_memory=self.runtime.device.type == "cuda",
        )

    def _calibration(self) -> Iterator[Tensor]:
        """The same training batches for every path: a seeded class-stratified draw in a
        seeded order, with a fixed RNG for augmentation."""
        recipe = self.recipe.eval
        train = self.data(self.recipe.supernet.augment).train
        count = min(recipe.bn_batches * recipe.bn_batch_size, len(train))
        chosen = stratified_sample(train.targets, count, self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        order = chosen[torch.randperm(count, generator=generator)]  # classes mixed per batch
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            loader = self._loader(Subset(train, order.tolist()), recipe.bn_batch_size)
            for x, _ in loader:
                yield x

    def proxy_batch(self, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        """A seeded class-stratified minibatch of the training split, not augmented:
        what the zero-cost proxies see (never search-val or test images); drawn once."""
        if (batch_size, seed) not in self._proxy_batches:
            train = self.data("none").train
            self._proxy_batches[batch_size, seed] = minibatch(
                train, batch_size, seed, self.runtime.device
            )
        return self._proxy_batches[batch_size, seed]

    def proxy_scores(
        self, genotype: Genotype, names: Sequence[str], *, batch_size: int = 64, seed: int = 0
    ) -> dict[str, float]:
        """Each proxy of a freshly initialised standalone network (the same initial
        weights for every proxy: torch seeded with `seed`)."""
        images, labels = self.proxy_batch(batch_size, seed)
        return score_untrained(
            lambda: self.plugin.build(genotype), names, images, labels, seed=seed
        )

    def _loop(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        recipe: SupernetRecipe | RetrainRecipe,
        data: DataSplits,
        checkpoint: Path,
        label: str,
        min_lr_ratio: float = 0.0,
        seed: int | None = None,
        ranks: Ranks | None = None,
        **extra,
    ) -> Loop:
        """A resumable loop with the recipe's schedule: warm-up, then cosine (data order
        and augmentation from `seed`, by default the run's)."""
        loop = Loop(
            model=model,
            dataset=data.train,
            optimizer=optimizer,
            scheduler=None,
            runtime=self.runtime,
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            seed=self.seed if seed is None else seed,
            criterion=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
            checkpoint=checkpoint,
            max_steps_per_epoch=recipe.max_steps_per_epoch,
            num_workers=self.num_workers,
            log=self.log,
            label=label,
            ranks=self.ranks if ranks is None else ranks,
            **extra,
        )
        steps = loop.steps_per_epoch
        loop.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            warmup_cosine(recipe.epochs * steps, round(recipe.warmup_epochs * steps), min_lr_ratio),
        )
        return loop

    # ---- memory -------------------------------------------------------------------------

    def _plan_memory(
        self, loop: Loop, model: nn.Module, optimizer_states: int, space: Space | None = None
    ) -> None:
        """Fit the loop's batch to the device's memory (`oneshot.memory`), measured on
        the model as it is (a supernet: on its largest path); the ranks agree on the most
        micro-batches any of them needs, and a refusal on one refuses on all."""
        budget = device_budget(self.runtime.device, self.memory_gib)
        if budget is None:
            return
        if space is not None:  # a supernet: its largest path
            model.activate(largest_path(space, self.plugin.cost, self.seed))
        shape = self.plugin.model_input()
        need_at, how = step_need(
            model,
            (shape.in_chans, shape.img_size, shape.img_size),
            shape.num_classes,
            self.runtime.device,
            self.runtime.autocast,
            optimizer_states,
        )
        local_batch = loop.batch_size // self.ranks.world_size
        try:
            plan = plan_memory(
                loop.label,
                local_batch,
                budget,
                need_at,
                accumulation=self.accumulation,
                measured_by=how,
            )
            outcome: int | str = plan.accumulation
        except MemoryBudgetError as error:
            outcome = str(error)
        except torch.cuda.OutOfMemoryError as error:  # even the small measured steps
            outcome = f"{loop.label}: out of memory measuring one small step: {error}"
        outcomes = self.ranks.gather([outcome], self.ranks.world_size)
        refused = [o for o in outcomes if isinstance(o, str)]
        if refused:
            raise MemoryBudgetError(refused[0])
        loop.accumulation = max(outcomes)
        plan = replace(plan, accumulation=loop.accumulation)
        self.log("memory_plan", plan=plan.describe(), **vars(plan))

    # ---- supernet -----------------------------------------------------------------------

    def supernet_checkpoint(self, stage: str) -> Path:
        return self.run_dir / f"supernet-{stage}.pt"

    def train_supernet(self, space: Space, stage: str) -> TrainResult:
        """SPOS over `space` (a sub-space for hierarchical stages); resumes if interrupted."""
        recipe = self.recipe.supernet
        data = self.data(recipe.augment)
        seeds = stage_entropy(self.seed, stage)
        torch.manual_seed(stage_seed(self.seed, stage))  # initial weights, augmentation
        supernet = self.runtime.prepare(self.plugin.supernet())
        optimizer = torch.optim.SGD(
            param_groups(supernet, recipe.weight_decay),
            lr=recipe.scaled_lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov,
        )
        loop = self._loop(
            supernet, optimizer, recipe, data, self.supernet_checkpoint(stage), f"supernet {stage}"
        )

        def activate_random_path(step: int) -> None:
            genotype = space.sample(np.random.default_rng([*seeds, step]))
            supernet.activate(genotype)

        loop.before_step = activate_random_path
        self._plan_memory(loop, supernet, optimizer_states=1, space=space)  # SGD: momentum
        result = loop.run()
        self._supernets[stage] = supernet
        self.log("supernet_trained", stage=stage, **vars(result))
        return result

    def supernet(self, stage: str) -> nn.Module:
        """The trained supernet of a stage (from memory, else from its checkpoint)."""
        if stage not in self._supernets:
            state = load_checkpoint(
                self.supernet_checkpoint(stage), map_location=self.runtime.device
            )
            if state is None:
                raise FileNotFoundError(
                    f"no supernet for stage {stage!r} in {self.run_dir}: train it first"
                )
            supernet = self.runtime.prepare(self.plugin.supernet())
            supernet.load_state_dict(state["model"])
            self._supernets[stage] = supernet
        return self._supernets[stage]

    def evaluate(self, genotypes: Sequence[Genotype], stage: str) -> list[float]:
        """Search-validation top-1 of each genotype with the stage's supernet weights."""
        self.ranks.check_same([g.key for g in genotypes], f"the candidates of stage {stage!r}")
        supernet = self.supernet(stage)
        loader, calibration = self._search_val(), self._calibration_on_device()
        # with several processes: a shard each, then gathered; a candidate that fails
        # on one process is a failure on all of them, out of memory stops every one
        try:
            return self.ranks.map_each(
                lambda g: supernet_top1(supernet, g, loader, calibration, self.runtime),
                list(genotypes),
            )
        except EvaluatorError as error:
            raise EvaluatorError(
                f"{error} (evaluating candidates of stage {stage!r} on "
                f"{self.runtime.device}); lower recipe.eval.batch_size (now "
                f"{self.recipe.eval.batch_size}) or the space's width"
            ) from None

    # ---- retraining ---------------------------------------------------------------------

    def retrain(
        self, genotype: Genotype, stage: str, *, seed: int | None = None, alone: bool = False
    ) -> dict[str, float]:
        """Train the standalone subnet from scratch.

        Reports `val_top1` (search-validation split: what pipelines rank retrained
        candidates by) and `test_top1` (the test split: reported, never used to choose).
        `seed` (default: the run's) sets the initial weights, data order and augmentation;
        the splits stay the run's. `alone` trains in this process only, also under
        torchrun (for jobs that give each process whole trainings).
        """
        recipe = self.recipe.retrain
        data = self.data(recipe.augment)
        seed = self.seed if seed is None else seed
        torch.manual_seed(seed)
        model = self.runtime.prepare(self.plugin.build(genotype, drop_path_rate=recipe.drop_path))
        optimizer = torch.optim.AdamW(param_groups(model, recipe.weight_decay), lr=recipe.scaled_lr)
        mix = mixup_cutmix(data.num_classes, recipe.mixup, recipe.cutmix)
        loop = self._loop(
            model,
            optimizer,
            recipe,
            data,
            retrain_checkpoint(self.run_dir, stage, genotype.key),
            f"retrain {stage}",
            min_lr_ratio=recipe.min_lr / recipe.scaled_lr,
            seed=seed,
            ranks=Ranks() if alone else None,
            batch_transform=mix,
            clip_grad=recipe.clip_grad,
        )
        self._plan_memory(loop, model, optimizer_states=2)  # AdamW: two moments
        result = loop.run()
        test = self._loader(data.test, self.recipe.eval.batch_size)
        metrics = {
            "val_top1": top1(model, self._search_val(), self.runtime),
            "test_top1": top1(model, test, self.runtime),
            "train_loss": result.loss,
            "train_top1": result.accuracy,
            "train_seconds": result.seconds,
            "train_images": float(result.images),
            "images_per_s": result.images_per_s,
        }
        self.log("retrained", stage=stage, key=genotype.key, **metrics)
        return metrics
