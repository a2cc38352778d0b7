"""bench/predict.py BENCH_PREDICT: the predict benchmark (see predict.sh).

1. MLP 64-128-10 (ReLU, softmax): bench_predict builds and saves the
   model (safetensors), times st_predictor_predict on BENCH_PREDICT_ROWS
   random rows (float32) and writes its outputs; PyTorch loads the same
   weights into nn.Sequential(Linear, ReLU, Linear, Softmax) and times
   model(x) under inference_mode on the same rows, one thread
   (torch.set_num_threads(1)). Outputs are compared (max |difference|).
2. GBDT, 100 trees: scikit-learn's make_classification (random_state 0,
   20000 x 28) trains XGBoost's model here and ours in bench_predict
   with the same parameters (binary:logistic, hist, max_depth 6, eta 0.3,
   seed 0, nthread 1); each side times its own predict on the same rows
   (XGBoost: DMatrix + Booster.predict, as st_gbdt_predict builds its
   DMatrix too). Outputs are compared (the models are XGBoost's on both
   sides, so they should agree).

Each side runs BENCH_PREDICT_REPEAT times in each of BENCH_PREDICT_ROUNDS
rounds (defaults 3 and 3), the two sides alternating round by round so
that a busy, shared machine slows both alike; the fastest run counts."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification

BIN = os.path.abspath(sys.argv[1])
ROWS = int(os.environ.get("BENCH_PREDICT_ROWS", "100000"))
REPEAT = int(os.environ.get("BENCH_PREDICT_REPEAT", "3"))
ROUNDS = int(os.environ.get("BENCH_PREDICT_ROUNDS", "3"))
D = tempfile.mkdtemp(prefix="bench-predict.")


def write(name, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    with open(os.path.join(D, name + ".f32"), "wb") as f:
        f.write(b"F32M" + struct.pack("<II", a.shape[0], a.shape[1]))
        f.write(a.tobytes())


def read(name):
    with open(os.path.join(D, name + ".f32"), "rb") as f:
        head = f.read(12)
        rows, cols = struct.unpack("<II", head[4:])
        return np.fromfile(f, dtype="<f4").reshape(rows, cols)


def ours(kind):
    r = subprocess.run([BIN, kind, D], capture_output=True, text=True,
                       env=dict(os.environ, BENCH_PREDICT_REPEAT=str(REPEAT)))
    if r.returncode:
        sys.exit("bench_predict %s: %s" % (kind, r.stderr.strip()))
    return float(r.stdout.split("rows_per_second=")[1])


def best(fn):
    t = 1e30
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"])
    return out


def line(what, peer, peer_rps, us, target):
    ratio = us / peer_rps
    print("%-34s %-8s %12.0f   sealtrain %12.0f   ratio %5.2fx (target >= %gx)%s"
          % (what, peer, peer_rps, us, ratio, target,
             "" if ratio >= target else "  BELOW TARGET"))


def mlp():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 64)).astype(np.float32)
    write("mlp_x", x)
    rps = ours("mlp")
    try:
        import torch
    except ImportError:
        print("MLP 64-128-10: sealtrain %.0f rows/s; PyTorch skipped "
              "(Debian: apt-get install python3-torch)" % rps)
        return
    torch.set_num_threads(1)
    w = safetensors(os.path.join(D, "mlp.safetensors"))
    m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 10), torch.nn.Softmax(dim=1))
    with torch.no_grad():
        for i, layer in ((0, m[0]), (1, m[2])):
            layer.weight.copy_(torch.from_numpy(w["layers.%d.weight" % i].copy()))
            layer.bias.copy_(torch.from_numpy(w["layers.%d.bias" % i].copy()))
    xt = torch.from_numpy(x)
    t = 1e30
    for r in range(ROUNDS):
        if r:
            rps = max(rps, ours("mlp"))
        with torch.inference_mode():
            tr, out = best(lambda: m(xt))
        t = min(t, tr)
    diff = float(np.abs(out.numpy() - read("mlp_out")).max())
    line("predict MLP 64-128-10, rows/s", "PyTorch", ROWS / t, rps, 1.5)
    print("  outputs: max |PyTorch - sealtrain| = %.2e on %d rows" % (diff, ROWS))


def gbdt():
    x, y = make_classification(n_samples=20000 + ROWS, n_features=28,
                               n_informative=14, random_state=0)
    x = x.astype(np.float32)
    tx, ty, px = x[:20000], y[:20000].astype(np.float32), x[20000:]
    write("gbdt_train_x", tx)
    write("gbdt_train_y", ty)
    write("gbdt_x", px)
    rps = ours("gbdt")
    params = {"objective": "binary:logistic", "tree_method": "hist",
              "max_depth": 6, "eta": 0.3, "seed": 0, "nthread": 1,
              "verbosity": 0}
    bst = xgb.train(params, xgb.DMatrix(tx, label=ty, nthread=1), 100)
    t = 1e30
    for r in range(ROUNDS):
        if r:
            rps = max(rps, ours("gbdt"))
        tr, out = best(lambda: bst.predict(xgb.DMatrix(px, nthread=1)))
        t = min(t, tr)
    diff = float(np.abs(out - read("gbdt_out")[:, 0]).max())
    line("predict GBDT 100 trees, rows/s", "XGBoost", ROWS / t, rps, 1.0)
    print("  outputs: max |XGBoost - sealtrain| = %.2e on %d rows" % (diff, ROWS))


try:
    mlp()
    gbdt()
finally:
    shutil.rmtree(D, ignore_errors=True)
