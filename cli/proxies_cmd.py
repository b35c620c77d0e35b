"""`archsearch proxies STUDY_FOLDER`: zero-cost proxies of a ground-truth study's
architectures, measured against its retrained truth (see studies.ground_truth)."""

from __future__ import annotations

from pathlib import Path

import click

from archspace.proxies import check_proxies, proxies
from cli.errors import friendly_errors
from cli.progress import study_progress
from cli.rank_cmd import print_report
from cli.run_cmd import _console, _say


@click.command("proxies")
@click.argument("study_folder", type=click.Path(path_type=Path))
@click.option(
    "--proxies",
    "names",
    default=",".join(proxies.names()),
    show_default=True,
    help="Comma-separated zero-cost proxies.",
)
@click.option("--batch", default=64, show_default=True, type=int, help="Minibatch images.")
@click.option("--seed", default=0, show_default=True, type=int, help="Initial weights and batch.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the runs').")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@friendly_errors
def proxies_command(study_folder, names, batch, seed, device, as_json) -> None:
    """Do training-free signals rank architectures the way training them does?

    Scores every architecture of a ground-truth study (`archsearch rank`) with each
    zero-cost proxy on its freshly initialised network and a seeded minibatch of the
    training split, then rewrites the study's report with the proxies as predictors
    beside the supernets and the cost metrics: Kendall tau and Spearman against the
    retrained top-1, top-k agreement and bootstrap 95% intervals. Scores are kept as
    they are made: a rerun scores only what is missing.

    \b
    Examples:
      archsearch proxies runs/premise --proxies synflow,nwot
    """
    from studies.ground_truth import GroundTruthStudy

    chosen = check_proxies(names)
    if batch < 2:
        raise click.BadParameter("must be at least 2", param_hint="--batch")
    study = GroundTruthStudy.open(study_folder, device=device)
    console = _console()
    say = _say(console)
    with study_progress(console, "scoring") as advance:
        study.score_proxies(chosen, batch_size=batch, seed=seed, say=say, progress=advance)
    print_report(study, as_json)
