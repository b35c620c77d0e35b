#!/usr/bin/env bash
# Latency tables against measured end-to-end latency (issue 16), on this machine's CPU:
# GLiT at the tiny and cpu widths and AutoFormer-T's space, at each batch size. Table
# builds resume if interrupted; results land in $OUT (default .bench/latency), one
# line per setting is printed. Usage:
#   bash benchmarks/latency_study.sh [BATCHES] [SAMPLES] [FIT]   # default "1 32" 30 10
set -euo pipefail
cd "$(dirname "$0")/.."
A=.venv/bin/archsearch; [ -x "$A" ] || A=archsearch
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
OUT=${OUT:-.bench/latency}
BATCHES=${1:-"1 32"}
SAMPLES=${2:-30}
FIT=${3:-10}
THREADS=${THREADS:-2}
TARGETS=${TARGETS:-"glit:tiny glit:cpu autoformer:tiny"}
mkdir -p "$OUT"
for batch in $BATCHES; do
  for target in $TARGETS; do
    space=${target%%:*}; width=${target##*:}; name="$space-$width-b$batch"
    start=$(date +%s)
    "$A" latency build --space "$space" --width "$width" --batch "$batch" \
      --threads "$THREADS" --out "$OUT/$name.json" > "$OUT/$name.build.log" 2>&1
    built=$(( $(date +%s) - start ))
    "$A" latency check --lut "$OUT/$name.json" --samples "$SAMPLES" --fit "$FIT" \
      --out "$OUT/$name" --json > "$OUT/$name.check.json" 2> "$OUT/$name.check.log"
    "$PY" - "$name" "$built" "$OUT/$name.check.json" <<'PYEOF'
import json, sys
name, built, path = sys.argv[1], sys.argv[2], sys.argv[3]
d = json.load(open(path))
t, s, f = d["table_predictor"], d["size_predictor"], d.get("fit") or {}
line = (f"{name}: build {built} s, {d['networks_evaluated']} networks; sum of parts: "
        f"MAPE {t['mape_pct']:.1f}%, worst {t['worst']['error_pct']:.1f}%, "
        f"Spearman {t['spearman']:.3f}, Kendall {t['kendall']:.3f}; MACs: Spearman "
        f"{s['spearman']:.3f}, Kendall {s['kendall']:.3f}")
w, r = d.get("wall_predictor"), d.get("speed_reference")
if w:
    line += (f"; against plain wall time: MAPE {w['mape_pct']:.1f}%, Spearman "
             f"{w['spearman']:.3f}; reference {r['build_ms']:.3g} ms at build, "
             f"{r['check_ms']:.3g} ms at check")
if f:
    fa = f["fit_accuracy"]
    line += (f"; fitted a={f['a']:.3f} b={f['b']:.3g} on {f['fitted_on_networks']}: MAPE "
             f"{fa['mape_pct']:.1f}%, worst {fa['worst']['error_pct']:.1f}%, Spearman "
             f"{fa['spearman']:.3f}")
print(line, flush=True)
PYEOF
  done
done
