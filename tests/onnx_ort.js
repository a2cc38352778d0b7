// onnx_ort.js MODEL X.f32 COLS OUTPUT OUT.f32: runs MODEL in ONNX Runtime
// (npm's onnxruntime-node, found through NODE_PATH) on the rows of X.f32
// (little-endian float32, COLS per row, fed as "input") and writes the
// graph output named OUTPUT as little-endian float32 to OUT.f32. Exit 0
// when it ran.
const fs = require("fs");
const ort = require("onnxruntime-node");

async function main() {
  const [model, xfile, cols, output, outfile] = process.argv.slice(2);
  const buf = fs.readFileSync(xfile);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const n = x.length / Number(cols);
  const session = await ort.InferenceSession.create(model);
  const feeds = { input: new ort.Tensor("float32", x, [n, Number(cols)]) };
  const res = await session.run(feeds);
  const t = res[output];
  if (!t || t.type !== "float32") throw new Error(`no float output ${output}`);
  fs.writeFileSync(outfile, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.length * 4));
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
