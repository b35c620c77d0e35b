#!/usr/bin/env bash
# Ground-truth ranking studies (issue 20), on the full Fashion-MNIST (Debian's
# dataset-fashion-mnist) at the cpu width, quick recipes with fixed image counts:
#   supernets: S = 40,960 training images each (320 steps of 128), the flat SPOS
#              supernet and each hierarchical stage's alike (equal images per supernet);
#   retraining (the run's recipe, and the ground truth): R = 20,480 images (160 x 128);
#   search-val: the 1,000 held-out images, all of them per evaluation.
#
#   bash benchmarks/ranking_study.sh premise      # GLiT: stage supernets vs flat SPOS
#   bash benchmarks/ranking_study.sh premise-long # the same, truth retrained on 2R images
#   bash benchmarks/ranking_study.sh autoformer   # AutoFormer: its flat supernet
#   bash benchmarks/ranking_study.sh table5       # compare --seeds 5 on GLiT
#
# Needs the data: `apt-get install dataset-fashion-mnist` (or DATA=fashion-mnist:DIR).
# Everything resumes: a finished run is skipped, a stopped one continues, and the
# ranking study keeps every finished retraining. NPROC processes share the ranking
# study's retrainings (torchrun, one thread each); runs of one study go in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.bench/ranking}
DATA=${DATA:-fashion-mnist:/usr/share/datasets/fashion-mnist}
NPROC=${NPROC:-2}
ARCHS=${ARCHS:-30}
SEEDS=${SEEDS:-2}
BIN=.venv/bin
COMMON=(
  --data "$DATA" --device cpu
  --set recipe.supernet.epochs=1 --set recipe.supernet.batch_size=128
  --set recipe.supernet.max_steps_per_epoch=320
  --set recipe.retrain.epochs=1 --set recipe.retrain.batch_size=128
  --set recipe.retrain.max_steps_per_epoch=160
  --set recipe.eval.max_images=1000
)

run() {  # run FOLDER ARGS...: start, resume or skip a run
  local folder=$1
  shift
  if [ -f "$folder/architecture.json" ]; then return; fi
  if [ -f "$folder/config.json" ]; then
    OMP_NUM_THREADS=1 "$BIN/archsearch" run --resume "$folder"
  else
    OMP_NUM_THREADS=1 "$BIN/archsearch" run "$@" --out "$folder"
  fi
}

rank() {
  "$BIN/torchrun" --standalone --nproc-per-node "$NPROC" -m cli rank "$@" \
    --archs "$ARCHS" --seeds "$SEEDS"
}

mkdir -p "$OUT"
case "${1:-premise}" in
  premise)
    run "$OUT/glit-hier" --space glit --strategy hierarchical-ea --set search.top_k=1 \
      "${COMMON[@]}" >> "$OUT/glit-hier.log" 2>&1 &
    run "$OUT/glit-spos" --space glit --strategy spos --set search.top_k=1 \
      "${COMMON[@]}" >> "$OUT/glit-spos.log" 2>&1 &
    wait
    rank "$OUT/glit-hier" "$OUT/glit-spos" --out "$OUT/glit-premise"
    ;;
  premise-long)  # the same runs and architectures, the truth retrained on 2R images
    # (320 steps of 128, the supernets' S): the first pass's ceiling was under 0.6
    rank "$OUT/glit-hier" "$OUT/glit-spos" --out "$OUT/glit-premise-2r" \
      --set recipe.retrain.max_steps_per_epoch=320
    ;;
  autoformer)
    run "$OUT/af-spos" --space autoformer --strategy spos --set search.top_k=1 \
      "${COMMON[@]}" >> "$OUT/af-spos.log" 2>&1
    rank "$OUT/af-spos" --out "$OUT/af-truth"
    ;;
  table5)  # equal training per run, S + 2R images: spos one supernet of S and its
    # top 2 retrained; hierarchical-ea two supernets of S/2 and the top 1 of each stage;
    # random 4 architectures retrained
    OMP_NUM_THREADS=1 "$BIN/archsearch" compare --space glit \
      --strategies hierarchical-ea,spos,random --seeds "${TABLE5_SEEDS:-5}" --jobs "$NPROC" \
      "${COMMON[@]}" \
      --set hierarchical-ea:recipe.supernet.max_steps_per_epoch=160 \
      --set hierarchical-ea:search.top_k=1 --set spos:search.top_k=2 \
      --set random:strategy.architectures=4 --out "$OUT/table5"
    ;;
  *)
    echo "usage: $0 premise|premise-long|autoformer|table5" >&2
    exit 2
    ;;
esac
