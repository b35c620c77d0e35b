"""GLiT supernet training images/s on its DeiT path against timm's DeiT (issue 24, item 4).

The supernet's own overhead is measured by `step_ratio.py` (the same path built
standalone); this asks how the supernet's DeiT path trains against the implementation
users know. Three models take SGD steps on the same batches, taking turns
(`step_ratio.step_times`), at the same batch and precision (the runtime's: bfloat16
autocast on Ampere and later GPUs, float32 on the CPU):

- the GLiT supernet with its DeiT path active (every head global, qkv ratio 1, FFN
  ratio 4: the `deit-tiny` preset at the tiny width);
- that path built standalone (`plugin.build`);
- timm's `deit_tiny_patch16_224` at the tiny width; at any other width a timm
  `VisionTransformer` of the width's sizes (image, patch, channels, dim, depth, heads),
  since DeiT-Tiny at 224 px is too slow to time on a small CPU. The output names which.

Targets on an H100/H200-class GPU (issue 24): supernet step <= 1.05x the standalone
step of the same path, and >= 90% of timm's training images/s. They are printed beside
the figures, never asserted. timm is optional (`pip install 'archsearch[bench]'`);
without it the script says so and exits 0.

    python benchmarks/timm_compare.py [--width tiny|cpu] [--device auto|cpu|cuda]
        [--batch 128] [--steps 20]

The last line it prints starts with "summary:" (for scripts such as gpu_check.sh).
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from step_ratio import fixed_batches, step_times  # benchmarks/step_ratio.py, beside this
from torch import nn

from archspace.registry import load_space
from glit_space.config import WIDTHS, Width, deit_blocks
from oneshot.runtime import select_runtime

#: issue 24's targets on an H100/H200-class GPU
TARGET_SUPER_VS_STANDALONE = 1.05
TARGET_SUPER_VS_TIMM = 0.90


def timm_vit(width: Width) -> tuple[nn.Module, str]:
    """timm's DeiT-Tiny at the tiny width (any class count), else a timm ViT of the
    width's sizes; and its name."""
    import timm
    from timm.models.vision_transformer import VisionTransformer

    tiny = WIDTHS["tiny"]
    if dataclasses.replace(width, num_classes=tiny.num_classes) == tiny:
        name = "deit_tiny_patch16_224"
        return timm.create_model(name, pretrained=False, num_classes=width.num_classes), name
    sizes = {
        field: getattr(width, field)
        for field in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads")
    }
    model = VisionTransformer(**sizes, num_classes=width.num_classes, mlp_ratio=4.0)
    return model, "VisionTransformer(" + ", ".join(f"{k}={v}" for k, v in sizes.items()) + ")"


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", default="tiny", help="GLiT width, e.g. tiny or cpu")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="measured steps per model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import timm  # noqa: F401  (only its presence is checked here)
    except ImportError:
        print("timm is not installed (pip install 'archsearch[bench]'): comparison skipped")
        print("summary: skipped, timm not installed")
        return
    runtime = select_runtime(args.device)
    torch.manual_seed(args.seed)
    plugin = load_space("glit", width=args.width)
    path = plugin.genotype(deit_blocks(plugin.width))
    label = "deit-tiny" if plugin.presets().get("deit-tiny") == path else "DeiT path"
    supernet = runtime.prepare(plugin.supernet())
    supernet.activate(path)
    standalone = runtime.prepare(plugin.build(path))
    timm_model, timm_label = timm_vit(plugin.width)
    timm_model = runtime.prepare(timm_model)
    precision = str(runtime.amp_dtype).removeprefix("torch.") if runtime.amp else "float32"
    device = torch.cuda.get_device_name(runtime.device) if runtime.device.type == "cuda" else "cpu"
    print(
        f"GLiT {args.width} width, {label} ({parameters(standalone):,} parameters) against "
        f"timm {timm_label} ({parameters(timm_model):,} parameters); {device}, "
        f"{torch.get_num_threads()} threads, {precision}, batch {args.batch}, random images, "
        f"{args.steps} steps per model"
    )
    batches = fixed_batches(plugin, "synthetic", args.batch, args.steps, runtime)
    models = {"supernet": supernet, "standalone": standalone, "timm": timm_model}
    rates = {name: args.batch / t for name, t in step_times(models, batches, runtime).items()}
    for name in models:
        rate = rates[name]
        print(f"  {name:>10}: {rate:9.0f} images/s ({args.batch / rate * 1e3:.1f} ms a step)")
    step_ratio = rates["standalone"] / rates["supernet"]
    of_timm = rates["supernet"] / rates["timm"]
    print(
        f"supernet step / standalone step {step_ratio:.3f} (target <= "
        f"{TARGET_SUPER_VS_STANDALONE} on an H100/H200); supernet images/s / timm's "
        f"{of_timm:.1%} (target >= {TARGET_SUPER_VS_TIMM:.0%} on an H100/H200)"
    )
    print(
        f"summary: {label} {device} {precision} batch {args.batch}: supernet "
        f"{rates['supernet']:.0f} img/s, timm {rates['timm']:.0f} img/s = {of_timm:.1%} "
        f"(target >= {TARGET_SUPER_VS_TIMM:.0%}); step vs standalone {step_ratio:.3f}x "
        f"(target <= {TARGET_SUPER_VS_STANDALONE}x); timm model: "
        + ("deit_tiny_patch16_224" if timm_label.startswith("deit") else "ViT of the width")
    )


if __name__ == "__main__":
    main()
