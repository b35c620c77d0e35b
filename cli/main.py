"""`archsearch`: the command group and its entry point.

Exit codes: 0 success, 1 failure of a run, 2 bad usage (click's convention).
"""

from __future__ import annotations

import click

from cli.listing import spaces_command, strategies_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archsearch")
def cli() -> None:
    """Neural architecture search over hierarchical search spaces (GLiT and your own).

    \b
    Examples:
      archsearch spaces
      archsearch spaces --json
    """


cli.add_command(spaces_command)
cli.add_command(strategies_command)


def main() -> None:
    cli(prog_name="archsearch")
