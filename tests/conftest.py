"""Shared fixtures: a few small spaces of different shapes."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from archspace import All, AnyOf, Choice, In, Not, Space
from archspace.synthetic import synthetic_space

#: a GLiT search small enough for a test: 2 blocks, a few steps per stage
TINY_GLIT = [
    "--set",
    "space.depth=2",
    "--set",
    "recipe.supernet.epochs=1",
    "--set",
    "recipe.supernet.max_steps_per_epoch=3",
    "--set",
    "recipe.retrain.epochs=1",
    "--set",
    "recipe.retrain.max_steps_per_epoch=3",
    "--set",
    "recipe.supernet.batch_size=16",
    "--set",
    "recipe.retrain.batch_size=16",
    "--set",
    "recipe.eval.max_images=32",
    "--set",
    "recipe.eval.bn_batches=1",
    "--set",
    "recipe.eval.bn_batch_size=16",
    "--set",
    "searcher.population=4",
    "--set",
    "searcher.parents=2",
    "--set",
    "searcher.mutants=1",
    "--set",
    "searcher.crossovers=1",
    "--set",
    "searcher.generations=1",
    "--set",
    "search.top_k=1",
    "--device",
    "cpu",
]


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of uint8 values (gzipped when the name ends in .gz), as Fashion-MNIST
    ships them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """A Fashion-MNIST folder of 1,000 training and 200 test images cut from the embedded
    subset: a retrained network's test top-1 (every image of the test split) costs a
    tenth of the builtin's 2,000."""
    subset = np.load(Path(__file__).resolve().parents[1] / "oneshot/data/fashion_mnist_subset.npz")
    folder = tmp_path_factory.mktemp("tiny-fashion-mnist")
    for prefix, split, count in (("train", "train", 1000), ("t10k", "test", 200)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", subset[f"{split}_images"][:count])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", subset[f"{split}_labels"][:count])
    return f"fashion-mnist:{folder}"


@pytest.fixture(scope="session")
def tiny_glit(tiny_data) -> list[str]:
    """TINY_GLIT on the tiny data."""
    return [*TINY_GLIT, "--data", tiny_data]


def nested_space() -> Space:
    """Chained conditions, tuple and string options, a non-first default."""
    return Space(
        [
            Choice("op", ("conv", "attn", "skip"), level="macro"),
            Choice("shape", ((1, 2), (2, 1), (3, 0)), level="macro", default=(2, 1)),
            Choice("conv.kernel", (3, 5, 7), level="micro", when=In("op", ("conv",))),
            Choice(
                "conv.groups",
                (1, 2),
                level="micro",
                when=In("op", ("conv",)) & Not(In("conv.kernel", (7,))),
            ),
            Choice(
                "attn.heads",
                (1, 2, 4, 8),
                level="micro",
                when=All(
                    (In("op", ("attn",)), AnyOf((In("shape", ((1, 2),)), In("shape", ((2, 1),)))))
                ),
            ),
            Choice("norm", (True, False), level="micro", when=~In("op", ("skip",))),
        ],
        name="nested",
    )


def flat_space(blocks: int = 3, per_block: int = 3) -> Space:
    return Space(
        [Choice(f"b.{i}.c{j}", (0, 1, 2)) for i in range(blocks) for j in range(per_block)],
        name="flat",
    )


SPACES = {
    "nested": nested_space,
    "flat": flat_space,
    "synthetic": lambda: synthetic_space(3),
}


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Test tensors are small: extra intra-op threads only add synchronisation, which
    turns into long stalls when other processes compete for the 2 cores."""
    try:
        import torch
    except ImportError:  # archspace-only environments
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=sorted(SPACES))
def any_space(request: pytest.FixtureRequest) -> Space:
    return SPACES[request.param]()


def small_searcher(name: str, **changes):
    """Searcher `name` with small sizes for the options it declares (population 10,
    4 generations, 40 samples or trials), plus `changes`."""
    from strategies.searchers import build_searcher, searchers

    small = {"population": 10, "parents": 4, "mutants": 5, "crossovers": 5, "generations": 4}
    small = {**small, "samples": 40, "trials": 40, **changes}
    declared = {option.name for option in searchers.get(name).options}
    return build_searcher(name, {k: v for k, v in small.items() if k in declared})


@dataclass
class ThreadRanks:
    """A `RankGroup` of threads: the processes of a job simulated in one process."""

    rank: int
    world_size: int
    gate: threading.Barrier

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        self.gate.wait(timeout=30)
