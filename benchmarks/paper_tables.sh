#!/usr/bin/env bash
# The GLiT paper's tables of fixed networks (issue 22), on the full Fashion-MNIST
# (Debian's dataset-fashion-mnist) at the cpu width, the quick retraining recipe with
# the ranking studies' image count: R = 20,480 images per training (160 steps of 128).
#
#   bash benchmarks/paper_tables.sh table1     # the 4 head splits, SEEDS seeds each
#   bash benchmarks/paper_tables.sh table4     # the search space: 3 searches + DeiT
#   bash benchmarks/paper_tables.sh table6     # the locality module: 3 searches
#   bash benchmarks/paper_tables.sh table3     # DeiT against the search (Table 4's rows)
# The searches train each supernet on S = 40,960 images (320 steps of 128), as the
# ranking studies do, and retrain their top 1 per stage with R images; Table 6's Conv1d
# row and Table 3's searched GLiT at the cpu width are Table 4's full space, searched
# once for all three.
#
# Resumes: every finished seed is kept. Table 1: NPROC processes share the seeds
# (torchrun); tables 4 and 6: JOBS search runs at once.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.bench/paper}
DATA=${DATA:-fashion-mnist:/usr/share/datasets/fashion-mnist}
SEEDS=${SEEDS:-3}
NPROC=${NPROC:-1}  # table1: torchrun processes sharing the seeds
JOBS=${JOBS:-2}    # tables 4 and 6: search runs at once, one core each
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
    # one search is in all three tables (Table 4's full space, Table 6's Conv1d, Table
    # 3's searched GLiT at this width): a table that reaches it later copies the seeds
    # another one finished
    REUSE=()
    for other in table3 table4 table6; do
      if [ "$other" != "$1" ] && [ -d "$OUT/$other-cpu" ]; then
        REUSE+=(--reuse "$OUT/$other-cpu")
      fi
    done
    OMP_NUM_THREADS=1 .venv/bin/archsearch paper "$1" --width cpu --seeds "$SEEDS" \
      --data "$DATA" --device cpu "${RECIPE[@]}" --set recipe.supernet.epochs=1 \
      --set recipe.supernet.batch_size=128 --set recipe.supernet.max_steps_per_epoch=320 \
      --set search.top_k=1 --jobs "$JOBS" "${REUSE[@]}" --out "$OUT/$1-cpu"
    ;;
  *)
    echo "usage: $0 table1|table3|table4|table6" >&2
    exit 2
    ;;
esac
