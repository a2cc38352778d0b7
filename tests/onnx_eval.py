"""onnx_eval.py DIR: checks DIR/model.onnx with Debian's python3-onnx
checker and evaluates it on DIR/x.f32 (rows x inputs) with an evaluator
written here in numpy from the ONNX operator definitions (python3-onnx 1.12
in Debian 12 has no onnx.reference.ReferenceEvaluator, added in 1.13; when
it is there it is used too). The outputs must match DIR/pred.f32, the
engine's own predictions, within 1e-4. Exit 0 when they do."""
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper

d = sys.argv[1]
model = onnx.load(d + "/model.onnx")
onnx.checker.check_model(model, full_check=True)
g = model.graph
assert model.ir_version == 8, model.ir_version
assert model.opset_import[0].version == 13
inp = g.input[0].type.tensor_type.shape.dim
out = g.output[0].type.tensor_type.shape.dim
assert inp[0].dim_param == "N" and out[0].dim_param == "N"
n_in, n_out = inp[1].dim_value, out[1].dim_value
x = np.fromfile(d + "/x.f32", dtype="<f4").reshape(-1, n_in)
want = np.fromfile(d + "/pred.f32", dtype="<f4").reshape(-1, n_out)

env = {i.name: numpy_helper.to_array(i) for i in g.initializer}
env["input"] = x
erf = np.vectorize(math.erf, otypes=[np.float32])
for node in g.node:
    a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
    ins = [env[i] for i in node.input]
    op = node.op_type
    if op == "Gemm":
        A, B, C = ins
        if a.get("transA", 0):
            A = A.T
        if a.get("transB", 0):
            B = B.T
        y = a.get("alpha", 1.0) * (A @ B) + a.get("beta", 1.0) * C
    elif op == "Relu":
        y = np.maximum(ins[0], 0)
    elif op == "Tanh":
        y = np.tanh(ins[0])
    elif op == "Sigmoid":
        y = 1 / (1 + np.exp(-ins[0]))
    elif op == "Erf":
        y = erf(ins[0])
    elif op == "Div":
        y = ins[0] / ins[1]
    elif op == "Mul":
        y = ins[0] * ins[1]
    elif op == "Add":
        y = ins[0] + ins[1]
    elif op == "Sub":
        y = ins[0] - ins[1]
    elif op == "Softmax":
        z = ins[0] - ins[0].max(axis=a.get("axis", -1), keepdims=True)
        e = np.exp(z)
        y = e / e.sum(axis=a.get("axis", -1), keepdims=True)
    else:
        sys.exit("unexpected operator " + op)
    env[node.output[0]] = y.astype(np.float32)
got = env["output"]
diff = float(np.abs(got - want).max())
print("rows %d, max |onnx - engine| = %.3g" % (len(x), diff))
try:
    from onnx.reference import ReferenceEvaluator
    ref = ReferenceEvaluator(model).run(None, {"input": x})[0]
    rdiff = float(np.abs(ref - want).max())
    print("onnx.reference: max diff %.3g" % rdiff)
    assert rdiff < 1e-4, rdiff
except ImportError:
    print("onnx.reference not available (python3-onnx %s)" % onnx.__version__)
assert diff < 1e-4, diff
