"""Tabular benchmark spaces: searches answered by table lookup, with no training and no torch.

- `nb201` (`NasBench201Plugin`): the NAS-Bench-201 cell space (15,625 cells) with the
  CIFAR-10 accuracies of the `analog-nasbench` package (`pip install 'archsearch[tabular]'`).
- `table` (`TablePlugin`): a user's CSV or JSON-lines file of architectures and metrics
  (`--space table --set space.file=bench.csv`).

Importing this package loads no data and imports neither torch nor the optional package;
the plugins read their data when created.
"""

from __future__ import annotations

from tabular_space.nb201 import NasBench201Plugin
from tabular_space.table import TablePlugin

__all__ = ["NasBench201Plugin", "TablePlugin"]
