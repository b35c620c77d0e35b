"""`archsearch`: the command group and its entry point.

Exit codes: 0 success, 1 failure of a run, 2 bad usage (click's convention).
"""

from __future__ import annotations

import click

from archspace.parallel import leave_process_group
from cli.cost_cmd import cost_command
from cli.export_cmd import export_command
from cli.latency_cmd import latency_group
from cli.listing import spaces_command, strategies_command
from cli.paper_cmd import paper_command
from cli.proxies_cmd import proxies_command
from cli.rank_cmd import rank_command
from cli.report import report_command
from cli.run_cmd import compare_command, run_command
from cli.top_cmd import top_command
from cli.train_cmd import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archsearch")
def cli() -> None:
    """Neural architecture search over hierarchical search spaces (GLiT and your own).

    \b
    Examples:
      archsearch spaces
      archsearch spaces --json
    """


cli.add_command(run_command)
cli.add_command(compare_command)
cli.add_command(report_command)
cli.add_command(rank_command)
cli.add_command(train_command)
cli.add_command(paper_command)
cli.add_command(proxies_command)
cli.add_command(top_command)
cli.add_command(cost_command)
cli.add_command(export_command)
cli.add_command(latency_group)
cli.add_command(spaces_command)
cli.add_command(strategies_command)


def main() -> None:
    """The console script: under torchrun, every command leaves the process group."""
    finished = False
    try:
        cli(prog_name="archsearch")
    except SystemExit as done:
        finished = done.code in (0, None)
        raise
    finally:
        leave_process_group(finished)
