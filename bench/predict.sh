#!/bin/sh
# bench/predict.sh BUILD_DIR: predict throughput (rows/s, one thread) of
# the engine's predict path (st_predictor_predict, the function evaluate,
# predict and --input run; no process start-up, no decryption) beside
# PyTorch (MLP 64-128-10, the same weights; target >= 1.5x) and XGBoost's
# own predict (100 trees of the same parameters on the same rows; target
# >= 1x), Debian's python3-torch and python3-xgboost. BENCH_PREDICT_ROWS
# (default 100000), BENCH_PREDICT_REPEAT (3) and BENCH_PREDICT_ROUNDS
# (3; the sides alternate, the fastest run counts) tune it.
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
[ -x "$build/bench_predict" ] || { echo "skipped: $build/bench_predict is not built"; exit 0; }
if ! "$py" -c 'import numpy, sklearn, xgboost' 2>/dev/null; then
    echo "skipped: $py with numpy, scikit-learn and xgboost is needed (Debian:" \
        "apt-get install python3-sklearn python3-xgboost)"
    exit 0
fi
# one thread on both sides: BLAS, OpenMP (XGBoost), PyTorch's own pool
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
    exec "$py" "$root/bench/predict.py" "$build/bench_predict"
