#!/bin/sh
# bench/train.sh BUILD_DIR: the training engine against PyTorch and
# scikit-learn (Debian's /usr/bin/python3 with python3-torch and
# python3-sklearn; the pyenv python3 on PATH has neither). Two speed cases
# (digits 64-128-10 batch 64; MNIST-sized synthetic 60000 x 784,
# 784-256-128-10 batch 128), same data, architecture, optimiser (Adam),
# batch size, epochs and thread count on both sides; then test accuracy on
# a fixed 80/20 digits split. BENCH_THREADS (default 1) sets the threads.
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
if [ ! -x "$build/bench_train" ]; then
    echo "skipped: $build/bench_train is not built"
    exit 0
fi
if [ ! -x "$py" ] || ! "$py" -c 'import numpy, sklearn' 2>/dev/null; then
    echo "skipped: $py with numpy and scikit-learn is needed to export the" \
        "data (Debian: apt-get install python3-sklearn)"
    exit 0
fi
threads=${BENCH_THREADS:-1}
# the BLAS threads of both processes, as set_num_threads sets the rest
OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
    exec "$py" "$root/bench/train_peer.py" report "$build"
