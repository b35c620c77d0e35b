"""`archsearch paper TABLE`: one of the GLiT paper's tables, its rows trained standalone
for several seeds and reported beside the paper's figures (see studies.paper)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from archspace.parallel import launched_world_size
from cli.errors import friendly_errors
from cli.progress import echo_json, run_study
from cli.runconfig import parse_sets
from cli.train_cmd import set_option, train_overrides

#: Table 5 is a comparison of searches, not of fixed networks
TABLE5 = (
    "archsearch compare --space glit --strategies hierarchical-ea,spos,random --seeds 5 "
    "(benchmarks/ranking_study.sh table5 sizes it for 2 cores)"
)


def split_search_sets(
    sets: tuple[str, ...],
) -> tuple[dict[str, dict[str, object]], tuple[str, ...]]:
    """`--set search.X=V`, `searcher.X=V` and `space.X=V` by section; the other sets."""
    sections: dict[str, dict[str, object]] = {}
    rest = []
    for item in sets:
        key = item.partition("=")[0].strip()
        section, dot, name = key.partition(".")
        if dot and section in ("search", "searcher", "space"):
            sections.setdefault(section, {}).update({name: parse_sets([item])[key]})
        else:
            rest.append(item)
    return sections, tuple(rest)


@click.command("paper")
@click.argument(
    "table_name",
    metavar="TABLE",
    type=click.Choice(["table1", "table3", "table4", "table5", "table6"]),
)
@click.option("--width", default="cpu", show_default=True, help="GLiT width of the networks.")
@click.option("--data", default=None, help="Data spec (default: builtin:fashion-mnist).")
@click.option(
    "--profile",
    default="quick",
    show_default=True,
    type=click.Choice(["quick", "paper"]),
    help="Whose retraining recipe.",
)
@click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N.")
@click.option("--seeds", default=3, show_default=True, type=int, help="Trainings per row.")
@set_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder (default: paper-TABLE-WIDTH); the same --out resumes.",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Search runs (tables 3, 4 and 6) in parallel processes, one core each.",
)
@click.option(
    "--reuse",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A folder (e.g. another table's --out) whose finished runs a search row takes "
    "instead of running the very same search again. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@friendly_errors
def paper_command(
    table_name, width, data, profile, device, seeds, sets, out, jobs, reuse, as_json
) -> None:
    """Run one of the GLiT paper's tables and set it beside the paper's figures.

    table1: every block's 3 heads split alike between self-attention and Conv1d (3-0,
    i.e. DeiT, 2-1, 1-2, 0-3), at --width. table3: DeiT-Tiny against the searched
    GLiT-Tiny at the tiny width; at another width, DeiT against the hierarchical search
    there (Table 4's full space: --reuse its folder). Each fixed row is trained
    standalone for --seeds seeds (`archsearch train`).

    table4 (the search space: DeiT, only the distribution searched, the NLP-NAS space,
    the full space) and table6 (the locality module: Conv1d, local-area attention,
    Conv2d) compare searches: each search row is one run per seed under DeiT's MACs at
    --width; `--set search.*`, `searcher.*` (and for table6 `space.*`) apply to every
    search row.

    The table gives MACs, params, test top-1 mean, sd and 95% interval, the paper's
    ImageNet top-1 and whether the rows' order is the paper's. Every finished seed is
    kept: the same command resumes; a search row whose very run finished under a --reuse
    folder is copied from there. table5 is a comparison of search strategies: it
    prints the `compare` command that runs it.

    \b
    Examples:
      archsearch paper table1 --data fashion-mnist:/usr/share/datasets/fashion-mnist
      archsearch paper table3 --width tiny --profile paper --data imagefolder:DIR
      archsearch paper table6 --out t6 --reuse t4   # Conv1d: table 4's full space
    """
    from studies.paper import PaperStudy

    if table_name == "table5":
        click.echo(TABLE5)
        return
    if seeds < 1:
        raise click.BadParameter("must be at least 1", param_hint="--seeds")
    if jobs > 1 and launched_world_size() > 1:
        raise click.BadParameter(
            "parallel runs and torchrun's processes do not mix: use one or the other",
            param_hint="--jobs",
        )
    search, rest = split_search_sets(sets)
    settings = train_overrides(rest, data=data, profile=profile, device=device)
    study = PaperStudy(
        table_name,
        out or Path(f"paper-{table_name}-{width}"),
        width=width,
        seeds=seeds,
        workbench=settings,
        search=search,
        reuse=reuse,
    )
    headline = (
        f"{study.table.title}: {len(study.trainings)} rows x {seeds} seed(s) in {study.folder}"
    )
    if not run_study(headline, "training", functools.partial(study.run, jobs=jobs)):
        return
    summary, paths = study.write_report()
    if as_json:
        echo_json(summary, paths)
        return
    click.echo(paths[0].read_text())
    click.echo(f"wrote {', '.join(str(p) for p in paths)}")
