"""`archsearch proxies`: zero-cost proxies measured against ground truth, either a
ground-truth study's retrained architectures (`proxies STUDY_FOLDER`, see
studies.ground_truth) or architectures sampled from a space that knows its truth
(`proxies --space nb201 --archs 1000`, see studies.proxy_study)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from archspace.proxies import check_proxies, proxies
from cli.errors import friendly_errors
from cli.progress import echo_json, run_study
from cli.rank_cmd import print_report
from cli.runconfig import parse_sets


@click.command("proxies")
@click.argument("study_folder", type=click.Path(path_type=Path), required=False)
@click.option(
    "--proxies",
    "names",
    default=",".join(proxies.names()),
    show_default=True,
    help="Comma-separated zero-cost proxies.",
)
@click.option("--space", default=None, help="Sample this space instead of a study's archs.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="space.KEY=VALUE",
    help="A space option (with --space), e.g. space.depth=4. Repeatable.",
)
@click.option(
    "--archs",
    default="1000",
    show_default=True,
    help="With --space: architectures drawn uniformly (seeded), or 'all'.",
)
@click.option(
    "--data",
    default=None,
    help="With --space: where the minibatch comes from (default: the space's; "
    "nb201: builtin:fashion-mnist standing in for CIFAR-10).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="With --space: the study folder (default proxies-SPACE); the same --out resumes.",
)
@click.option(
    "--profile",
    default="quick",
    show_default=True,
    type=click.Choice(["quick", "paper"]),
    help="With --space: the options a run's profile implies (quick: GLiT's cpu width).",
)
@click.option("--batch", default=64, show_default=True, type=int, help="Minibatch images.")
@click.option("--seed", default=0, show_default=True, type=int, help="Initial weights and batch.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the runs').")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@friendly_errors
def proxies_command(
    study_folder, names, space, sets, archs, data, out, profile, batch, seed, device, as_json
) -> None:
    """Do training-free signals rank architectures the way training them does?

    With STUDY_FOLDER (`archsearch rank`): scores every architecture of the
    ground-truth study with each zero-cost proxy on its freshly initialised network and
    a seeded minibatch of the training split, then rewrites the study's report with
    the proxies as predictors beside the supernets and the cost metrics: Kendall tau
    and Spearman against the retrained top-1, top-k agreement and bootstrap 95%
    intervals.

    With --space: scores --archs architectures drawn from the space (or all) and, where
    the space knows their accuracy (nb201), reports the same against it, with the cost
    metrics as baselines and each proxy's seconds per architecture.

    Scores are kept as they are made: a rerun scores only what is missing. Under
    torchrun the processes share the architectures out.

    \b
    Examples:
      archsearch proxies runs/premise --proxies synflow,nwot
      archsearch proxies --space nb201 --archs 1000 --proxies synflow,snip
      torchrun --nproc-per-node 2 -m cli proxies --space nb201 --archs all
    """
    chosen = check_proxies(names)
    if batch < 2:
        raise click.BadParameter("must be at least 2", param_hint="--batch")
    if (study_folder is None) == (space is None):
        raise click.UsageError("give a STUDY_FOLDER or --space (one of them)")
    if space is not None:
        study = _space_study(space, sets, archs, data, out, profile, batch, seed, device)
        headline = f"proxy study in {study.folder}"
        if run_study(
            headline, "scoring", lambda say, advance: study.score(chosen, say=say, progress=advance)
        ):
            summary, paths = study.write_report()  # under torchrun, the main process reports
            _print_space_study(summary, paths, as_json)
        return
    if sets or out or data or archs != "1000" or profile != "quick":
        raise click.UsageError("--set, --archs, --data, --profile and --out go with --space")
    from studies.ground_truth import GroundTruthStudy

    study = GroundTruthStudy.open(study_folder, device=device)

    def score(say, advance) -> None:
        study.score_proxies(chosen, batch_size=batch, seed=seed, say=say, progress=advance)

    if run_study(f"zero-cost proxies in {study.folder}", "scoring", score):
        print_report(study, as_json)


def _space_study(space, sets, archs, data, out, profile, batch, seed, device):
    """The proxy study a --space call asks for, every argument checked first."""
    from archspace import load_space, spaces
    from studies.proxy_study import ProxyStudy

    options = {}
    for key, value in parse_sets(sets).items():
        if not key.startswith("space."):
            raise click.BadParameter(f"{key!r}: only space.KEY=VALUE", param_hint="--set")
        options[key.removeprefix("space.")] = value
    if archs != "all" and not (archs.isdigit() and int(archs) >= 2):
        raise click.BadParameter(f"{archs!r}: a number >= 2 or 'all'", param_hint="--archs")
    plugin_class = spaces.get(space)
    implied = {**plugin_class.profile_options(profile)}
    if data is not None:
        implied.update(plugin_class.data_options(data))
    plugin = load_space(space, **{**implied, **options})  # what the user sets wins
    out = out or Path(f"proxies-{space}")
    settings = {"data": data, "device": device}
    settings = {k: v for k, v in settings.items() if v is not None}
    plugin.check_run_settings(settings)
    workbench = plugin.workbench(
        {**settings, "run_dir": str(out), "seed": seed, "profile": profile}
    )
    count = None if archs == "all" else int(archs)
    return ProxyStudy(plugin, out, workbench, archs=count, seed=seed, batch_size=batch)


def _print_space_study(summary, paths, as_json: bool) -> None:
    if as_json:
        echo_json(summary, paths)
        return
    out = Console()
    for row in summary["predictors"]:
        spearman = row.get("spearman") or {}
        line = f"{row['predictor']}: {row['scored']} scored"
        if spearman.get("value") is not None:
            line += f", Spearman {spearman['value']:.3f}"
            if spearman.get("low") is not None:
                line += f" [{spearman['low']:.2f}, {spearman['high']:.2f}]"
        if "seconds_per_arch" in row:
            line += f", {row['seconds_per_arch']:.3f} s/arch"
        out.print(line)
    out.print(f"wrote {', '.join(str(p) for p in paths)}")
