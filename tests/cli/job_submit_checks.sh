#!/usr/bin/env bash
# job submit refuses at submit what would otherwise fail only at job run,
# after the keys were released (issue 14, "Errors at the earliest moment"):
# a dataset the submitter may not use or that does not exist, a model
# recipient a release policy does not allow, a model that does not fit
# the data's shape (inputs, outputs, classes, class weights, objective),
# a validation dataset that is the training one or has another shape, and
# the engine's limits on classes and features. Each error names the field
# and the dataset; no refused job is queued.
. tests/cli/lib.sh
. tests/job_lib.sh
import_digits
policy sim
LOG=$T/ws/audit/log.jsonl
submitted() { grep -c '"action":"job.submit".*"outcome":"success"' "$LOG" || true; }
none_queued() {
    [ "$(submitted)" = 0 ] || fail "a refused submit left a job.submit entry"
    [ -z "$(mo job list --json | python3 -c 'import json,sys; print(" ".join(j["id"] for j in json.load(sys.stdin)))')" ] ||
        fail "a refused submit left a job"
}

# opened DATASET: a release policy for DATASET letting mo and mo's
# recipient have it, signed by dana
opened() {
    cat >"$T/open.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"]}
JSON
    dana data policy set "$1" "$T/open.json" >/dev/null
}
# imported NAME FILE [import options...]: dana's dataset with an open policy
imported() {
    local name=$1 file=$2
    shift 2
    dana data import "$file" --name "$name" --owner dana \
        --classification internal --recipient "$DANA_RCPT" "$@" >/dev/null
    opened "$name"
}

# ---- the attacker: another owner's dataset, a recipient not allowed ----
imported secret examples/data/digits.csv --label label
spec '{"datasets": {"train": "secret"}}'
expect_exit 4 mo job submit "$SPEC"
expect_stderr 'dataset:secret'
expect_stderr 'use'
none_queued
ok "submit: a model owner without the owner's use grant is refused"

OTHER=$(age-keygen 2>/dev/null | grep -o 'age1[0-9a-z]*')
spec "{\"outputs\": {\"recipients\": [\"$MO_RCPT\", \"$OTHER\"]}}"
expect_exit 4 mo job submit "$SPEC"
expect_stderr "its release policy does not allow model recipient $OTHER"
none_queued
ok "submit: a model recipient the release policy does not allow is refused"

spec '{"datasets": {"train": "nosuch"}}'
expect_exit 4 mo job submit "$SPEC"
expect_stderr 'nosuch'
none_queued
ok "submit: a dataset that does not exist is refused, by name"

# ---- the model against the data's shape (digits: 64 features, 10 classes) ----
spec '{"model": {"inputs": 63}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'datasets.train "digits" (64 features, 10 classes)'
expect_stderr 'model.inputs: 63 does not match the data'"'"'s 64 features'
spec '{"model": {"outputs": 5}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'model.outputs: 5 does not match the data'"'"'s 10 classes'
spec '{"training": {"class_weights": [1, 2, 3]}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'training.class_weights: 3 weights for 10 classes'
spec '{"model": {"loss": "binary_cross_entropy"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'model.loss: binary_cross_entropy needs one 0/1 label column and 2 classes'
spec '{"model": {"loss": "mse"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'model.loss: mse needs'
spec '{"checkpoint_every": 0}'
python3 - "$SPEC" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["model"] = {"type": "gbdt", "objective": "binary:logistic"}
s["training"] = {"validation_split": 0.2}
json.dump(s, open(sys.argv[1], "w"))
PY
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'model.objective: binary:logistic needs one label column and 2 classes'
spec '{"preprocessing": {"columns": {"70": {"scale": "standardize"}}}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'preprocessing.columns.70'
none_queued
ok "submit: inputs, outputs, class weights, loss, objective and preprocessing columns against the training data's shape"

# ---- the validation dataset ----
spec '{"datasets": {"train": "digits", "validation": "digits"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'datasets.validation: "digits" is also datasets.train'
imported bc examples/data/breast_cancer.csv --label label
dana principal grant mo dataset:bc use >/dev/null
spec '{"datasets": {"train": "digits", "validation": "bc"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'datasets.validation "bc" (30 features, 2 classes)'
expect_stderr 'the validation data has 30 features, the training data 64'
none_queued
ok "submit: a validation dataset that is the training one, or of another shape, is refused"

# ---- the engine's limits ----
python3 - "$T/wide.csv" "$T/many.csv" <<'PY'
import sys
n = 65537  # features: one past the engine's 65536
with open(sys.argv[1], "w") as f:
    f.write(",".join("f%d" % i for i in range(n)) + ",label\n")
    for r in range(4):
        f.write(",".join("0" for _ in range(n)) + ",%d\n" % (r % 2))
with open(sys.argv[2], "w") as f:  # 1025 classes: one past the engine's 1024
    f.write("x,label\n")
    for r in range(1025):
        f.write("%d,%d\n" % (r, r))
PY
imported wide "$T/wide.csv" --label label --task classification
imported many "$T/many.csv" --label label --task classification
dana principal grant mo dataset:wide use >/dev/null
dana principal grant mo dataset:many use >/dev/null
spec '{"datasets": {"train": "wide"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'datasets.train "wide" (65537 features, 2 classes)'
expect_stderr 'must be 1 to 65536'
spec '{"datasets": {"train": "many"}}'
expect_exit 3 mo job submit "$SPEC"
expect_stderr 'datasets.train "many" (1 features, 1025 classes)'
expect_stderr '2 to 1024 classes'
none_queued
ok "submit: the engine's limits on features and classes"

# what fits is still accepted: the default spec, and digits validated on
# another 64-feature, 10-class dataset
spec
expect_exit 0 mo job submit "$SPEC"
dana principal grant mo dataset:secret use >/dev/null
spec '{"datasets": {"train": "digits", "validation": "secret"}, "training": {"validation_split": 0}}'
expect_exit 0 mo job submit "$SPEC"
[ "$(submitted)" = 2 ] || fail "fitting jobs were not queued"
ok "submit: specs that fit their data are queued"
