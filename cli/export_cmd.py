"""`archsearch export`: a standalone model file (weights + architecture JSON), optionally ONNX."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import click

from archspace import Genotype, SpacePlugin
from cli.arch import ARCH_HELP, resolve_arch
from cli.errors import friendly_errors
from cli.names_help import arch_space_option
from strategies.run import ARCHITECTURE_FILE


def build_model(plugin: SpacePlugin, genotype: Genotype, arch: str):
    """The standalone module and a note on where its weights came from."""
    folder = Path(arch)
    if not folder.is_dir():
        return plugin.export_model(genotype)
    answer = json.loads((folder / ARCHITECTURE_FILE).read_text())
    return plugin.export_model(genotype, folder, answer.get("stages", []))


def _follow_umask(path: Path) -> None:
    """Give `path` the mode a newly created file gets (0666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


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
@arch_space_option
@click.option("--width", default=None, help="Space width of a bare genotype.")
@friendly_errors
def export_command(arch: str, out: Path, onnx: bool, space: str | None, width: str | None) -> None:
    """Export a standalone model: weights plus the architecture JSON.

    ARCH is {arch_help}. From a run folder the retrained weights of the chosen
    architecture are exported; from a preset or JSON file, untrained weights.

    \b
    Examples:
      archsearch export runs/my-run --out glit.safetensors
      archsearch export glit-tiny --out glit-tiny.pt --onnx
    """
    import torch

    plugin, genotype = resolve_arch(arch, space, width=width)
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
    _follow_umask(out)  # safetensors writes through a private (0600) temporary file
    description = {
        "space": plugin.name,
        "space_options": plugin.load_options(),
        "key": genotype.key,
        "genotype": genotype.to_dict(),
        "costs": plugin.costs(genotype),
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
        example = torch.zeros(1, *plugin.input_shape())
        torch.onnx.export(model, (example,), str(out.with_suffix(".onnx")), dynamo=False)
        written.append(out.with_suffix(".onnx"))
    click.echo(f"exported {genotype.key} ({origin}):")
    for path in written:
        click.echo(f"  {path}")


export_command.help = export_command.help.replace("{arch_help}", ARCH_HELP)
