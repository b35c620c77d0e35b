"""A resumable training loop shared by SPOS supernet training and subnet retraining.

Determinism and crash safety come from three rules: the sample order of epoch e is a
permutation seeded by (seed, e), shared out between the processes of a torchrun job
by torch's DistributedSampler; anything random per step (the SPOS path) is seeded
by (seed, step) by the caller, a sample's augmentation by (seed, epoch, index) and a
batch's MixUp/CutMix draw by (seed, step); the global RNG states are saved in every
checkpoint. Under torchrun BatchNorm uses the statistics of the global batch.
One loader serves every epoch (its worker processes persist; the sampler names the
epoch), and its throughput alone is measured on a few batches before training and
logged beside the step's, so a starving GPU shows in the run's log. With
`accumulation` k, each process's share of a batch runs as k micro-batches whose
gradients add up before the one optimiser step (the memory plan chooses k).
A checkpoint is written at each epoch end, every `checkpoint_every_s` seconds and
every `checkpoint_every_steps` steps; a resumed run skips the steps already done in
the interrupted epoch and, on the CPU with in-process data loading, ends with the
same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from oneshot.batchnorm import synchronised_batchnorm
from oneshot.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from oneshot.datasets import SeededSamples, make_loader, sample_seed
from oneshot.distributed import Ranks
from oneshot.progress import EventLog, progress_bar
from oneshot.runtime import Runtime
from oneshot.sampling import EpochSampler

#: the "epoch" slot of `sample_seed` for drop path and dropout at a step (rank 0; rank r
#: takes this minus r); -1 is the MixUp/CutMix draw, epochs 0... are augmentation
STOCHASTIC_LAYERS = -2
MIXING = -1
#: training steps between host syncs (reading the loss and accuracy sums, checking the
#: loss is finite); every checkpoint and epoch end syncs too
SYNC_EVERY = 16
#: batches timed to measure the loader alone, beyond those its workers may hold ready
#: (each prefetches 2): enough to see the steady rate, a second or so of decoding
PROBE_BATCHES = 4
#: how many times the training's images/s the loader alone should give (below it the
#: run's output says the loader limits training)
LOADER_MARGIN = 2.0


class _PendingSums:
    """An epoch's (loss x images, correct, images) sums, kept on the device between
    reads, so a step costs no host sync; each read checks the loss stayed finite (a
    non-finite one is caught within `SYNC_EVERY` steps and before any checkpoint)."""

    def __init__(self, sums: Sequence[float], first_step: int, label: str) -> None:
        self.sums, self.since, self.label = list(sums), first_step, label
        self.loss: Tensor | float = 0.0
        self.correct: Tensor | int = 0
        self.images = 0

    def add(self, loss: Tensor, correct: Tensor, images: int) -> None:
        self.loss = self.loss + loss * images
        self.correct = self.correct + correct
        self.images += images

    def read(self, step: int) -> list[float]:
        if self.images:
            loss, correct = torch.stack([self.loss.float(), self.correct.float()]).tolist()
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"{self.label}: the loss became {loss} between steps {self.since} and "
                    f"{step}; lower the learning rate or enable gradient clipping"
                )
            self.sums = [self.sums[0] + loss, self.sums[1] + correct, self.sums[2] + self.images]
            self.loss, self.correct, self.images, self.since = 0.0, 0, 0, step
        return list(self.sums)


def stochastic_seed(seed: int, step: int, rank: int) -> int:
    """The seed of drop path and dropout at a training step on a process."""
    return sample_seed(seed, STOCHASTIC_LAYERS - rank, step)


@dataclass
class TrainResult:
    epochs: int
    steps: int
    loss: float  # mean training loss of the last epoch
    accuracy: float  # training top-1 of the last epoch (against the hard labels)
    images_per_s: float
    seconds: float
    resumed_from_step: int
    loader_images_per_s: float | None = None  # the loader alone (None: too few steps)
    accumulation: int = 1  # micro-batches per step (the memory plan's)
    images: int = 0  # images trained on, all processes together (steps x global batch)

    def summary(self) -> str:
        """One line for the run's output: speed, the loader's own, micro-batches."""
        line = f"{self.steps} steps, {self.images_per_s:,.0f} img/s"
        if self.loader_images_per_s:
            ratio = self.loader_images_per_s / max(self.images_per_s, 1e-9)
            line += f"; the loader alone {self.loader_images_per_s:,.0f} img/s ({ratio:.1f}x)"
            if ratio < LOADER_MARGIN:
                line += ": it limits training, raise workbench.num_workers"
        if self.accumulation > 1:
            line += f"; {self.accumulation} micro-batches a step (memory plan)"
        return line


@dataclass
class Loop:
    """Everything one training run needs; `run()` trains or resumes it."""

    model: nn.Module
    dataset: Dataset
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    runtime: Runtime
    epochs: int
    batch_size: int
    seed: int
    criterion: nn.Module
    checkpoint: Path | None = None
    before_step: Callable[[int], None] | None = None
    batch_transform: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None
    clip_grad: float | None = None
    max_steps_per_epoch: int | None = None
    checkpoint_every_s: float = 600.0
    checkpoint_every_steps: int | None = None
    num_workers: int = 0
    accumulation: int = 1
    log: EventLog | None = None
    label: str = "train"
    ranks: Ranks = field(default_factory=Ranks)

    @property
    def steps_per_epoch(self) -> int:
        steps = len(self.dataset) // self.batch_size
        if steps == 0:
            raise ValueError(
                f"{self.label}: {len(self.dataset)} training images are fewer than one batch "
                f"of {self.batch_size}; lower the batch size"
            )
        return min(steps, self.max_steps_per_epoch or steps)

    def _state(self, epoch: int, step: int, global_step: int, sums: Sequence[float]) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self._scaler.state_dict(),
            "rng": rng_state(self.runtime.device),
            "epoch": epoch,
            "step_in_epoch": step,
            "global_step": global_step,
            "sums": list(sums),
        }

    def _save(self, *args) -> None:
        if self.checkpoint is not None and self.ranks.is_main:
            save_checkpoint(self.checkpoint, self._state(*args))
            self._last_save = time.monotonic()

    def run(self) -> TrainResult:
        # several processes: BatchNorm normalises with the global batch's statistics
        with synchronised_batchnorm(self.model) if self.ranks.active else nullcontext():
            return self._run()

    def _run(self) -> TrainResult:
        self._scaler = self.runtime.grad_scaler()
        steps = self.steps_per_epoch
        epoch, start_step, global_step, sums = self._resume()
        resumed_from = global_step
        epoch_loss = epoch_acc = float("nan")
        self._started, self._images = time.monotonic(), 0
        self._last_save = time.monotonic()
        self.model.train()
        self._trained = self.ranks.wrap(self.model)
        local_batch = self._local_batch()
        self._sampler = EpochSampler(len(self.dataset), self.seed, self.ranks, local_batch)
        self._loader = make_loader(
            SeededSamples(self.dataset, self.seed),  # augmentation by (epoch, sample)
            local_batch,
            shuffle=False,
            seed=self.seed,
            num_workers=self.num_workers,
            drop_last=True,
            sampler=self._sampler,
            pin_memory=self.runtime.device.type == "cuda",
        )
        loader_rate = self._probe_loader(epoch, start_step, steps) if epoch < self.epochs else None
        with progress_bar(
            self.epochs * steps,
            self.label,
            completed=global_step,
            enabled=None if self.ranks.is_main else False,
        ) as bar:
            while epoch < self.epochs:
                global_step, sums = self._run_epoch(
                    bar, epoch, start_step, global_step, sums, local_batch, steps
                )
                epoch_loss, epoch_acc = sums[0] / sums[2], sums[1] / sums[2]
                if self.log:
                    self.log(
                        "epoch",
                        label=self.label,
                        epoch=epoch,
                        loss=epoch_loss,
                        accuracy=epoch_acc,
                        lr=self.optimizer.param_groups[0]["lr"],
                        loader_wait_s=self._loader_wait,
                    )
                epoch, start_step, sums = epoch + 1, 0, [0.0, 0.0, 0.0]
                self._save(epoch, 0, global_step, sums)
        seconds = time.monotonic() - self._started
        return TrainResult(
            epochs=self.epochs,
            steps=global_step,
            loss=epoch_loss,
            accuracy=epoch_acc,
            images_per_s=self._images / max(seconds, 1e-9),
            seconds=seconds,
            resumed_from_step=resumed_from,
            loader_images_per_s=loader_rate,
            accumulation=self.accumulation,
            images=global_step * self.batch_size,
        )

    def _probe_loader(self, epoch: int, start: int, steps: int) -> float | None:
        """Images/s of the loader alone on the next batches of training (workers started
        and past what they prefetch), logged beside the training's images/s: the loader
        should be at least twice as fast. Touches no RNG: augmentation is keyed."""
        ready = 2 * self.num_workers  # batches the workers may hold before the first read
        stop = min(steps, start + 1 + ready + PROBE_BATCHES)
        if stop - start < 2 + ready:  # no batch left to time beyond the ready ones
            return None
        self._sampler.set(epoch, start, stop)
        batches = iter(self._loader)
        for _ in zip(range(1 + ready), batches):
            pass
        started, images = time.perf_counter(), 0
        for _, y in batches:
            images += len(y)
        rate = images * self.ranks.world_size / max(time.perf_counter() - started, 1e-9)
        if self.log:
            self.log("loader", label=self.label, images_per_s=rate, workers=self.num_workers)
        return rate

    def _resume(self) -> tuple[int, int, int, list[float]]:
        """(epoch, step in it, global step, the epoch's sums so far) from the checkpoint,
        whose weights, optimizer, schedule, scaler and RNG states it restores; zeros
        when there is none."""
        state = load_checkpoint(self.checkpoint) if self.checkpoint is not None else None
        if state is None:
            return 0, 0, 0, [0.0, 0.0, 0.0]  # loss * n, correct, n
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], self.runtime.device)
        if self.log:
            self.log("resume", label=self.label, epoch=state["epoch"], step=state["step_in_epoch"])
        return state["epoch"], state["step_in_epoch"], state["global_step"], list(state["sums"])

    def _local_batch(self) -> int:
        """Each process's share of the global batch."""
        local_batch = self.batch_size // self.ranks.world_size
        if local_batch * self.ranks.world_size != self.batch_size:
            raise ValueError(
                f"{self.label}: batch size {self.batch_size} does not split evenly over "
                f"{self.ranks.world_size} processes; use a multiple of {self.ranks.world_size}"
            )
        if local_batch % self.accumulation:
            raise ValueError(
                f"{self.label}: the batch of {local_batch} per process does not split into "
                f"{self.accumulation} equal micro-batches"
            )
        return local_batch

    def _run_epoch(
        self,
        bar: Any,
        epoch: int,
        start_step: int,
        global_step: int,
        sums: list[float],
        local_batch: int,
        steps: int,
    ) -> tuple[int, list[float]]:
        """Steps [start_step, steps) of one epoch, checkpointing when due; returns the
        global step and the epoch's sums after it."""
        # each global batch is split between the ranks; DDP averages the gradients
        self._sampler.set(epoch, start_step, steps)
        pending = _PendingSums(sums, first_step=global_step, label=self.label)
        waited, asked = 0.0, time.perf_counter()
        for step, (x, y) in enumerate(self._loader, start=start_step):
            waited += time.perf_counter() - asked
            loss, correct = self._train_step(global_step, x, y)
            pending.add(loss, correct, len(y))
            self._images += len(y) * self.ranks.world_size
            global_step += 1
            saving = step + 1 < steps and self._checkpoint_due(global_step)
            if saving or global_step % SYNC_EVERY == 0:
                sums = pending.read(global_step)  # the one host sync of these steps
                bar.update(
                    loss=sums[0] / sums[2],
                    acc=sums[1] / sums[2],
                    img_s=self._images / max(1e-9, time.monotonic() - self._started),
                )
            if saving:
                self._save(epoch, step + 1, global_step, sums)
            asked = time.perf_counter()
        self._loader_wait = waited
        return global_step, pending.read(global_step)

    def _checkpoint_due(self, global_step: int) -> bool:
        due_steps = self.checkpoint_every_steps and global_step % self.checkpoint_every_steps == 0
        return bool(due_steps) or time.monotonic() - self._last_save >= self.checkpoint_every_s

    def _train_step(self, global_step: int, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """One optimiser step; the loss and correct count stay on the device (no host
        sync: `_PendingSums` reads them every `SYNC_EVERY` steps)."""
        if self.before_step is not None:
            self.before_step(global_step)
        x = x.to(self.runtime.device, non_blocking=True)
        y = y.to(self.runtime.device, non_blocking=True)
        # the stochastic layers (drop path) draw from (seed, step, rank): each process its
        # own masks for its share of the batch (one seed for all would repeat them), and a
        # resumed run the same ones whatever the number of processes before
        torch.manual_seed(stochastic_seed(self.seed, global_step, self.ranks.rank))
        hard = y
        if self.batch_transform is not None:
            # drawn by (seed, step): the same MixUp/CutMix choice, ratio and box on every
            # process as in one process (the partner is the previous sample of this
            # process's share of the batch)
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(sample_seed(self.seed, MIXING, global_step))
                x, y = self.batch_transform(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, correct = self._accumulate(x, y, hard)
        if self.clip_grad:
            self._scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        self._scaler.step(self.optimizer)
        self._scaler.update()
        self.scheduler.step()
        return loss_sum / self.accumulation, correct

    def _accumulate(self, x: Tensor, y: Tensor, hard: Tensor) -> tuple[Tensor, Tensor]:
        """Forward and backward of this process's batch in `accumulation` micro-batches
        (gradients add up, each loss weighted 1/k: the mean over the batch); DDP
        averages over the processes once, at the last. (loss sum, correct count)."""
        k = self.accumulation
        loss_sum: Tensor | float = 0.0
        correct: Tensor | int = 0
        for i, (xs, ys, hs) in enumerate(zip(x.chunk(k), y.chunk(k), hard.chunk(k))):
            last = i == k - 1
            quiet = getattr(self._trained, "no_sync", None)
            with nullcontext() if last or quiet is None else quiet():
                with self.runtime.autocast():
                    logits = self._trained(xs)
                    loss = self.criterion(logits, ys)
                self._scaler.scale(loss / k if k > 1 else loss).backward()
            loss_sum = loss_sum + loss.detach().float()
            correct = correct + (logits.argmax(dim=1) == hs).sum()
        return loss_sum, correct
