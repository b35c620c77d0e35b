#!/usr/bin/env bash
# One check of the CUDA path (issue 14), well under 10 minutes on one GPU:
#   (a) the tests that concern CUDA (marked `cuda`, or mentioning cuda in their body);
#   (b) a tiny `archsearch run --device cuda` for each space (glit, autoformer);
#   (c) supernet / standalone training-step ratio and images/s (benchmarks/step_ratio.py)
#       at GLiT-Tiny's and AutoFormer-T's widths (224 px, 1000 classes), random batches,
#       AMP, on the published networks and two random subnets;
#   (d) a latency table of AutoFormer-T's space on the device, checked against networks
#       measured end to end (issue 16).
# Without a CUDA GPU it runs the same steps on the CPU at the cpu widths with few steps,
# so the script itself is tested anywhere. Ends with a compact summary.
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
else
    DEVICE=cpu
    RATIO_ARGS=(--width cpu --data builtin --batch 64 --steps 4 --subnets 1)
    LATENCY_ARGS=(--batch 1 --min-run-time 0.05)
    CHECK_ARGS=(--samples 3 --fit 2 --min-run-time 0.05)
fi
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

echo "== summary (device $DEVICE, $((SECONDS - START)) s in all)"
printf '%s\n' "${SUMMARY[@]}"
