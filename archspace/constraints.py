"""Constraints on genotypes, e.g. "MACs <= 1.4G".

A constraint is any callable genotype -> bool; `Budget` is the common one: a bound on
a cost metric, with a batched path for populations and the cost range for errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from archspace.metrics import metric as metric_of

if TYPE_CHECKING:
    from archspace.genotype import Genotype


@runtime_checkable
class Constraint(Protocol):
    def __call__(self, genotype: Genotype) -> bool: ...


@dataclass(frozen=True)
class Budget:
    """`minimum <= cost(genotype) <= maximum` for one metric (either bound optional)."""

    cost: Callable[[Genotype], float]
    maximum: float | None = None
    minimum: float | None = None
    metric: str = "cost"
    cost_batch: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.maximum is None and self.minimum is None:
            raise ValueError("a Budget needs a maximum, a minimum or both")
        if self.maximum is not None and self.minimum is not None and self.minimum > self.maximum:
            raise ValueError(
                f"budget on {self.metric}: minimum {self.minimum} exceeds maximum {self.maximum}"
            )

    def __call__(self, genotype: Genotype) -> bool:
        return self.admits(self.cost(genotype))

    def admits(self, value: float) -> bool:
        return (self.maximum is None or value <= self.maximum) and (
            self.minimum is None or value >= self.minimum
        )

    def allows_batch(self, rows: np.ndarray) -> np.ndarray:
        """Boolean mask over a population array (loops when no batched cost is given)."""
        if self.cost_batch is None:
            raise TypeError(f"budget on {self.metric} has no batched cost function")
        values = np.asarray(self.cost_batch(rows))
        mask = np.ones(len(values), dtype=bool)
        if self.maximum is not None:
            mask &= values <= self.maximum
        if self.minimum is not None:
            mask &= values >= self.minimum
        return mask

    def __str__(self) -> str:
        declared = metric_of(self.metric)
        parts = []
        if self.minimum is not None:
            parts.append(f"{declared.format(self.minimum)} <=")
        parts.append(self.metric)
        if self.maximum is not None:
            parts.append(f"<= {declared.format(self.maximum)}")
        return " ".join(parts)


@dataclass(frozen=True)
class Budgets:
    """Several budgets at once ("MACs <= 1.4G and params <= 6M"): a genotype must meet
    all. The first is the primary one (its metric is what plots and Optuna's cost
    objective use)."""

    budgets: tuple[Budget, ...]

    def __post_init__(self) -> None:
        if not self.budgets:
            raise ValueError("Budgets needs at least one Budget")

    def __call__(self, genotype: Genotype) -> bool:
        return all(budget(genotype) for budget in self.budgets)

    @property
    def metric(self) -> str:
        return self.budgets[0].metric

    @property
    def cost(self) -> Callable[[Genotype], float]:
        return self.budgets[0].cost

    @property
    def cost_batch(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Present when every budget has a batched cost (then `allows_batch` works)."""
        if any(budget.cost_batch is None for budget in self.budgets):
            return None
        return self.budgets[0].cost_batch

    def allows_batch(self, rows: np.ndarray) -> np.ndarray:
        mask = self.budgets[0].allows_batch(rows)
        for budget in self.budgets[1:]:
            mask &= budget.allows_batch(rows)
        return mask

    def __iter__(self):
        return iter(self.budgets)

    def __str__(self) -> str:
        return " and ".join(str(budget) for budget in self.budgets)


def budgets_of(constraint: object) -> tuple[Budget, ...]:
    """The Budget bounds inside a constraint (none for other constraints)."""
    if isinstance(constraint, Budget):
        return (constraint,)
    if isinstance(constraint, Budgets):
        return constraint.budgets
    return ()


def describe_cost_range(constraint: object, seen: Sequence[float]) -> str:
    """'; costs seen: cheapest X, dearest Y' for an infeasibility message."""
    if not seen:
        return ""
    metric = getattr(constraint, "metric", "cost")
    shown = metric_of(metric).format
    return (
        f"; {metric} of the {len(seen)} samples ranged from {shown(min(seen))} "
        f"(cheapest) to {shown(max(seen))} (dearest)"
    )
