#!/usr/bin/env bash
# Regression end to end: import chooses (and says) the task for numeric
# labels, several CSV columns become targets, and linear and MLP
# regression jobs on the bundled diabetes table report MSE, MAE and R^2
# in the job status and the signed provenance.
. tests/cli/lib.sh
. tests/job_lib.sh

dana data import examples/data/diabetes.csv --name diabetes \
    --label progression --owner dana --classification confidential \
    --recipient "$DANA_RCPT" >"$T/out" 2>"$T/err"
grep -q "442 rows, 10 features, 1 regression target" "$T/out" ||
    fail "import summary: $(cat "$T/out")"
grep -q "^task: regression" "$T/err" || fail "the chosen task is not said"
grep -q -- "--task classification" "$T/err" || fail "no way to change it is given"
ok "import of diabetes chooses regression and says how to choose otherwise"

expect_exit 0 dana data show diabetes
expect_stdout "442 rows x 10 features, regression, 1 target"
expect_stdout "target           progression"
expect_stdout "features         age, sex, bmi, bp, s1, s2, s3, s4, s5, s6"
dana data show diabetes --json >"$T/show.json"
python3 - "$T/show.json" <<'PY' || fail "manifest schema"
import base64, json, sys
env = json.load(open(sys.argv[1]))["envelope"]
m = json.loads(base64.b64decode(env["payload"]))["schema"]
assert m["label_kind"] == "value" and m["classes"] == 0, m
assert m["targets"] == 1 and m["target_names"] == ["progression"], m
PY
ok "data show and the signed manifest say regression, the target and the features"

dana data import examples/data/diabetes.csv --name diabetes-classes \
    --label progression --task classification --owner dana \
    --classification confidential >"$T/out" 2>"$T/err"
grep -q "347 classes" "$T/out" || fail "--task classification: $(cat "$T/out")"
[ ! -s "$T/err" ] || fail "a chosen task was reported although it was given"
printf 'a,b,y1,y2\n1,2,3,4.5\n2,1,0,-1\n3,3,1,2\n' >"$T/multi.csv"
dana data import "$T/multi.csv" --name multi --label y2,y1 --owner dana \
    --classification internal >"$T/out" 2>"$T/err"
grep -q "2 regression targets" "$T/out" || fail "multi: $(cat "$T/out")"
expect_exit 0 dana data show multi
expect_stdout "target           y2"
expect_exit 3 dana data import "$T/multi.csv" --name multi2 --label y2,y1 \
    --task classification --owner dana --classification internal
expect_stderr "regression targets"
expect_exit 2 dana data import "$T/multi.csv" --name multi3 --label y1 \
    --task nonsense --owner dana --classification internal
ok "--task obeyed; several target columns import as regression, never as classes"

dana principal grant mo dataset:diabetes use >/dev/null
cat >"$T/policy.json" <<JSON
{"version": 1,
 "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"],
 "recipients": ["$MO_RCPT"]}
JSON
dana data policy set diabetes "$T/policy.json" >/dev/null

# run_spec EXTRA_JSON: submits and runs examples/jobs/diabetes-linear.json
# with overrides; prints the job id
run_spec() {
    python3 - "$MO_RCPT" "$1" >"$SPEC" <<'PY'
import json, sys
s = json.load(open("examples/jobs/diabetes-linear.json"))
s["outputs"]["recipients"] = [sys.argv[1]]
for k, v in json.loads(sys.argv[2]).items():
    s[k].update(v) if isinstance(v, dict) and k in s else s.__setitem__(k, v)
print(json.dumps(s))
PY
    mo job submit "$SPEC" >"$T/id" || fail "submit"
    mo job run "$(cat "$T/id")" >/dev/null || fail "run"
    cat "$T/id"
}

# check_metrics ID MIN_R2: final MSE, MAE and R^2 in status and provenance
check_metrics() {
    mo job status "$1" --json >"$T/status.json"
    python3 - "$T/status.json" "$2" <<'PY' || fail "metrics of $1"
import base64, json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "succeeded", j["state"]
res = j["status"]["result"]
ev = res["metrics"]["final_evaluation"]
for k in ("mse", "mae", "r2"):
    assert k in ev, (k, ev)
assert "accuracy" not in ev, ev
assert ev["r2"] > float(sys.argv[2]), ev
assert ev["mae"] > 0 and ev["mse"] >= ev["mae"] ** 2 * 0.99, ev
env = json.load(open(res["provenance_path"]))
p = json.loads(base64.b64decode(env["payload"]))["predicate"]
assert p["metrics"]["final_evaluation"]["r2"] == ev["r2"]
PY
}

ID=$(run_spec '{}')
check_metrics "$ID" 0.4
ok "a standardized linear regression job reports MSE, MAE and R^2 (status and provenance)"

MODEL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["result"]["model_path"])' "$T/status.json")
age -d -i "$K/mo.age" -o "$T/model.safetensors" "$MODEL" || fail "age -d"
python3 - "$T/model.safetensors" <<'PY' || fail "sealed model contents"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h["__metadata__"]
assert json.loads(meta["sealtrain.target_names"]) == ["progression"], meta
cfg = json.loads(meta["sealtrain.config"])
assert cfg["preprocessing"]["scale"] == "standardize", cfg
for t in ("preprocessing.shift", "preprocessing.scale"):
    assert h[t]["shape"] == [10] and h[t]["dtype"] == "F32", h[t]
import array
shift = array.array("f", b[8 + n + h["preprocessing.shift"]["data_offsets"][0]:
                          8 + n + h["preprocessing.shift"]["data_offsets"][1]])
assert 40 < shift[0] < 60, shift[0]  # the training rows' mean age
PY
ok "the sealed model holds the fitted scaling, its configuration and the target's name"

python3 - "$MO_RCPT" >"$SPEC" <<'PY'
import json, sys
s = json.load(open("examples/jobs/diabetes-linear.json"))
s["outputs"]["recipients"] = [sys.argv[1]]
s["preprocessing"] = {"scale": "standardize", "missing": "median"}
print(json.dumps(s))
PY
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'preprocessing.missing: "median" is not supported'
ok "a preprocessing the data cannot need is refused at submit, by name"

ID=$(run_spec '{"name": "diabetes-mlp", "model": {"type": "mlp", "hidden": [16], "loss": "mse"}, "training": {"learning_rate": 0.01}, "preprocessing": {"scale": "minmax"}, "outputs": {"model": "diabetes-mlp"}}')
check_metrics "$ID" 0.2
ok "an MLP regression job reports MSE, MAE and R^2"

ID=$(run_spec '{"training": {"epochs": 50, "early_stopping": {"metric": "val_mse", "patience": 3, "min_delta": 1e9}}}')
expect_exit 0 mo job logs "$ID"
expect_stdout "early stopping ended the run after epoch 4; kept the weights of epoch 1"
mo job status "$ID" --json >"$T/status.json"
python3 - "$T/status.json" <<'PY' || fail "history"
import json, sys
m = json.load(open(sys.argv[1]))["status"]["result"]["metrics"]
h = m["history"]
assert [e["epoch"] for e in h] == [1, 2, 3, 4], h
assert all("mse" in e and "r2" in e and "train_loss" in e for e in h), h
assert m["stopped"] is True and m["best_epoch"] == 1, m
PY
ok "early stopping is logged with the epoch whose weights were kept; the status has every epoch"

import_digits
policy sim
spec '{"training": {"epochs": 3}}'
mo job submit "$SPEC" >"$T/id"
mo job run "$(cat "$T/id")" >/dev/null || fail "digits run"
mo job status "$(cat "$T/id")" --json >"$T/status.json"
python3 - "$T/status.json" <<'PY' || fail "confusion"
import json, sys
m = json.load(open(sys.argv[1]))["status"]["result"]["metrics"]
cm = m["final_evaluation"]["confusion"]
assert len(cm) == 10 and all(len(r) == 10 for r in cm), cm
n = sum(map(sum, cm))
assert n == int(1797 * 0.2), n  # the held-out split, every row once
acc = sum(cm[i][i] for i in range(10)) / n
assert abs(acc - m["final_evaluation"]["accuracy"]) < 1e-9, (acc, m)
assert len(m["history"]) == 3
PY
ok "a classifier's final evaluation carries its confusion matrix (rows = true class)"
