"""`archsearch export`: a standalone model file (weights + architecture JSON), optionally ONNX."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

from archspace import Genotype, SpacePlugin
from cli.arch import ARCH_HELP, resolve_arch
from cli.errors import friendly_errors


def retrained_weights(run_dir: Path, key: str, stages: list[str]) -> Path | None:
    """The retraining checkpoint of the chosen architecture, latest stage first."""
    for stage in reversed(stages):
        path = run_dir / "retrain" / f"{stage}-{key}.pt"
        if path.exists():
            return path
    return None


def build_model(plugin: SpacePlugin, genotype: Genotype, arch: str):
    """The standalone module and a note on where its weights came from."""
    if not hasattr(plugin, "build"):
        raise ValueError(f"space {plugin.name!r} builds no model, so there is nothing to export")
    model = plugin.build(genotype)
    folder = Path(arch)
    if folder.is_dir():
        answer = json.loads((folder / "architecture.json").read_text())
        weights = retrained_weights(folder, genotype.key, answer.get("stages", []))
        if weights is None:
            raise FileNotFoundError(
                f"run folder {arch} has no retrained weights for {genotype.key} "
                f"(expected {folder / 'retrain'}/<stage>-{genotype.key}.pt)"
            )
        from glit_space.checkpoint import load_checkpoint

        model.load_state_dict(load_checkpoint(weights)["model"])
        return model, f"retrained weights from {weights}"
    return model, "freshly initialised weights (not trained)"


@click.command("export")
@click.argument("arch")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file: NAME.safetensors (default format) or NAME.pt (weights-only "
    "state dict); NAME.json gets the architecture.",
)
@click.option(
    "--onnx", is_flag=True, help="Also write NAME.onnx (needs the onnx package: archsearch[onnx])."
)
@click.option("--space", default="glit", show_default=True, help="Space of a bare genotype.")
@click.option("--width", default=None, help="GLiT width of a bare genotype.")
@friendly_errors
def export_command(arch: str, out: Path, onnx: bool, space: str, width: str | None) -> None:
    """Export a standalone model: weights plus the architecture JSON.

    ARCH is {arch_help}. From a run folder the retrained weights of the chosen
    architecture are exported; from a preset or JSON file, untrained weights.

    \b
    Examples:
      archsearch export runs/my-run --out glit.safetensors
      archsearch export glit-tiny --out glit-tiny.pt --onnx
    """
    import torch

    plugin, genotype = resolve_arch(arch, space, **({"width": width} if space == "glit" else {}))
    model, origin = build_model(plugin, genotype, arch)
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if out.suffix == ".pt":
        torch.save(state, out)
    else:
        from safetensors.torch import save_file

        out = out.with_suffix(".safetensors")
        save_file(state, out)
    description = {
        "space": plugin.name,
        "space_options": plugin.options(),
        "key": genotype.key,
        "genotype": genotype.to_dict(),
        "costs": plugin.cost(genotype),
        "weights": out.name,
        "origin": origin,
    }
    out.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")
    written = [out, out.with_suffix(".json")]
    if onnx:
        if importlib.util.find_spec("onnx") is None:
            raise click.ClickException(
                f"wrote {out.name} and its JSON, but --onnx needs the onnx package: "
                "pip install 'archsearch[onnx]'"
            )
        width = plugin.width
        example = torch.zeros(1, width.in_chans, width.img_size, width.img_size)
        torch.onnx.export(model, (example,), str(out.with_suffix(".onnx")), dynamo=False)
        written.append(out.with_suffix(".onnx"))
    click.echo(f"exported {genotype.key} ({origin}):")
    for path in written:
        click.echo(f"  {path}")


export_command.help = export_command.help.replace("{arch_help}", ARCH_HELP)
