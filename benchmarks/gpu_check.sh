#!/usr/bin/env bash
# The GPU acceptance run (issues 14 and 24), well under 10 minutes on one GPU:
#   (a) the tests that concern CUDA (marked `cuda`, or mentioning cuda in their body);
#   (b) a tiny `archsearch run --device cuda` for each space (glit, autoformer);
#   (c) supernet / standalone training-step ratio and images/s (benchmarks/step_ratio.py)
#       at GLiT-Tiny's and AutoFormer-T's widths (224 px, 1000 classes), random batches,
#       AMP, on the published networks and two random subnets;
#   (d) a latency table of AutoFormer-T's space on the device, checked against networks
#       measured end to end (issue 16);
#   (e) a 224 px imagefolder made on the fly: the built-in images upsampled and written
#       as JPEG (benchmarks/make_imagefolder.py), 21,000 train and 500 val images;
#   (f) a short GLiT-Tiny `archsearch run` on it through the DeiT pipeline (supernet and
#       retraining, MixUp/CutMix, the loader's default workers), killed (SIGKILL) right
#       after its first supernet checkpoint; then `archsearch run --resume` from that
#       checkpoint, written on the device, must finish; loader vs training images/s;
#   (g) `archsearch export` of its answer: the file loads into a fresh network, gives
#       finite outputs and holds the retrained weights;
#   (h) one candidate evaluated by the run's supernet on 10,000 search-val images
#       (recipe.eval.max_images), timed twice (decoding, then the kept images): images/s;
#   (i) `torchrun --nproc-per-node 1` of a tiny `archsearch run`, then a process group of
#       the backend archsearch picks (nccl on CUDA, gloo on the CPU): an all-reduce and a
#       DDP step. archsearch itself forms no group at WORLD_SIZE 1, so the run alone would
#       not touch nccl;
#   (j) the GLiT-Tiny supernet's DeiT-Tiny path against timm's deit_tiny_patch16_224:
#       training images/s at the same batch and precision (benchmarks/timm_compare.py;
#       skipped with a message without timm: pip install 'archsearch[bench]');
#   (k) the memory plan at the paper's batch of 1024 per process (benchmarks/memory_plan.py):
#       the need of the supernet's largest path and of the DeiT network, and the
#       micro-batches gradient accumulation would take on this device.
# Targets on an H100/H200-class GPU, printed beside the figures (never asserted):
# supernet step <= 1.05x the standalone step of the same path, >= 90% of timm's
# training images/s, loader images/s >= 2x the training step's.
# Without a CUDA GPU it runs the same steps on the CPU at the cpu widths with few steps
# and small images (32 px, 740 of them; 300 evaluated), so the script itself is tested
# anywhere. Ends with a compact summary.
#
#     bash benchmarks/gpu_check.sh          (KEEP=1 keeps the temporary folder)
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$WORK"' EXIT
SUMMARY=()
START=$SECONDS

if "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    DEVICE=cuda
    RATIO_ARGS=(--width tiny --data synthetic --batch 128 --steps 20 --presets --subnets 2)
    LATENCY_ARGS=(--batch 32)
    CHECK_ARGS=(--samples 10 --fit 5)
    IMAGE_ARGS=(--per-class-train 2100 --per-class-val 50 --size 224)
    IMAGE_WIDTH=tiny
    EVAL_IMAGES=10000
    TIMM_ARGS=(--width tiny --batch 256 --steps 30)
    MEMORY_ARGS=(--width tiny --batch 1024)
else
    DEVICE=cpu
    RATIO_ARGS=(--width cpu --data builtin --batch 64 --steps 4 --subnets 1)
    LATENCY_ARGS=(--batch 1 --min-run-time 0.05)
    CHECK_ARGS=(--samples 3 --fit 2 --min-run-time 0.05)
    IMAGE_ARGS=(--per-class-train 64 --per-class-val 10 --size 32)
    IMAGE_WIDTH=cpu
    EVAL_IMAGES=300
    TIMM_ARGS=(--width cpu --batch 64 --steps 4)
    MEMORY_ARGS=(--width cpu --batch 1024 --memory-gib 1)
fi
# torchrun beside the interpreter (the venv's), else the same launcher through python
TORCHRUN=("$(dirname "$PY")/torchrun")
[[ -x ${TORCHRUN[0]} ]] || TORCHRUN=("$PY" -m torch.distributed.run)
echo "gpu_check: device $DEVICE, python $PY, logs in $WORK"

# step NAME COMMAND...: run it with its output in a log; on failure show the log's tail.
step() {
    local name=$1 t0=$SECONDS
    shift
    echo "== $name"
    if ! "$@" >"$WORK/$name.log" 2>&1; then
        tail -n 40 "$WORK/$name.log"
        echo "gpu_check: FAILED at $name (log $WORK/$name.log)" >&2
        trap - EXIT
        exit 1
    fi
    SUMMARY+=("$(printf '%-22s %4d s' "$name" $((SECONDS - t0)))")
}

# (a) Tests about CUDA: `pytest.mark.cuda` or the word cuda in a test's own source.
mapfile -t CUDA_TESTS < <("$PY" - <<'EOF'
import ast, pathlib, re
for path in sorted(pathlib.Path("tests").glob("test_*.py")):
    source = path.read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            text = ast.get_source_segment(source, node) or ""
            if re.search(r"\bcuda\b", text):
                print(f"{path}::{node.name}")
EOF
)
if ((${#CUDA_TESTS[@]})); then
    step tests "$PY" -m pytest -q -p no:cacheprovider "${CUDA_TESTS[@]}"
    SUMMARY[-1]+="  $(tail -n 1 "$WORK/tests.log")"
else
    SUMMARY+=("tests                  none concern CUDA")
fi

# (b) A tiny search per space on the device: one generation, a few steps per stage.
TINY=(
    --set recipe.supernet.epochs=1 --set recipe.supernet.max_steps_per_epoch=3
    --set recipe.retrain.epochs=1 --set recipe.retrain.max_steps_per_epoch=3
    --set recipe.eval.max_images=64 --set recipe.eval.bn_batches=1
    --set searcher.population=4 --set searcher.parents=2 --set searcher.mutants=1
    --set searcher.crossovers=1 --set searcher.generations=1 --set search.top_k=1
)
for space in glit autoformer; do
    out="$WORK/run-$space"
    step "run-$space" "$PY" -c 'from cli.main import main; main()' run --space "$space" \
        --strategy spos --device "$DEVICE" "${TINY[@]}" --out "$out"
    SUMMARY[-1]+="  $("$PY" - "$out" <<'EOF'
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
arch = json.loads((run / "architecture.json").read_text())
device = json.loads((run / "config.json").read_text())["workbench"]["device"]
print(f"{arch['key']} {arch['costs']['macs'] / 1e6:.1f}M MACs, "
      f"test top-1 {arch['metrics']['test_top1']:.3f} (device {device})")
EOF
)"
done

# (c) Supernet vs standalone training step, same subnets and batches.
for space in glit autoformer; do
    step "ratio-$space" "$PY" benchmarks/step_ratio.py --space "$space" --device "$DEVICE" \
        --skip-cost "${RATIO_ARGS[@]}"
    SUMMARY[-1]+="  $(grep '^summary:' "$WORK/ratio-$space.log" | sed 's/^summary: //')"
done

# (d) Latency table on the device, then predicted against measured end to end.
step latency-build "$PY" -c 'from cli.main import main; main()' latency build \
    --space autoformer --width tiny --device "$DEVICE" "${LATENCY_ARGS[@]}" --out "$WORK/lut.json"
step latency-check "$PY" -c 'from cli.main import main; main()' latency check \
    --lut "$WORK/lut.json" "${CHECK_ARGS[@]}" --out "$WORK/latency"
SUMMARY[-1]+="  $("$PY" - "$WORK/latency/latency_check.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t, s = d["table_predictor"], d["size_predictor"]
print(f"{d['measured_on']['device_name']}: MAPE {t['mape_pct']:.1f}%, Spearman "
      f"{t['spearman']:.3f} (MACs {s['spearman']:.3f}) over {d['networks_evaluated']} networks")
EOF
)"

# (e) A 224 px imagefolder (32 px on the CPU) of the built-in images, as JPEG files.
step imagefolder "$PY" benchmarks/make_imagefolder.py --out "$WORK/images" "${IMAGE_ARGS[@]}"
SUMMARY[-1]+="  $(tail -n 1 "$WORK/imagefolder.log" | sed 's/ to [^ ]* in / in /')"

# (f) A GLiT run on it through the DeiT pipeline, killed right after its first supernet
# checkpoint (2 supernet epochs: one written, one left), then resumed from it.
# Search-val holds EVAL_IMAGES images, for (h).
IMAGE_RUN=(
    --space glit --strategy spos --device "$DEVICE" --width "$IMAGE_WIDTH"
    --data "imagefolder:$WORK/images"
    --set recipe.supernet.epochs=2 --set recipe.supernet.max_steps_per_epoch=3
    --set recipe.supernet.augment=auto --set recipe.retrain.augment=auto
    --set recipe.retrain.mixup=0.8 --set recipe.retrain.cutmix=1.0
    --set recipe.retrain.epochs=1 --set recipe.retrain.max_steps_per_epoch=3
    --set recipe.val_size="$EVAL_IMAGES" --set recipe.val_max="$EVAL_IMAGES"
    --set recipe.eval.max_images=64 --set recipe.eval.bn_batches=1
    --set searcher.population=4 --set searcher.parents=2 --set searcher.mutants=1
    --set searcher.crossovers=1 --set searcher.generations=1 --set search.top_k=1
)
cat >"$WORK/killed_run.py" <<'EOF'
"""`archsearch run ARGS`, killed with SIGKILL right after its first supernet checkpoint."""
import os
import signal
import sys
from pathlib import Path

import oneshot.training as training
from cli.main import main

save = training.save_checkpoint


def save_then_die(path, state):
    save(path, state)
    if Path(path).name.startswith("supernet-"):
        tensor = next(iter(state["model"].values()))
        print(
            f"killed after {Path(path).name}: epoch {state['epoch']}, step "
            f"{state['global_step']}, weights on {tensor.device}, "
            f"RNG states {'+'.join(sorted(state['rng']))}",
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGKILL)


training.save_checkpoint = save_then_die
sys.argv[0] = "archsearch"
main()
EOF
# killed_run ARGS...: succeeds only when the run was killed (exit 137) after a checkpoint
killed_run() {
    local rc=0
    "$PY" "$WORK/killed_run.py" run "$@" || rc=$?
    if ((rc != 137)); then
        echo "expected the run to be killed after its first supernet checkpoint (exit 137), got $rc"
        return 1
    fi
}
step run-killed killed_run "${IMAGE_RUN[@]}" --out "$WORK/run-images"
SUMMARY[-1]+="  $(grep -h '^killed after' "$WORK/run-killed.log")"
# resume_run FOLDER: `archsearch run --resume`, then a check that the supernet resumed
resume_run() {
    "$PY" -m cli run --resume "$1" || return
    "$PY" - "$1" <<'EOF'
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
events = [json.loads(line) for line in (run / "train-log.jsonl").open()]
resumed = [e for e in events if e["event"] == "resume" and e["label"].startswith("supernet")]
trained = [e for e in events if e["event"] == "supernet_trained"]
assert resumed and trained and trained[-1]["resumed_from_step"] > 0, "the supernet did not resume"
arch = json.loads((run / "architecture.json").read_text())
loader = [e for e in events if e["event"] == "loader" and e["label"].startswith("supernet")]
train_rate = trained[-1]["images_per_s"]
speed = (
    f"loader {loader[-1]['images_per_s']:.0f} img/s ({loader[-1]['workers']} workers) = "
    f"{loader[-1]['images_per_s'] / train_rate:.1f}x training's {train_rate:.0f} img/s "
    "(target >= 2x)" if loader else "no loader figure in the log"
)
print(f"supernet resumed at step {trained[-1]['resumed_from_step']} of {trained[-1]['steps']}; "
      f"answer {arch['key']}, test top-1 {arch['metrics']['test_top1']:.3f}; {speed}")
EOF
}
step resume resume_run "$WORK/run-images"
SUMMARY[-1]+="  $(tail -n 1 "$WORK/resume.log")"

# (g) Export the answer (retrained weights from the device's checkpoint) and load it.
# export_check RUN FILE: `archsearch export`, then load the file into a fresh network
export_check() {
    "$PY" -m cli export "$1" --out "$2" || return
    "$PY" - "$2" "$1" <<'EOF'
import json, pathlib, sys
import torch
from safetensors.torch import load_file
from cli.arch import resolve_arch
from oneshot.checkpoint import load_checkpoint
from oneshot.plugin import retrain_checkpoint

out, run = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
plugin, genotype = resolve_arch(str(out.with_suffix(".json")))
model = plugin.build(genotype)
model.load_state_dict(load_file(out))  # strict: every parameter and buffer, nothing else
model.eval()
x = torch.randn(2, *plugin.input_shape(), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    y = model(x)
classes = plugin.model_input().num_classes
assert y.shape == (2, classes) and torch.isfinite(y).all(), y
stages = json.loads((run / "architecture.json").read_text())["stages"]
path = next(p for s in reversed(stages) if (p := retrain_checkpoint(run, s, genotype.key)).exists())
trained = load_checkpoint(path)["model"]
assert all(torch.equal(v, trained[k].cpu()) for k, v in model.state_dict().items())
params = sum(p.numel() for p in model.parameters())
print(f"{genotype.key}: {params:,} parameters, the retrained weights of {path.name}; "
      f"output {tuple(y.shape)}, finite")
EOF
}
step export export_check "$WORK/run-images" "$WORK/export/model.safetensors"
SUMMARY[-1]+="  $(tail -n 1 "$WORK/export.log")"

# (h) One candidate, the run's answer, on EVAL_IMAGES search-val images with the run's
# supernet, timed twice: the first decodes search-val, the second reads what the
# workbench kept of it (or decodes again where it keeps nothing).
step evaluate "$PY" - "$WORK/run-images" "$EVAL_IMAGES" <<'EOF'
import json, pathlib, sys, time
import torch
from cli.arch import resolve_arch

run, count = pathlib.Path(sys.argv[1]), int(sys.argv[2])
config = json.loads((run / "config.json").read_text())
stage = json.loads((run / "architecture.json").read_text())["stages"][-1]
plugin, genotype = resolve_arch(str(run))
settings = {**config["workbench"], "run_dir": run, "seed": config["seed"],
            "profile": config["profile"]}
settings["recipe"] = {**settings.get("recipe", {}), "eval.max_images": count}
bench = plugin.workbench(settings)
print(bench.data_summary())
held_out = len(bench.data().val)
assert held_out >= count, f"search-val holds {held_out} images, fewer than {count}"
device = bench.runtime.device
sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
figures = []
for _ in range(2):
    sync()
    start = time.perf_counter()
    (top1,) = bench.evaluate([genotype], stage)
    sync()
    seconds = time.perf_counter() - start
    assert isinstance(top1, float), top1
    figures.append(f"{seconds:.1f} s ({count / seconds:,.0f} img/s)")
name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
print(f"{count:,} images on {name}: first {figures[0]}, again {figures[1]}; top-1 {top1:.3f}")
EOF
SUMMARY[-1]+="  $(tail -n 1 "$WORK/evaluate.log")"

# (i) torchrun with one process: the tiny run, then the backend archsearch would join.
torchrun_check() {
    "${TORCHRUN[@]}" --standalone --nproc-per-node 1 -m cli run --space glit --strategy spos \
        --device "$DEVICE" "${TINY[@]}" --out "$WORK/run-torchrun" || return
    "${TORCHRUN[@]}" --standalone --nproc-per-node 1 "$WORK/process_group.py" "$DEVICE"
}
cat >"$WORK/process_group.py" <<'EOF'
"""One process group of the backend `oneshot.distributed.init_from_env` picks (nccl on
CUDA, gloo on the CPU): an all-reduce and a DDP training step, then a clean exit."""
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

from oneshot.distributed import local_device

device = torch.device(local_device(sys.argv[1]))
dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
total = torch.ones(1, device=device)
dist.all_reduce(total)
assert total.item() == dist.get_world_size()
model = nn.parallel.DistributedDataParallel(
    nn.Linear(8, 2).to(device), device_ids=[device.index] if device.type == "cuda" else None
)
model(torch.randn(4, 8, device=device)).sum().backward()
print(f"process group: backend {dist.get_backend()}, world {dist.get_world_size()}, "
      f"LOCAL_RANK {os.environ['LOCAL_RANK']} on {device}: all-reduce and DDP step ok")
dist.destroy_process_group()
EOF
step torchrun torchrun_check
SUMMARY[-1]+="  $("$PY" - "$WORK/run-torchrun" <<'EOF'
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
arch = json.loads((run / "architecture.json").read_text())
device = json.loads((run / "config.json").read_text())["workbench"]["device"]
print(f"run {arch['key']} (device {device}, test top-1 {arch['metrics']['test_top1']:.3f});",
      end=" ")
EOF
)$(grep -h '^process group:' "$WORK/torchrun.log" | sed 's/^process group: //')"

# (j) The supernet's DeiT-Tiny path against timm's DeiT-Tiny, same batch and precision.
step timm "$PY" benchmarks/timm_compare.py --device "$DEVICE" "${TIMM_ARGS[@]}"
SUMMARY[-1]+="  $(grep '^summary:' "$WORK/timm.log" | sed 's/^summary: //')"

# (k) The memory plan at the paper's batch: the largest supernet path and the DeiT
# network, measured at two small batches and extrapolated to 1024 images a process.
step memory "$PY" benchmarks/memory_plan.py --device "$DEVICE" "${MEMORY_ARGS[@]}"
SUMMARY[-1]+="  $(grep '^summary:' "$WORK/memory.log" | sed 's/^summary: //')"

echo "== summary (device $DEVICE, $((SECONDS - START)) s in all)"
printf '%s\n' "${SUMMARY[@]}"
echo "targets on an H100/H200: supernet step <= 1.05x standalone, >= 90% of timm's images/s,"
echo "loader >= 2x the training images/s (figures above; asserted nowhere)"
