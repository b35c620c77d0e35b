"""archspace: a torch-free encoding of hierarchical, conditional search spaces.

>>> from archspace import Choice, In, Space
>>> space = Space([
...     Choice("heads", (0, 1, 2, 3), level="distribution"),
...     Choice("kernel", (17, 31, 45), level="detail", when=In("heads", (0, 1, 2))),
... ])
>>> space.size, space.nominal_size
(10, 12)
"""

from archspace.choice import Choice
from archspace.conditions import All, AnyOf, Condition, In, Not, condition_from_dict
from archspace.constraints import Budget, Budgets, Constraint, budgets_of
from archspace.errors import (
    ArchSpaceError,
    EvaluatorError,
    FailedEvaluation,
    GenotypeError,
    InfeasibleError,
    SpaceDefinitionError,
    UnknownNameError,
)
from archspace.genotype import Genotype
from archspace.metrics import Metric, metric
from archspace.parallel import RankGroup, SingleProcess, ranks_of
from archspace.plugin import SpacePlugin, Workbench
from archspace.registry import Registry, load_space, spaces, strategies
from archspace.space import Space, as_rng
from archspace.units import format_count, parse_count

__all__ = [
    "All",
    "AnyOf",
    "ArchSpaceError",
    "Budget",
    "Budgets",
    "Choice",
    "Condition",
    "Constraint",
    "EvaluatorError",
    "FailedEvaluation",
    "Genotype",
    "GenotypeError",
    "In",
    "InfeasibleError",
    "Metric",
    "Not",
    "RankGroup",
    "Registry",
    "SingleProcess",
    "Space",
    "SpaceDefinitionError",
    "SpacePlugin",
    "UnknownNameError",
    "Workbench",
    "as_rng",
    "budgets_of",
    "condition_from_dict",
    "format_count",
    "load_space",
    "metric",
    "parse_count",
    "ranks_of",
    "spaces",
    "strategies",
]
