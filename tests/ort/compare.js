'use strict';
// Runs an original and a palettized ONNX model in onnxruntime-node on the same seeded inputs and prints,
// as JSON, the fidelity of every output:
//   {"outputs": {NAME: {"snr_db", "max_abs_err", "rms", "numel", "argmax_agreement", "iou_at_half"}},
//    "seconds": {"original", "palettized"}, "decoded": {...}?}
// snr_db = 10 log10(sum o^2 / sum (o - p)^2) over all input sets; argmax_agreement = fraction of positions
// whose argmax over the last axis agrees (meaningful for class scores, e.g. OCR characters); iou_at_half =
// intersection over union of the positions above 0.5 (masks and probability maps; 1 when both are empty).
// usage: node tests/ort/compare.js ORIGINAL.onnx PALETTIZED.onnx INPUTS.json [--sets N] [--seed S] [--ctc KEYS]
// With --ctc KEYS (a character list, one per line) the first output is CTC-decoded (greedy) into text for
// both models ("decoded": {"original", "palettized"}).
const fs = require('fs');
const { loadOrt } = require('./common');
const { makeInputs } = require('./inputs');

function parseArgs(argv) {
  const args = { positional: [], sets: 1, seed: 1, ctc: null, threads: 2 };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--sets') args.sets = Number(argv[++i]);
    else if (argv[i] === '--seed') args.seed = Number(argv[++i]);
    else if (argv[i] === '--ctc') args.ctc = argv[++i];
    else if (argv[i] === '--threads') args.threads = Number(argv[++i]);
    else args.positional.push(argv[i]);
  }
  if (args.positional.length !== 3) throw new Error('usage: compare.js ORIGINAL.onnx PALETTIZED.onnx INPUTS.json [--sets N] [--seed S] [--ctc KEYS]');
  return args;
}

function ctcDecode(tensor, keys) {
  const [batch, steps, classes] = tensor.dims;
  const lines = [];
  for (let b = 0; b < batch; ++b) {
    let text = '', previous = -1;
    for (let t = 0; t < steps; ++t) {
      let best = 0;
      for (let c = 1; c < classes; ++c) if (tensor.data[(b * steps + t) * classes + c] > tensor.data[(b * steps + t) * classes + best]) best = c;
      if (best !== previous && best !== 0) text += best - 1 < keys.length ? keys[best - 1] : ' ';
      previous = best;
    }
    lines.push(text);
  }
  return lines;
}

function argmaxAgreement(a, b) {
  const last = a.dims[a.dims.length - 1];
  const rows = a.data.length / last;
  let agree = 0;
  for (let r = 0; r < rows; ++r) {
    let ia = 0, ib = 0;
    for (let c = 1; c < last; ++c) {
      if (a.data[r * last + c] > a.data[r * last + ia]) ia = c;
      if (b.data[r * last + c] > b.data[r * last + ib]) ib = c;
    }
    if (ia === ib) ++agree;
  }
  return agree / rows;
}

async function run(session, feeds) {
  const start = process.hrtime.bigint();
  const result = await session.run(feeds);
  return { result, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const descriptions = JSON.parse(fs.readFileSync(args.positional[2], 'utf8'));
  const options = { intraOpNumThreads: args.threads, interOpNumThreads: 1 };
  const original = await ort.InferenceSession.create(args.positional[0], options);
  const palettized = await ort.InferenceSession.create(args.positional[1], options);
  const keys = args.ctc ? fs.readFileSync(args.ctc, 'utf8').split('\n').filter((line, i, all) => i < all.length - 1 || line) : null;

  const stats = {}, seconds = { original: 0, palettized: 0 }, decoded = { original: [], palettized: [] };
  for (let set = 0; set < args.sets; ++set) {
    const feeds = makeInputs(ort, descriptions, args.seed + set);
    const a = await run(original, feeds), b = await run(palettized, feeds);
    seconds.original += a.seconds;
    seconds.palettized += b.seconds;
    for (const name of original.outputNames) {
      const x = a.result[name], y = b.result[name];
      if (!y) throw new Error(`palettized model has no output ${name}`);
      if (x.data.length !== y.data.length) throw new Error(`output ${name}: ${x.data.length} vs ${y.data.length} elements`);
      const s = stats[name] || (stats[name] = { signal: 0, noise: 0, max_abs_err: 0, numel: 0, agree: 0, sets: 0,
                                                 both: 0, either: 0 });
      for (let i = 0; i < x.data.length; ++i) {
        const o = Number(x.data[i]), p = Number(y.data[i]), d = o - p;
        s.signal += o * o;
        s.noise += d * d;
        s.max_abs_err = Math.max(s.max_abs_err, Math.abs(d));
        if (o > 0.5 && p > 0.5) ++s.both;
        if (o > 0.5 || p > 0.5) ++s.either;
      }
      s.numel += x.data.length;
      s.agree += x.dims.length >= 2 ? argmaxAgreement(x, y) : 1;
      s.sets += 1;
    }
    if (keys) {
      const first = original.outputNames[0];
      decoded.original.push(...ctcDecode(a.result[first], keys));
      decoded.palettized.push(...ctcDecode(b.result[first], keys));
    }
  }
  const outputs = {};
  for (const [name, s] of Object.entries(stats)) {
    outputs[name] = {
      snr_db: s.noise === 0 ? 'inf' : 10 * Math.log10(s.signal / s.noise),
      max_abs_err: s.max_abs_err,
      rms: Math.sqrt(s.signal / s.numel),
      numel: s.numel,
      argmax_agreement: s.agree / s.sets,
      iou_at_half: s.either === 0 ? 1 : s.both / s.either,
    };
  }
  const report = { outputs, seconds };
  if (keys) report.decoded = decoded;
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch(error => { console.error(`compare: ${error.message}`); process.exit(1); });
