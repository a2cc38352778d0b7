#!/usr/bin/env bash
# Gradient-boosted trees end to end: a gbdt job on the bundled
# breast_cancer table (every fifth row the test set, imported as the
# validation dataset) through job submit / job run in the strict sandbox;
# strict spec errors naming the field; metrics, per-round history, early
# stopping and gain importances in the status and the provenance; the
# sealed model (XGBoost's JSON beside the preprocessing) verifies; the
# same job again gives the same model bytes; and Debian's python3-xgboost,
# trained on the same rows with the same parameters, gives identical
# predictions (and the same test accuracy).
. tests/cli/lib.sh
. tests/job_lib.sh

PY=/usr/bin/python3 # Debian's, where python3-xgboost is installed
python3 - "$T" <<'PY'
import sys
lines = open("examples/data/breast_cancer.csv").read().splitlines()
h, rows = lines[0], lines[1:]
for name, keep in (("train", lambda i: i % 5 != 0), ("test", lambda i: i % 5 == 0)):
    with open(f"{sys.argv[1]}/{name}.csv", "w") as f:
        f.write("\n".join([h] + [r for i, r in enumerate(rows) if keep(i)]) + "\n")
PY
cat >"$T/policy.json" <<JSON
{"version": 1,
 "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"],
 "recipients": ["$MO_RCPT"]}
JSON
for n in train test; do
    dana data import "$T/$n.csv" --name "breast-cancer-$n" --label label \
        --owner dana --classification confidential --recipient "$DANA_RCPT" \
        >/dev/null 2>&1 || fail "import $n"
    dana principal grant mo "dataset:breast-cancer-$n" use >/dev/null
    dana data policy set "breast-cancer-$n" "$T/policy.json" >/dev/null
done

# gspec EXTRA_JSON: examples/jobs/breast-cancer-gbdt.json for mo, merged
gspec() {
    python3 - "$MO_RCPT" "${1:-{\}}" >"$SPEC" <<'PY'
import json, sys
s = json.load(open("examples/jobs/breast-cancer-gbdt.json"))
s["outputs"]["recipients"] = [sys.argv[1]]
def merge(a, b):
    for k, v in b.items():
        if v is None:
            a.pop(k, None)
        elif isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
merge(s, json.loads(sys.argv[2]))
print(json.dumps(s))
PY
}

gspec '{"model": {"max_depth": 0}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'model: "max_depth" is 0, outside [1, 64]'
gspec '{"model": {"tree_method": "exact"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'model.tree_method: unknown value "exact"'
gspec '{"model": {"objective": "binary:hinge"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr "model.objective"
gspec '{"model": {"colsample_bytree": 0.5}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr "colsample_bytree"
gspec '{"checkpoint_every": 5}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr "checkpoint_every: a gbdt model is not checkpointed"
ok "a gbdt spec is checked at submit; each error names the field"

# run_gbdt EXTRA_JSON: submit and run; prints the job id
run_gbdt() {
    gspec "$1"
    mo job submit "$SPEC" >"$T/id" || fail "submit"
    mo job run "$(cat "$T/id")" >"$T/run.out" 2>&1 ||
        fail "run: $(tail -5 "$T/run.out")"
    cat "$T/id"
}

ID=$(run_gbdt '{}')
grep -q "sandbox (strict): 16 of 16 measures applied" "$T/run.out" ||
    fail "not in the strict sandbox: $(head -5 "$T/run.out")"
mo job status "$ID" --json >"$T/status.json"
python3 - "$T/status.json" <<'PY' || fail "gbdt metrics"
import base64, json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "succeeded", j["state"]
res = j["status"]["result"]
m = res["metrics"]
ev = m["final_evaluation"]
assert ev["evaluated_on"] == "validation dataset", ev
cm = ev["confusion"]
assert len(cm) == 2 and sum(map(sum, cm)) == 114, cm
assert abs(ev["accuracy"] - (cm[0][0] + cm[1][1]) / 114) < 1e-12, ev
assert ev["accuracy"] > 0.93 and 0 < ev["macro_f1"] <= 1, ev
h = m["history"]
assert [e["epoch"] for e in h] == list(range(1, len(h) + 1)), h
assert all("loss" in e and "accuracy" in e for e in h), h
# the training rows: the first, the last and every 20th round of 200
assert [e["epoch"] for e in h if "train_loss" in e] == [1] + [
    k for k in range(20, len(h) + 1, 20)] + ([len(h)] if len(h) % 20 else []), h
# early stopping: the run stopped 20 rounds after its best, which is kept
assert m["stopped"] is True, m.keys()
assert len(h) == m["best_epoch"] + 20, (len(h), m["best_epoch"])
assert m["rounds"] == m["best_epoch"], m
best = min(h, key=lambda e: (e["loss"], e["epoch"]))
assert best["epoch"] == m["best_epoch"], (best, m["best_epoch"])
imp = m["feature_importance"]
assert imp["type"] == "gain" and len(imp["values"]) == 30, imp
assert any(v > 0 for v in imp["values"]) and min(imp["values"]) >= 0, imp
env = json.load(open(res["provenance_path"]))
p = json.loads(base64.b64decode(env["payload"]))["predicate"]
assert p["metrics"]["final_evaluation"] == ev
assert p["metrics"]["feature_importance"] == imp
print(ev["accuracy"], file=open(sys.argv[1] + ".acc", "w"))
PY
expect_exit 0 mo job logs "$ID"
expect_stdout "early stopping ended the run after epoch"
ok "a gbdt job trains in the strict sandbox; accuracy, macro-F1, confusion, per-round history, early stopping and gain importances in the status and the provenance"

# A model use of the trees: the runtime loads XGBoost only through the
# controller (the strict sandbox cannot read the library), so an
# evaluation of the gbdt model on the validation dataset gives the job's
# own final accuracy
python3 - "$T/policy.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["uses"] = {"evaluate": ["mo"]}
json.dump(p, open(sys.argv[1] + ".uses", "w"))
PY
dana data policy set breast-cancer-test "$T/policy.json.uses" >/dev/null
expect_exit 0 mo model evaluate breast-cancer-gbdt@1 --data breast-cancer-test \
    -i "$K/mo.age" --json
python3 - "$T/stdout" "$T/status.json.acc" <<'PY' || fail "gbdt evaluation"
import json, sys
ev = json.load(open(sys.argv[1]))["evaluation"]
acc = float(open(sys.argv[2]).read())
assert ev["rows"] == 114 and abs(ev["accuracy"] - acc) < 1e-12, (ev, acc)
PY
ok "model evaluate of a gbdt model runs in the strict sandbox and gives the job's own accuracy"

expect_exit 0 mo model verify breast-cancer-gbdt@1
expect_exit 0 mo model decrypt breast-cancer-gbdt@1 -i "$K/mo.age" \
    -o "$T/m1.safetensors"
# the sealed layout: XGBoost's JSON model as one U8 tensor, the metadata
python3 - "$T/m1.safetensors" "$T/m1.json" <<'PY' || fail "sealed layout"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop("__metadata__")
assert meta["format"] == "xgboost" and meta["sealtrain.model_type"] == "gbdt"
assert json.loads(meta["sealtrain.class_names"]) == ["0", "1"], meta
cfg = json.loads(meta["sealtrain.config"])
assert cfg["model"]["type"] == "gbdt" and cfg["model"]["inputs"] == 30, cfg
assert list(h) == ["xgboost.model"], h
t = h["xgboost.model"]
assert t["dtype"] == "U8"
lo, hi = t["data_offsets"]
model = json.loads(b[8 + n + lo:8 + n + hi])
assert model["learner"]["objective"]["name"] == "binary:logistic"
open(sys.argv[2], "wb").write(b[8 + n + lo:8 + n + hi])
PY
ok "the sealed model verifies and holds XGBoost's JSON model, its configuration and the class names"

ID2=$(run_gbdt '{"outputs": {"model": "breast-cancer-gbdt-again"}}')
expect_exit 0 mo model decrypt breast-cancer-gbdt-again@1 -i "$K/mo.age" \
    -o "$T/m2.safetensors"
python3 - "$T/m2.safetensors" "$T/m2.json" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
lo, hi = json.loads(b[8:8 + n])["xgboost.model"]["data_offsets"]
open(sys.argv[2], "wb").write(b[8 + n + lo:8 + n + hi])
PY
cmp -s "$T/m1.json" "$T/m2.json" || fail "the same job gave other model bytes"
ok "the same seed, data and nthread give the same model bytes, job after job"

if ! "$PY" -c 'import xgboost' 2>/dev/null; then
    echo "skip - Debian's python3-xgboost is not installed (scripts/install-deps.sh test installs it): no comparison with XGBoost's own training"
else
    "$PY" - "$T" "$(cat "$T/status.json.acc")" <<'PY' || fail "python3-xgboost comparison"
import json, sys
import numpy as np
import xgboost as xgb
d = sys.argv[1]
def load(name):
    rows = [l.split(",") for l in open(f"{d}/{name}.csv").read().splitlines()[1:]]
    a = np.array([[float(v) for v in r] for r in rows])
    return a[:, :-1].astype(np.float32), a[:, -1].astype(np.float32)
xtr, ytr = load("train")
xte, yte = load("test")
spec = json.load(open("examples/jobs/breast-cancer-gbdt.json"))["model"]
params = {"objective": spec["objective"], "tree_method": "hist",
          "max_depth": spec["max_depth"], "eta": spec["eta"],
          "subsample": spec["subsample"], "colsample_bytree": spec["colsample"],
          "lambda": spec["lambda"], "alpha": spec["alpha"],
          "min_child_weight": spec["min_child_weight"], "seed": spec["seed"],
          "nthread": spec["nthread"], "eval_metric": ["error", "logloss"]}
dtr = xgb.DMatrix(xtr, label=ytr, nthread=spec["nthread"])
dte = xgb.DMatrix(xte, label=yte, nthread=spec["nthread"])
peer = xgb.train(params, dtr, num_boost_round=spec["rounds"],
                 evals=[(dtr, "train"), (dte, "valid")],
                 early_stopping_rounds=spec["early_stopping_rounds"],
                 verbose_eval=False)
peer = peer[:peer.best_iteration + 1]
ours = xgb.Booster()
ours.load_model(bytearray(open(f"{d}/m1.json", "rb").read()))
assert ours.num_boosted_rounds() == peer.num_boosted_rounds(), (
    ours.num_boosted_rounds(), peer.num_boosted_rounds())
p_ours, p_peer = ours.predict(dte), peer.predict(dte)
assert np.array_equal(p_ours, p_peer), np.abs(p_ours - p_peer).max()
acc = float(((p_peer > 0.5) == (yte == 1)).mean())
assert abs(acc - float(sys.argv[2])) < 1e-12, (acc, sys.argv[2])
print(f"python3-xgboost {xgb.__version__}: {peer.num_boosted_rounds()} rounds, "
      f"identical predictions on {len(yte)} test rows, accuracy {acc:.4f}")
PY
    ok "python3-xgboost on the same rows and parameters gives identical predictions and the same test accuracy"
fi

import_digits
policy sim
ID=$(run_gbdt '{"name": "digits-gbdt", "model": {"objective": "multi:softprob", "rounds": 15, "early_stopping_rounds": 3, "nthread": 0}, "datasets": {"train": "digits", "validation": null}, "training": {"validation_split": 0.2}, "preprocessing": {"scale": "standardize"}, "outputs": {"model": "digits-gbdt"}}')
mo job status "$ID" --json >"$T/status.json"
python3 - "$T/status.json" <<'PY' || fail "multiclass metrics"
import json, sys
m = json.load(open(sys.argv[1]))["status"]["result"]["metrics"]
ev = m["final_evaluation"]
assert ev["evaluated_on"] == "held-out validation split", ev
cm = ev["confusion"]
assert len(cm) == 10 and sum(map(sum, cm)) == int(1797 * 0.2), cm
assert ev["accuracy"] > 0.85 and "macro_f1" in ev, ev
assert len(m["feature_importance"]["values"]) == 64
PY
expect_exit 0 mo model decrypt digits-gbdt@1 -i "$K/mo.age" -o "$T/d.safetensors"
python3 - "$T/d.safetensors" <<'PY' || fail "preprocessing beside the trees"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
assert sorted(k for k in h if k != "__metadata__") == [
    "preprocessing.scale", "preprocessing.shift", "xgboost.model"], h.keys()
assert h["preprocessing.shift"]["shape"] == [64]
PY
ok "multi:softprob on a held-out split with standardize: confusion over the held-out rows, the scaling sealed beside the trees"

dana data import examples/data/diabetes.csv --name diabetes --label progression \
    --owner dana --classification confidential >/dev/null 2>&1
dana principal grant mo dataset:diabetes use >/dev/null
dana data policy set diabetes "$T/policy.json" >/dev/null
ID=$(run_gbdt '{"name": "diabetes-gbdt", "model": {"objective": "reg:squarederror", "rounds": 300, "max_depth": 2, "eta": 0.05, "early_stopping_rounds": 10}, "datasets": {"train": "diabetes", "validation": null}, "training": {"validation_split": 0.2}, "outputs": {"model": "diabetes-gbdt"}}')
mo job status "$ID" --json >"$T/status.json"
python3 - "$T/status.json" <<'PY' || fail "regression metrics"
import json, sys
m = json.load(open(sys.argv[1]))["status"]["result"]["metrics"]
ev = m["final_evaluation"]
assert "accuracy" not in ev and "confusion" not in ev, ev
assert ev["r2"] > 0.2 and ev["mae"] > 0 and ev["mse"] >= ev["mae"] ** 2 * 0.99, ev
assert all("mse" in e and "mae" in e for e in m["history"]), m["history"][0]
assert len(m["feature_importance"]["values"]) == 10
PY
ok "reg:squarederror reports MSE, MAE and R^2, per round and at the end"

# ONNX: each model exported, checked by Debian's python3-onnx, run in ONNX
# Runtime (npm's onnxruntime-node, installed with --ignore-scripts), and
# its outputs compared with XGBoost's own predictions of the sealed model
ORT_DIR=${ST_BUILD_DIR:-$T}/npm-onnxruntime
if [ ! -d "$ORT_DIR/node_modules/onnxruntime-node" ] &&
    command -v npm >/dev/null 2>&1; then
    timeout 180 npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit \
        --no-fund --silent onnxruntime-node@1.20.1 >/dev/null 2>&1 || true
fi
if ! "$PY" -c 'import xgboost, onnx' 2>/dev/null; then
    echo "skip - Debian's python3-xgboost or python3-onnx is missing: no ONNX comparison"
elif [ ! -d "$ORT_DIR/node_modules/onnxruntime-node" ]; then
    echo "skip - onnxruntime-node could not be installed from npm (offline?): no ONNX Runtime comparison"
else
    # onnx_check MODEL CSV OUTPUT: export MODEL, run it on the CSV's rows
    onnx_check() {
        expect_exit 0 mo model export "$1@1" -i "$K/mo.age" --format onnx \
            -o "$T/$1.onnx"
        expect_exit 0 mo model decrypt "$1@1" -i "$K/mo.age" \
            -o "$T/$1.safetensors"
        "$PY" - "$T" "$1" "$2" prep <<'PY' || fail "$1: inputs"
import json, struct, sys
import numpy as np
import onnx
import xgboost as xgb
d, name, csv = sys.argv[1:4]
m = onnx.load(f"{d}/{name}.onnx")
onnx.checker.check_model(m, full_check=True)
assert {o.domain: o.version for o in m.opset_import}.get("ai.onnx.ml") == 3
b = open(f"{d}/{name}.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
t = lambda k: b[8 + n + h[k]["data_offsets"][0]:8 + n + h[k]["data_offsets"][1]]
rows = [l.split(",") for l in open(csv).read().splitlines()[1:]]
x = np.array([[float(v) for v in r[:-1]] for r in rows]).astype(np.float32)
x.tofile(f"{d}/{name}.x.f32")
xs = x
if "preprocessing.shift" in h:
    shift = np.frombuffer(t("preprocessing.shift"), dtype="<f4")
    scale = np.frombuffer(t("preprocessing.scale"), dtype="<f4")
    xs = (x - shift) * scale
bst = xgb.Booster()
bst.load_model(bytearray(t("xgboost.model")))
p = bst.predict(xgb.DMatrix(xs))
p.astype("<f4").tofile(f"{d}/{name}.xgb.f32")
print(x.shape[1], file=open(f"{d}/{name}.cols", "w"))
PY
        NODE_PATH="$ORT_DIR/node_modules" node tests/onnx_ort.js "$T/$1.onnx" \
            "$T/$1.x.f32" "$(cat "$T/$1.cols")" "$3" "$T/$1.ort.f32" ||
            fail "$1: ONNX Runtime"
        "$PY" - "$T" "$1" <<'PY' || fail "$1: ONNX Runtime differs from XGBoost"
import sys
import numpy as np
d, name = sys.argv[1:3]
want = np.fromfile(f"{d}/{name}.xgb.f32", dtype="<f4")
got = np.fromfile(f"{d}/{name}.ort.f32", dtype="<f4")
if got.size == 2 * want.size:  # binary: [1 - p, p]
    got = got.reshape(-1, 2)[:, 1]
assert got.size == want.size, (got.size, want.size)
# probabilities within 1e-5; regression values (up to ~350 here, where a
# float32 step is 3e-5) within 1e-5 relative: both sum the same float32
# leaves, in another order
diff = float(np.abs(got - want).max())
rel = float((np.abs(got - want) / np.maximum(1.0, np.abs(want))).max())
assert rel <= 1e-5, (diff, rel)
print(f"{name}: {want.size} outputs, ONNX Runtime vs XGBoost max |diff| "
      f"{diff:.2e}, relative {rel:.2e}")
PY
    }
    onnx_check breast-cancer-gbdt "$T/test.csv" probabilities
    onnx_check digits-gbdt examples/data/digits.csv probabilities
    onnx_check diabetes-gbdt examples/data/diabetes.csv output
    ok "ONNX export (TreeEnsembleClassifier/Regressor, with the scaling) gives XGBoost's predictions in ONNX Runtime within 1e-5: binary, multiclass, regression"
fi
