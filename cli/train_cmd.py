"""`archsearch train ARCH`: train one architecture standalone, once per seed (see
studies.standalone)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from archspace.plugin import DEFAULT_DATA
from cli.arch import ARCH_HELP, resolve_arch
from cli.errors import friendly_errors
from cli.names_help import arch_space_option
from cli.progress import echo_json, run_study
from cli.runconfig import parse_sets
from strategies.statistics import interval_text

#: `--set` of the commands that train given networks (train, paper): the recipe and the
#: workbench settings, never the architecture
set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change the recipe or workbench, e.g. recipe.retrain.epochs=30. Repeatable.",
)


def train_overrides(sets: tuple[str, ...], **flags: object) -> dict[str, object]:
    """Workbench settings from the flags and `--set recipe.X=V` / `workbench.X=V`."""
    found: dict[str, object] = {k: v for k, v in flags.items() if v is not None}
    recipe: dict[str, object] = {}
    for key, value in parse_sets(sets).items():
        if key.startswith("recipe."):
            recipe[key.removeprefix("recipe.")] = value
        elif key.startswith("workbench."):
            found[key.removeprefix("workbench.")] = value
        else:
            raise click.BadParameter(
                f"{key!r}: train changes only the recipe and the workbench "
                "(recipe.retrain.epochs=30, recipe.eval.batch_size=256, "
                "workbench.num_workers=4); the architecture comes from ARCH",
                param_hint="--set",
            )
    if recipe:
        found["recipe"] = recipe
    return found


@click.command("train")
@click.argument("arch")
@arch_space_option
@click.option("--width", default=None, help="Space width of a bare genotype.")
@click.option(
    "--data",
    default=None,
    help="Data spec (default: a run folder's data, else builtin:fashion-mnist); the "
    "network's head is sized to its classes.",
)
@click.option(
    "--profile",
    default=None,
    type=click.Choice(["quick", "paper"]),
    help="Whose retraining recipe (default: a run folder's, else quick).",
)
@click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N.")
@click.option("--seeds", default=1, show_default=True, type=int, help="Trainings, one per seed.")
@click.option(
    "--seed", "first_seed", default=None, type=int, help="First seed (default: a run's, else 0)."
)
@set_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder (default: RUN/train for a run folder, else train-ARCH); the same --out "
    "resumes and more --seeds add seeds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@friendly_errors
def train_command(
    arch, space, width, data, profile, device, seeds, first_seed, sets, out, as_json
) -> None:
    """Train ARCH from scratch with the retraining recipe, once per seed.

    ARCH is {arch_help}. A run folder's answer is trained with the run's data and
    recipe, as the run retrained it. Reports search-validation and test top-1 per seed,
    their mean, sd and 95% interval (train.md, train-summary.json). Every finished seed
    is kept: a killed training resumes with the same command. Under torchrun the
    processes share out the seeds. `archsearch export FOLDER` exports the weights of
    the seed with the best search-validation top-1.

    \b
    Examples:
      archsearch train glit-tiny --data imagefolder:/data/imagenet --profile paper
      archsearch train runs/my-run --seeds 3
      archsearch train arch.json --space glit --width cpu --set recipe.retrain.epochs=10
    """
    from studies.standalone import StandaloneTraining, on_data

    if seeds < 1:
        raise click.BadParameter("must be at least 1", param_hint="--seeds")
    overrides = train_overrides(sets, data=data, profile=profile, device=device)
    folder = Path(arch)
    if folder.is_dir() and (folder / "config.json").exists():
        training = StandaloneTraining.from_run(
            folder, out or folder / "train", seeds=seeds, first_seed=first_seed, overrides=overrides
        )
    else:
        plugin, genotype = resolve_arch(arch, space, width=width)
        plugin, genotype = on_data(plugin, genotype, overrides.get("data", DEFAULT_DATA))
        default_out = Path(f"train-{folder.stem if folder.suffix == '.json' else arch}")
        training = StandaloneTraining(
            plugin,
            genotype,
            out or default_out,
            seeds=seeds,
            first_seed=first_seed or 0,
            workbench={"profile": "quick", **overrides},
        )
    headline = f"standalone training in {training.folder}"
    if not run_study(headline, "training", training.run):
        return
    summary, paths = training.write_report()
    if as_json:
        echo_json(summary, paths)
        return
    out_console = Console()
    for name, label in (("val_top1", "search-val top-1"), ("test_top1", "test top-1")):
        s = summary["summary"][name]
        interval = interval_text(s)
        out_console.print(f"{label}: {s['mean']:.4f} (sd {s['sd']:.4f}, n={s['n']}){interval}")
    out_console.print(f"wrote {', '.join(str(p) for p in paths)}")


train_command.help = train_command.help.replace("{arch_help}", ARCH_HELP)
