"""`archsearch rank RUN_FOLDER [RUN_FOLDER...]`: a ground-truth ranking study of the
runs' supernets (see studies.ground_truth)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from cli.errors import friendly_errors
from cli.progress import echo_json, run_study
from cli.runconfig import parse_sets


@click.command("rank")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--archs",
    default=30,
    show_default=True,
    type=int,
    help="Architectures sampled from each space a supernet of the first run was trained over.",
)
@click.option(
    "--seeds",
    default=2,
    show_default=True,
    type=int,
    help="Retraining seeds per architecture (2 or more give the seed-vs-seed ceiling).",
)
@click.option(
    "--bins",
    default=5,
    show_default=True,
    type=int,
    help="Equal-width cost bins the sample is spread over (the budget's first metric).",
)
@click.option("--sample-seed", default=0, show_default=True, type=int, help="Seed of the draw.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the runs').")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change the retraining recipe only, e.g. recipe.retrain.max_steps_per_epoch=80.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Study folder (default: FIRST_RUN/ground-truth); the same --out resumes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@friendly_errors
def rank_command(runs, archs, seeds, bins, sample_seed, device, sets, out, as_json) -> None:
    """Does the supernet rank architectures the way training them does?

    Samples architectures from each space the first run's supernets were trained over
    (hierarchical-ea: each stage's; spos: the whole space), spread over the cost range
    under its budget; retrains each standalone with the run's retraining recipe for
    every seed; scores each with every supernet of the named runs that covers it, as a
    search scores a candidate. Reports Kendall tau and Spearman against the retrained
    search-val and test top-1, top-k agreement, bootstrap 95% intervals, the
    seed-vs-seed ceiling and the cost metrics as baselines (ground-truth.md and .json,
    a scatter plot per supernet) and writes truth.jsonl, which `--space table --set
    space.file=...` searches. Every retraining is kept as it finishes: a killed study
    resumes with the same command. Under torchrun the processes share the retrainings.

    \b
    Examples:
      archsearch rank runs/glit-hier --archs 30 --seeds 2
      archsearch rank runs/glit-hier runs/glit-spos --out runs/premise
      torchrun --nproc-per-node 2 -m cli rank runs/glit-spos --out runs/spos-truth
    """
    from studies.ground_truth import GroundTruthStudy

    study = GroundTruthStudy(
        list(runs),
        out or Path(runs[0]) / "ground-truth",
        archs=archs,
        seeds=seeds,
        bins=bins,
        sample_seed=sample_seed,
        overrides=parse_sets(sets),
        device=device,
    )
    headline = f"ground-truth study in {study.folder}"
    if run_study(headline, "retraining", study.run):
        print_report(study, as_json)


def print_report(study, as_json: bool) -> None:
    """Write a ground-truth study's report; print its headline, or the summary as JSON."""
    from studies.ground_truth_report import headline, write_report

    summary, paths = write_report(study.folder, study.plugin)
    if as_json:
        echo_json(summary, paths)
        return
    out = Console()
    for line in headline(summary):
        out.print(line)
    out.print(f"wrote {', '.join(str(p) for p in paths)}")
