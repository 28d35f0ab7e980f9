'use strict';
// Runs two ONNX models that take no inputs (e.g. a palettized model and its decompressed form) and compares
// every output of the first with the second's output of the same name, bit for bit. Prints JSON
// {"outputs": {NAME: {"equal", "type", "dims"}}}; exit 0 even when outputs differ (the caller asserts).
// usage: node tests/ort/same_outputs.js A.onnx B.onnx
const { loadOrt } = require('./common');

function sameBits(a, b) {
  if (!b || a.type !== b.type || a.dims.join(',') !== b.dims.join(',')) return false;
  const x = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.equals(y);
}

async function main() {
  const [first, second] = process.argv.slice(2);
  if (!first || !second) throw new Error('usage: same_outputs.js A.onnx B.onnx');
  const ort = loadOrt();
  const options = { intraOpNumThreads: 1 };
  const a = await (await ort.InferenceSession.create(first, options)).run({});
  const b = await (await ort.InferenceSession.create(second, options)).run({});
  const outputs = {};
  for (const [name, tensor] of Object.entries(a)) {
    outputs[name] = { equal: sameBits(tensor, b[name]), type: tensor.type, dims: tensor.dims };
  }
  process.stdout.write(JSON.stringify({ outputs }) + '\n');
}

main().catch(error => { console.error(`same_outputs: ${error.message}`); process.exit(1); });
