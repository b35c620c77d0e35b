#!/usr/bin/env bash
# The GLiT paper's tables of fixed networks (issue 22), on the full Fashion-MNIST
# (Debian's dataset-fashion-mnist) at the cpu width, the quick retraining recipe with
# the ranking studies' image count: R = 20,480 images per training (160 steps of 128).
#
#   bash benchmarks/paper_tables.sh table1     # the 4 head splits, SEEDS seeds each
#
# Resumes: every finished seed is kept. NPROC processes share the seeds (torchrun).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.bench/paper}
DATA=${DATA:-fashion-mnist:/usr/share/datasets/fashion-mnist}
SEEDS=${SEEDS:-3}
NPROC=${NPROC:-1}
RECIPE=(
  --set recipe.retrain.epochs=1 --set recipe.retrain.batch_size=128
  --set recipe.retrain.max_steps_per_epoch=160 --set recipe.eval.max_images=1000
)
case "${1:-table1}" in
  table1)
    OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc-per-node "$NPROC" -m cli paper \
      table1 --width cpu --seeds "$SEEDS" --data "$DATA" --device cpu "${RECIPE[@]}" \
      --out "$OUT/table1-cpu"
    ;;
  *)
    echo "usage: $0 table1" >&2
    exit 2
    ;;
esac
