"""Random search: the baseline every smarter strategy has to beat (GLiT Table 5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from archspace import Genotype
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.options import Option
from strategies.sampling import Avoid, fresh_candidates, require_at_least


class RandomSearcher(AskTellSearcher):
    """Uniform samples under the constraint, proposed in batches of `batch_size`.

    The default budget, `samples`, is the evolution's (1000 candidates) so the two
    compare at equal cost. A sample already drawn is redrawn (up to `retries` times), so
    the budget buys distinct architectures; each batch is one generation of the history.
    The draws depend only on the seed, so a resumed search replays the same candidates.
    """

    name: ClassVar[str] = "random"
    summary: ClassVar[str] = (
        "uniform feasible samples, the baseline of GLiT Table 5 (Chen et al. 2021) "
        "and of Li & Talwalkar 2019"
    )

    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "samples", int, 1000, "the default budget in samples", low=1, profiles={"quick": 24}
        ),
        Option("batch_size", int, 50, "samples per ask (one generation of the history)", low=1),
        Option("retries", int, 10, "redraws of a sample already drawn", low=0),
    )

    def __init__(self, samples: int = 1000, batch_size: int = 50, retries: int = 10) -> None:
        require_at_least("random", 1, samples=samples, batch_size=batch_size)
        require_at_least("random", 0, retries=retries)
        self.samples = samples
        self.batch_size = batch_size
        self.retries = retries
        self.default_evaluations = samples

    def start(self, context: SearchContext) -> None:
        super().start(context)
        self.told: set[str] = set()

    def ask(self) -> list[Genotype]:
        left = self.context.max_evaluations - len(self.told)
        size = min(self.batch_size, left) if left > 0 else self.batch_size
        sample = self.context.sampler.rows
        return fresh_candidates(sample, self.context.space, size, Avoid(self.told), self.retries)

    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        self.told.update(g.key for g in genotypes)
