"""Option help that lists what a registry holds, so it cannot fall behind it.

The names are read when help is shown, not when the command line starts: listing the
searchers imports their modules, which a refused flag or another command never needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click


def space_names() -> list[str]:
    """The registered spaces (entry points and `spaces.register`)."""
    from archspace import spaces

    return spaces.names()


def strategy_names() -> list[str]:
    """The registered strategies (pipelines)."""
    from archspace import strategies

    return strategies.names()


def searcher_names() -> list[str]:
    """The registered searchers (built in, entry points and `searchers.register`)."""
    from strategies.searchers import searchers

    return searchers.names()


class NamesHelp(click.Option):
    """A click option whose help text's `{names}` is filled, when help is shown, with the
    names `names()` returns, e.g. `help="one of {names} (default: glit)"`."""

    def __init__(
        self, *declarations: Any, names: Callable[[], Sequence[str]], **attributes: Any
    ) -> None:
        super().__init__(*declarations, **attributes)
        self.names = names
        self.template = self.help or "{names}"

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.template.format(names=", ".join(self.names()))
        return super().get_help_record(ctx)


#: `--space` of the commands that take an architecture (a preset or a bare genotype)
arch_space_option = click.option(
    "--space",
    default=None,
    cls=NamesHelp,
    names=space_names,
    help="Space of a preset or bare genotype: {names} (default: any).",
)
