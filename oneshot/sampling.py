"""The order of the training samples: a torchrun job trains on the very batches one
process would, and one loader (its workers persistent) serves every epoch."""

from __future__ import annotations

import itertools

from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler

from oneshot.distributed import Ranks


def epoch_indices(
    size: int, seed: int, epoch: int, ranks: Ranks, local_batch: int, start: int, stop: int
) -> list[int]:
    """This rank's sample indices for local steps [start, stop) of an epoch.

    torch's DistributedSampler shuffles with (seed, epoch) and gives rank r every
    world_size-th index from r, so local batch k of all ranks together is exactly global
    batch k of one process: the job trains on the same batches as a single process.
    The slice skips steps already done (resume) and those beyond an epoch cap.
    """
    sampler = DistributedSampler(
        range(size),
        num_replicas=ranks.world_size,
        rank=ranks.rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )
    sampler.set_epoch(epoch)
    return list(itertools.islice(sampler, start * local_batch, stop * local_batch))


class EpochSampler(Sampler):
    """This process's (epoch, index) keys for the local steps [start, stop) of the epoch
    last `set`: one DataLoader, persistent workers included, serves every epoch (the
    sampler is read in the main process at each pass over the loader)."""

    def __init__(self, size: int, seed: int, ranks: Ranks, local_batch: int) -> None:
        self.size, self.seed, self.ranks, self.local_batch = size, seed, ranks, local_batch
        self.epoch = self.start = self.stop = 0

    def set(self, epoch: int, start: int, stop: int) -> EpochSampler:
        self.epoch, self.start, self.stop = epoch, start, stop
        return self

    def __iter__(self):
        indices = epoch_indices(
            self.size, self.seed, self.epoch, self.ranks, self.local_batch, self.start, self.stop
        )
        return iter([(self.epoch, index) for index in indices])

    def __len__(self) -> int:
        return (self.stop - self.start) * self.local_batch
