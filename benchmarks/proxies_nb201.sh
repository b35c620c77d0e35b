#!/usr/bin/env bash
# Zero-cost proxies on NAS-Bench-201 against its tabulated CIFAR-10 accuracy (issue 23).
#   all   synflow on every one of the 15,625 cells (needs no images: exact comparison)
#   1000  every proxy on 1,000 cells drawn uniformly (seed 0), minibatch of 16 images of
#         Fashion-MNIST at 3 x 32 x 32 standing in for CIFAR-10 (none ships offline;
#         DATA=cifar10:DIR uses the real one)
#   bash benchmarks/proxies_nb201.sh all | 1000
# Both resume: scores are kept as they are made.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.bench/proxies}
DATA=${DATA:-builtin:fashion-mnist}
BIN=.venv/bin
export OMP_NUM_THREADS=1
case "${1:-all}" in
  all)
    "$BIN/archsearch" proxies --space nb201 --archs all --proxies synflow --batch 16 \
      --data "$DATA" --out "$OUT/nb201-all"
    ;;
  1000)
    "$BIN/archsearch" proxies --space nb201 --archs 1000 --batch 16 --data "$DATA" \
      --proxies synflow,snip,grad_norm,jacob_cov,nwot,fisher --out "$OUT/nb201-1000"
    ;;
  *) echo "usage: $0 all|1000" >&2; exit 2 ;;
esac
