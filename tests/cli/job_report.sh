#!/usr/bin/env bash
# Training reports (issue 15): `job report ID --html FILE --svg DIR` for a
# gbdt job on breast_cancer whose data owner chose hostile names (a
# feature called <script>alert(1)</script>; a class called <b>benign</b>,
# which as data must not reach the report at all) and for a linear
# regression on diabetes. The page is opened in headless
# Chromium and its rendered DOM checked: curves (one path per series,
# legend, axis labels), the confusion matrix's cells and counts,
# importance bars, hyperparameters, datasets' digests and the
# attestation's EAR digests; the hostile names are text, never elements.
# Who may read a report is who may read the job's status: another model
# owner and the data owner are refused and nothing is written.
. tests/cli/lib.sh
. tests/job_lib.sh

python3 - "$T" <<'PY'
import sys
lines = open("examples/data/breast_cancer.csv").read().splitlines()
h = lines[0].split(",")
h[h.index("mean_concave_points")] = "<script>alert(1)</script>"
names = {"0": "malignant & co", "1": "<b>benign</b>"}
with open(f"{sys.argv[1]}/bc.csv", "w") as f:
    f.write(",".join(h) + "\n")
    for r in lines[1:]:
        c = r.split(",")
        c[-1] = names[c[-1]]
        f.write(",".join(c) + "\n")
PY
cat >"$T/policy.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"]}
JSON
imp() { # imp FILE NAME LABEL
    dana data import "$1" --name "$2" --label "$3" --owner dana \
        --classification confidential --recipient "$DANA_RCPT" \
        >/dev/null 2>&1 || fail "import $2"
    dana principal grant mo "dataset:$2" use >/dev/null
    dana data policy set "$2" "$T/policy.json" >/dev/null
}
imp "$T/bc.csv" bc label
imp examples/data/diabetes.csv diabetes progression

# job SPEC_FILE EDIT_PY: the example spec for mo, edited; prints the id
job() {
    python3 - "$MO_RCPT" "$1" "$2" >"$SPEC" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
s["outputs"]["recipients"] = [sys.argv[1]]
exec(sys.argv[3])
print(json.dumps(s))
PY
    mo job submit "$SPEC" >"$T/id" || fail "submit"
    mo job run "$(cat "$T/id")" >"$T/run.out" 2>&1 ||
        fail "run: $(tail -5 "$T/run.out")"
    cat "$T/id"
}
G=$(job examples/jobs/breast-cancer-gbdt.json \
    's["datasets"] = {"train": "bc"}; s["training"] = {"validation_split": 0.25}; s["model"]["rounds"] = 60; s["model"]["eta"] = 0.5; s["model"]["early_stopping_rounds"] = 3')
R=$(job examples/jobs/diabetes-linear.json 's["training"]["epochs"] = 40')

# ---- who may read a report ----
st identity new mal --out "$K" >/dev/null 2>&1
admin principal add mal --role model-owner --signing-key "$K/mal.pub.pem" \
    >/dev/null
mal() { st --as mal --key "$K/mal.pem" "$@"; }
expect_exit 4 mal job report "$G" --html "$T/mal.html" --svg "$T/mal-svg"
expect_stderr "job.read"
[ ! -e "$T/mal.html" ] && [ ! -e "$T/mal-svg" ] || fail "a refused report left files"
expect_exit 4 dana job report "$G" --html "$T/dana.html"
[ ! -e "$T/dana.html" ] || fail "a refused report left a file"
expect_exit 0 admin job report "$G" --html "$T/admin.html"
ok "another model owner and the data owner are refused the report (as job status); an admin reads it"

expect_exit 2 mo job report "$G"
expect_stderr "--html FILE, --svg DIR or both"
expect_exit 2 mo job status "$G" --html "$T/x.html"
expect_exit 3 mo job report j0000000000000000 --html "$T/x.html"
[ ! -e "$T/x.html" ] || fail "a report of no job was written"
: >"$T/afile"
expect_exit 5 mo job report "$G" --svg "$T/afile/svg"
expect_exit 5 mo job report "$G" --html "$T/nodir/r.html"
ls -A "$T" | grep -q '^\..*tmp' && fail "a temporary file was left behind"
ok "report needs --html or --svg; bad targets fail whole, leaving nothing"

# ---- the files ----
expect_exit 0 mo job report "$G" --html "$T/g.html" --svg "$T/g-svg"
expect_stdout "report of job $G: $T/g.html"
expect_exit 0 mo job report "$R" --svg "$T/r-svg" --html "$T/r.html"
[ "$(ls "$T/g-svg")" = "$(printf '%s\n' accuracy.svg confusion.svg importance.svg loss.svg)" ] ||
    fail "gbdt charts: $(ls "$T/g-svg")"
[ "$(ls "$T/r-svg")" = "$(printf '%s\n' loss.svg mae.svg mse.svg r2.svg)" ] ||
    fail "regression charts: $(ls "$T/r-svg")"
python3 - "$T" <<'PY' || fail "the .svg files are not well-formed SVG"
import sys, glob, xml.etree.ElementTree as ET
for f in glob.glob(sys.argv[1] + "/*-svg/*.svg"):
    root = ET.parse(f).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", (f, root.tag)
PY
for f in "$T/g.html" "$T/r.html"; do
    grep -qi '<script\|<link\|@import\|url(' "$f" && fail "$f loads or runs something"
done
grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$T/g.html" || fail "feature name not escaped"
ok "--html writes one page, --svg one well-formed file per chart; no script, no external resource"

# ---- the page as Chromium renders it ----
if ! command -v chromium >/dev/null 2>&1; then
    echo "skip - chromium is not installed (scripts/install-deps.sh test installs Debian's chromium): the rendered page is not checked"
    exit 0
fi
render() { # render FILE: the DOM after loading, into FILE.dom; a screenshot FILE.png
    timeout 120 chromium --headless --no-sandbox --disable-gpu \
        --hide-scrollbars --user-data-dir="$T/chromium" --window-size=1100,2400 \
        --dump-dom "file://$1" >"$1.dom" 2>"$T/chromium.err" &&
        timeout 120 chromium --headless --no-sandbox --disable-gpu \
            --hide-scrollbars --user-data-dir="$T/chromium" \
            --window-size=1100,2400 --screenshot="$1.png" "file://$1" \
            >/dev/null 2>>"$T/chromium.err"
}
if ! render "$T/g.html" || [ ! -s "$T/g.html.dom" ]; then
    echo "skip - chromium cannot run here: $(grep -v dbus "$T/chromium.err" | tail -n 2)"
    exit 0
fi
render "$T/r.html" || fail "chromium on the regression report"
python3 - "$T" <<'PY' || fail "the rendered gbdt page"
import sys
from html.parser import HTMLParser
class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.els, self.text = [], [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        fig = next((e[1].get("id") for e in reversed(self.stack) if e[0] == "figure"), None)
        self.els.append((tag, a, fig))
        if tag not in ("br", "meta", "img", "input", "link"):
            self.stack.append((tag, a))
    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass
    def handle_data(self, d):
        self.text.append(d)
d = Dom()
d.feed(open(sys.argv[1] + "/g.html.dom").read())
els, text = d.els, "".join(d.text)
def n(tag, cls=None, fig=None):
    return sum(1 for t, a, f in els if t == tag and (cls is None or a.get("class") == cls) and (fig is None or f == fig))
# no element came from a name: no script, no <b>, no image
assert n("script") == 0 and n("b") == 0 and n("img") == 0, "an element from a name"
assert "<script>alert(1)</script>" in text, "the hostile feature name is not shown as text"
# class names are data (job_canary): the matrix numbers its classes
assert "benign" not in text and "malignant" not in text, "a class name in the report"
assert n("svg") == 4, n("svg")
# curves: training and validation in loss and accuracy
assert n("path", "series", "chart-loss") == 2, n("path", "series", "chart-loss")
assert n("path", "series", "chart-accuracy") == 2
for w in ("training", "validation", "round", "loss (cross-entropy)", "accuracy",
          "early stop: round", "predicted class", "true class"):
    assert w in text, w
# the confusion matrix: 2 x 2 cells, each with its count
assert n("rect", "cell", "chart-confusion") == 4
assert n("text", "count") == 4
# importances: one bar per feature with a gain, at most 20
bars = n("rect", "bar", "chart-importance")
assert 1 <= bars <= 20, bars
for w in ("Hyperparameters", "model.eta", "model.max_depth", "Datasets",
          "Attestation", "EAR sha256", "verified", "breast-cancer-gbdt@1",
          "early stopping ended the run", "no weights"):
    assert w in text, w
PY
mo job status "$G" --json >"$T/status.json"
mo model show breast-cancer-gbdt --json >"$T/model.json"
python3 - "$T" <<'PY' || fail "the report's digests are not the job's and the model's"
import json, sys
T = sys.argv[1]
dom = open(T + "/g.html.dom").read()
s = json.load(open(T + "/status.json"))["status"]
m = json.load(open(T + "/model.json"))
for e in s["attestation"]["ears"]:
    assert e["sha256"] in dom, "EAR digest"
assert s["attestation"]["evidence_sha256"] in dom
assert m["file"]["sha256"] in dom, "model digest"
for ds in m["lineage"]["datasets"]:
    assert ds["sha256"] in dom and ds["file_sha256"] in dom, "dataset digest"
# the metrics the report draws are the model's too (model show --json)
mm = m["metrics"]
assert len(mm["history"]) == mm["epoch"] and mm["stopped"] is True
assert mm["final_evaluation"]["confusion"] and mm["feature_importance"]["values"]
assert "class_names" not in mm and "benign" not in json.dumps(s), "class names left the runtime"
PY
ok "Chromium renders the gbdt report: 2 curves a chart, a 2x2 matrix with counts, importance bars, digests; hostile names stay text"

python3 - "$T" <<'PY' || fail "the rendered regression page"
import sys, re
dom = open(sys.argv[1] + "/r.html.dom").read()
assert dom.count("<svg") == 4
for w in ("Mean squared error", "Mean absolute error", "Coefficient of determination",
          "R²", "epoch", "diabetes-linear@1", "preprocessing.scale"):
    assert w in dom, w
assert "Accuracy" not in dom and "Confusion" not in dom
assert len(re.findall(r'<path class="series"', dom)) == 5  # loss: 2; mse, mae, r2: 1 each
PY
python3 - "$T" <<'PY' || fail "the screenshots are empty"
import struct, sys
for f in ("g", "r"):
    b = open(f"{sys.argv[1]}/{f}.html.png", "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", f
    w, h = struct.unpack(">II", b[16:24])
    assert w >= 1000 and h >= 2000 and len(b) > 50000, (f, w, h, len(b))
PY
ok "the regression report draws MSE, MAE and R² instead of accuracy; screenshots taken"

# ST_REPORT_KEEP=DIR keeps the pages and screenshots to look at
if [ -n "${ST_REPORT_KEEP:-}" ]; then
    mkdir -p "$ST_REPORT_KEEP"
    cp "$T"/g.html* "$T"/r.html* "$ST_REPORT_KEEP"/
fi
