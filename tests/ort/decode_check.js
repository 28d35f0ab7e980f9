'use strict';
// Runs every <case>.onnx in a directory (each has no inputs and one FLOAT output "y") and compares the
// output bit for bit with <case>.bin (raw little-endian float32). Prints JSON
// {"cases": [{"name", "ok", "error"?}]} on stdout; exit 0 even when cases fail (the caller asserts).
// usage: node tests/ort/decode_check.js DIR
const fs = require('fs');
const path = require('path');
const { loadOrt } = require('./common');

async function checkCase(ort, dir, name) {
  try {
    const session = await ort.InferenceSession.create(path.join(dir, name + '.onnx'));
    const result = await session.run({});
    const actual = Buffer.from(result.y.data.buffer, result.y.data.byteOffset, result.y.data.byteLength);
    const expected = fs.readFileSync(path.join(dir, name + '.bin'));
    if (result.y.type !== 'float32') return { name, ok: false, error: `output type ${result.y.type}` };
    if (!actual.equals(expected)) {
      let first = -1;
      for (let i = 0; i < expected.length; i += 4) if (actual.readUInt32LE(i) !== expected.readUInt32LE(i)) { first = i / 4; break; }
      return { name, ok: false, error: `output differs (${actual.length} vs ${expected.length} bytes; first element ${first})` };
    }
    await session.release();
    return { name, ok: true };
  } catch (error) {
    return { name, ok: false, error: String(error.message || error).slice(0, 500) };
  }
}

async function main() {
  const dir = process.argv[2];
  const ort = loadOrt();
  const names = fs.readdirSync(dir).filter(f => f.endsWith('.onnx')).map(f => f.slice(0, -5)).sort();
  const cases = [];
  for (const name of names) cases.push(await checkCase(ort, dir, name));
  process.stdout.write(JSON.stringify({ cases }) + '\n');
}

main().catch(error => { console.error(`decode_check: ${error.message}`); process.exit(1); });
