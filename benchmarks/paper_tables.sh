#!/usr/bin/env bash
# The GLiT paper's tables (issue 22), on the full Fashion-MNIST
# (Debian's dataset-fashion-mnist) at the cpu width, the quick retraining recipe with
# the ranking studies' image count: R = 20,480 images per training (160 steps of 128).
#
#   bash benchmarks/paper_tables.sh table1     # the 4 head splits, SEEDS seeds each
#   bash benchmarks/paper_tables.sh table4     # the search space: 3 searches + DeiT
#   bash benchmarks/paper_tables.sh table6     # the locality module: 3 searches
#   bash benchmarks/paper_tables.sh table3     # DeiT against the search (Table 4's rows)
# The searches train each supernet on S/2 = 20,480 images (160 steps of 128) and
# retrain their top 1 per stage with R images: a hierarchical search costs S + 2R, the
# budget of Table 5's hierarchical-ea arm (benchmarks/ranking_study.sh table5), whose
# seeds are the very runs of Table 4's full space, Table 6's Conv1d and Table 3's
# searched GLiT at the cpu width: each table takes the finished ones (--reuse) from
# Table 5's folder and from the other tables' instead of searching again (and DeiT's
# trainings from Table 1's 3-0 row).
#
# Resumes: every finished seed is kept. Table 1: NPROC processes share the seeds
# (torchrun); tables 4 and 6: JOBS search runs at once.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.bench/paper}
DATA=${DATA:-fashion-mnist:/usr/share/datasets/fashion-mnist}
SEEDS=${SEEDS:-3}
NPROC=${NPROC:-1}  # table1: torchrun processes sharing the seeds
JOBS=${JOBS:-2}    # tables 3, 4 and 6: search runs at once, one core each
TABLE5=${TABLE5:-.bench/ranking/table5}
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
  table3 | table4 | table6)
    REUSE=()
    for other in "$TABLE5" "$OUT"/table{1,3,4,6}-cpu; do
      if [ "$other" != "$OUT/$1-cpu" ] && [ -d "$other" ]; then REUSE+=(--reuse "$other"); fi
    done
    OMP_NUM_THREADS=1 .venv/bin/archsearch paper "$1" --width cpu --seeds "$SEEDS" \
      --data "$DATA" --device cpu "${RECIPE[@]}" --set recipe.supernet.epochs=1 \
      --set recipe.supernet.batch_size=128 --set recipe.supernet.max_steps_per_epoch=160 \
      --set search.top_k=1 --jobs "$JOBS" "${REUSE[@]}" --out "$OUT/$1-cpu"
    ;;
  *)
    echo "usage: $0 table1|table3|table4|table6" >&2
    exit 2
    ;;
esac
