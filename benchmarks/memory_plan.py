"""The memory plan of a width's training at the paper's batch (issue 24, item 2).

What a run does before its first step (`oneshot.memory`), shown without training: one
step of the supernet's largest path (by MACs, `oneshot.memory.largest_path`) and of a preset
standalone is measured at two small batches, the need at `--batch` per process is
extrapolated, and the plan says whether it fits the device (free memory on CUDA;
`--memory-gib` elsewhere) or how many micro-batches it takes.

    python benchmarks/memory_plan.py [--width tiny] [--device auto] [--batch 1024]
        [--preset NAME] [--memory-gib 24]

The last line it prints starts with "summary:" (for scripts such as gpu_check.sh).
"""

from __future__ import annotations

import argparse

from archspace.registry import load_space
from oneshot.memory import (
    MemoryBudgetError,
    device_budget,
    largest_path,
    plan_memory,
    step_need,
)
from oneshot.runtime import select_runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="glit")
    parser.add_argument("--width", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=1024, help="images per process")
    parser.add_argument(
        "--preset", default=None, help="the standalone network (default: the width's DeiT)"
    )
    parser.add_argument(
        "--memory-gib", type=float, default=None, help="budget (default: the GPU's free memory)"
    )
    args = parser.parse_args()
    runtime = select_runtime(args.device)
    plugin = load_space(args.space, width=args.width)
    budget = device_budget(runtime.device, args.memory_gib)
    if budget is None:
        parser.error("on the CPU give --memory-gib: there is no device memory to read")
    shape = plugin.model_input()
    supernet = runtime.prepare(plugin.supernet())
    supernet.activate(largest_path(plugin.space, plugin.cost))
    presets = plugin.presets()  # DeiT is every head global: split 3-0 at other widths
    name = args.preset or next(n for n in presets if n.startswith(("deit", "split-3-0")))
    models = {
        "supernet (largest path)": (supernet, 1),  # SGD: one momentum buffer
        f"{name} standalone": (runtime.prepare(plugin.build(presets[name])), 2),  # AdamW
    }
    lines = []
    for label, (model, states) in models.items():
        need_at, how = step_need(
            model,
            (shape.in_chans, shape.img_size, shape.img_size),
            shape.num_classes,
            runtime.device,
            runtime.autocast,
            states,
        )
        try:
            plan = plan_memory(label, args.batch, budget, need_at, measured_by=how)
        except MemoryBudgetError as error:
            print(f"refused: {error}")
            lines.append(f"{label} refused")
            continue
        print(plan.describe())
        lines.append(
            f"{label} {plan.per_image_bytes / 2**20:.1f} MiB/image, "
            f"{plan.accumulation} x {plan.micro_batch}"
        )
    print(f"summary: batch {args.batch} in {budget / 2**30:.1f} GiB: " + "; ".join(lines))


if __name__ == "__main__":
    main()
