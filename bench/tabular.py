"""bench/tabular.py SEALTRAIN: the tabular benchmark (see tabular.sh).

Data: scikit-learn's bundled tables as Debian's python3-sklearn ships them
(load_diabetes(scaled=False), load_wine, load_breast_cancer), split once
with train_test_split(test_size=0.2, random_state=0, stratified for the
classifiers) and written as CSV with their feature names. Each split is
imported as two encrypted datasets; the job trains on the first and its
final evaluation is on the second ("datasets": {"validation": ...}), so
both sides score the same test rows. The peers are fitted on the same
training rows."""
import base64
import json
import os
import re
import subprocess
import sys

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench_workspace import Workspace  # bench/ is sys.path[0]

WS = Workspace(sys.argv[1], "bench-tabular.")
T = WS.dir
st, rcpt, setup = WS.st, WS.rcpt, WS.setup


def write_csv(path, names, x, y, label):
    with open(path, "w") as f:
        f.write(",".join(list(names) + [label]) + "\n")
        for row, t in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + "," + str(t) + "\n")


def import_split(name, names, xtr, ytr, xte, yte, label, task):
    for part, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        path = "%s/%s-%s.csv" % (T, name, part)
        write_csv(path, names, x, y, label)
        ds = "%s-%s" % (name, part)
        st("data", "import", path, "--name", ds, "--label", label, "--task", task,
           "--owner", "dana", "--classification", "confidential", who="dana")
        st("principal", "grant", "mo", "dataset:" + ds, "use", who="dana")
        pol = T + "/policy.json"
        json.dump({"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
                   "principals": ["mo"], "recipients": [rcpt("mo")]}, open(pol, "w"))
        st("data", "policy", "set", ds, pol, who="dana")


def job(name, model, training, pp):
    data = name[:-4] if name.endswith("-raw") else name
    spec = {"version": 1, "name": name, "model": model, "training": training,
            "datasets": {"train": data + "-train", "validation": data + "-test"},
            "resources": {"memory_mb": 1024, "time_limit_seconds": 1800},
            "security": {"tee": "sim", "sandbox": "strict"},
            "outputs": {"model": name, "recipients": [rcpt("mo")]}}
    if pp:
        spec["preprocessing"] = pp
    path = "%s/%s.json" % (T, name)
    json.dump(spec, open(path, "w"))
    jid = st("job", "submit", path, who="mo").strip()
    st("job", "run", jid, who="mo")
    status = json.loads(st("job", "status", jid, "--json", who="mo"))
    ev = status["status"]["result"]["metrics"]["final_evaluation"]
    assert ev["evaluated_on"] == "validation dataset", ev
    return ev


def line(case, ours, peer, peer_name, target):
    print("%-34s ours %.4f   %-26s %.4f   diff %+.4f   %s"
          % (case, ours, peer_name, peer, ours - peer, target))


def main():
    setup()
    print("secure jobs (sim TEE, sandboxed runtime) vs scikit-learn %s on the same "
          "fixed splits" % __import__("sklearn").__version__)
    d = datasets.load_diabetes(scaled=False)
    xtr, xte, ytr, yte = train_test_split(d.data, d.target.astype(int), test_size=0.2,
                                          random_state=0)
    import_split("diabetes", d.feature_names, xtr, ytr, xte, yte, "progression",
                 "regression")
    ev = job("diabetes", {"type": "linear"},
             {"optimizer": "adam", "learning_rate": 0.5, "batch_size": len(ytr),
              "epochs": 3000, "seed": 7,
              "schedule": {"type": "cosine", "min_learning_rate": 0.0}},
             {"scale": "standardize"})
    lr = r2_score(yte, LinearRegression().fit(xtr, ytr).predict(xte))
    ridge = r2_score(yte, make_pipeline(StandardScaler(), Ridge(alpha=1.0))
                     .fit(xtr, ytr).predict(xte))
    ok = abs(ev["r2"] - lr) <= 0.01
    line("diabetes linear, test R^2", ev["r2"], lr, "LinearRegression",
         "target |diff| <= 0.01: %s" % ("met" if ok else "NOT met"))
    line("", ev["r2"], ridge, "Ridge(alpha=1, scaled)", "(reference)")
    print("%-34s ours MSE %.1f MAE %.2f" % ("", ev["mse"], ev["mae"]))

    for name, loader in (("wine", datasets.load_wine),
                         ("breast_cancer", datasets.load_breast_cancer)):
        d = loader()
        names = [re.sub(r"[^A-Za-z0-9_]+", "_", n) for n in d.feature_names]
        xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.2,
                                              random_state=0, stratify=d.target)
        import_split(name.replace("_", "-"), names, xtr, ytr, xte, yte, "label",
                     "classification")
        ev = job(name.replace("_", "-"),
                 {"type": "mlp", "hidden": [32], "activation": "relu"},
                 {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32,
                  "epochs": 200, "seed": 3, "weight_decay": 0.0001},
                 {"scale": "standardize"})
        peer = make_pipeline(StandardScaler(),
                             MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.001,
                                           batch_size=32, max_iter=200, random_state=3))
        acc = accuracy_score(yte, peer.fit(xtr, ytr).predict(xte))
        ok = ev["accuracy"] >= 0.95
        line("%s MLP 32, test accuracy" % name, ev["accuracy"], acc, "StandardScaler+MLP",
             "target >= 0.95: %s" % ("met" if ok else "NOT met"))
        if name == "wine":  # what the scaling is for: the same job without it
            raw = job("wine-raw", {"type": "mlp", "hidden": [32], "activation": "relu"},
                      {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32,
                       "epochs": 200, "seed": 3, "weight_decay": 0.0001}, None)
            print("%-34s ours %.4f without preprocessing" % ("", raw["accuracy"]))


try:
    import warnings
    warnings.filterwarnings("ignore")
    main()
finally:
    subprocess.run(["rm", "-rf", T])
