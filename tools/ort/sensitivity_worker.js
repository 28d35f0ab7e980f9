'use strict';
// A long-lived onnxruntime-node evaluator for `palettize sensitivity`: runs the reference model once on
// seeded inputs, keeps its outputs, then answers one request per stdin line with the fidelity of another
// model file on the same inputs. One process, one set of reference outputs, many evaluations.
//
// usage: node tools/ort/sensitivity_worker.js REFERENCE.onnx INPUTS.json [--sets N] [--seed S] [--threads T]
//                                            [--outputs NAME,NAME] [--transform none|log] [--no-reference]
// --no-reference: only the inputs are made, the reference is not run (activation requests need no outputs;
// model requests are then errors).
// INPUTS.json: the input descriptions of tests/ort/inputs.js; an input without "type" takes the model's.
// Protocol (one JSON object per line):
//   first line out:  {"ready": true, "outputs": [NAME...], "inputs": {NAME: {"type", "shape"}}}
//   request in:      {"model": "/path/to/model.onnx"}
//   reply out:       {"outputs": {NAME: {"signal", "noise"}}, "damage", "snr_db", "seconds"} or {"error": MESSAGE}
//   request in:      {"activations": "/path/to/model.onnx", "channels": {VALUE: AXIS}}   (palettize calibrate)
//   reply out:       {"activations": {VALUE: {"dims", "mean_square": [per channel]}}, "seconds"}
//     The model is the reference with VALUEs added as outputs; mean_square[c] is the mean of x^2 over every
//     element of VALUE whose index along AXIS (negative: from the end) is c, over every input set.
// damage = mean over the chosen outputs of noise power / signal power (sum over every input set); with
// --transform log both outputs are scored as log(max(value, 1e-30)) (log-probabilities of a softmax: smooth
// where probabilities jump at decision boundaries);
// snr_db = -10 log10(damage), "inf" when the outputs are identical. A failure before "ready" is answered
// {"error": MESSAGE} on stdout, repeated on stderr, and the worker exits with 1.
const fs = require('fs');
const readline = require('readline');
const { loadOrt } = require('../../tests/ort/common');
const { makeInputs } = require('../../tests/ort/inputs');

function parseArgs(argv) {
  const args = { positional: [], sets: 1, seed: 1, threads: 1, outputs: null, transform: 'none', reference: true };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--sets') args.sets = Number(argv[++i]);
    else if (argv[i] === '--seed') args.seed = Number(argv[++i]);
    else if (argv[i] === '--threads') args.threads = Number(argv[++i]);
    else if (argv[i] === '--outputs') args.outputs = argv[++i].split(',');
    else if (argv[i] === '--transform') args.transform = argv[++i];
    else if (argv[i] === '--no-reference') args.reference = false;
    else args.positional.push(argv[i]);
  }
  if (args.positional.length !== 2) {
    throw new Error('usage: sensitivity_worker.js REFERENCE.onnx INPUTS.json [--sets N] [--seed S] [--threads T] [--outputs A,B] [--transform none|log] [--no-reference]');
  }
  if (!['none', 'log'].includes(args.transform)) throw new Error(`--transform ${args.transform}: expected none or log`);
  return args;
}

function withModelTypes(descriptions, session) {
  const types = {};
  for (const meta of session.inputMetadata || []) if (meta.isTensor) types[meta.name] = meta.type;
  const result = {};
  for (const [name, description] of Object.entries(descriptions)) {
    if (!session.inputNames.includes(name)) {
      throw new Error(`the model has no input '${name}' (its inputs: ${session.inputNames.join(', ')})`);
    }
    result[name] = { ...description, type: description.type || types[name] || 'float32' };
  }
  for (const name of session.inputNames) {
    if (!(name in result)) throw new Error(`no shape given for the model input '${name}' (give --input ${name}=DIMS)`);
  }
  return result;
}

const TRANSFORMS = { none: v => v, log: v => Math.log(Math.max(v, 1e-30)) };

function outputStats(reference, result, names, transform) {
  const stats = {};
  for (const name of names) {
    const x = reference[name], y = result[name];
    if (!y) throw new Error(`the evaluated model has no output '${name}'`);
    if (x.data.length !== y.data.length) throw new Error(`output '${name}': ${y.data.length} elements, reference has ${x.data.length}`);
    let signal = 0, noise = 0;
    for (let i = 0; i < x.data.length; ++i) {
      const o = transform(Number(x.data[i])), d = o - transform(Number(y.data[i]));
      signal += o * o;
      noise += d * d;
    }
    stats[name] = { signal, noise };
  }
  return stats;
}

function addStats(total, stats) {
  for (const [name, s] of Object.entries(stats)) {
    const t = total[name] || (total[name] = { signal: 0, noise: 0 });
    t.signal += s.signal;
    t.noise += s.noise;
  }
}

function summarize(total) {
  const names = Object.keys(total);
  let damage = 0;
  for (const name of names) {
    const { signal, noise } = total[name];
    // A silent output (signal 0) is damaged by any noise at all; without noise it is intact.
    damage += signal > 0 ? noise / signal : (noise > 0 ? Infinity : 0);
  }
  damage /= names.length;
  if (!Number.isFinite(damage)) throw new Error('an output is non-finite or the reference output is all zeros');
  return { outputs: total, damage, snr_db: damage === 0 ? 'inf' : -10 * Math.log10(damage) };
}

// The fidelity of `model` against the reference outputs kept in `sets`.
async function evaluate(ort, options, model, sets, names, transform) {
  if (sets.some(set => !set.outputs)) throw new Error('no reference outputs to score against (--no-reference)');
  const session = await ort.InferenceSession.create(model, options);
  const total = {};
  for (const set of sets) addStats(total, outputStats(set.outputs, await session.run(set.feeds), names, transform));
  if (session.release) await session.release();
  return summarize(total);
}

// Per-channel mean squares of intermediate values over every input set (see the protocol above).
async function activationStats(ort, options, model, channels, sets) {
  const session = await ort.InferenceSession.create(model, options);
  const sums = {};
  for (const set of sets) {
    const results = await session.run(set.feeds, Object.keys(channels));
    for (const [name, requested] of Object.entries(channels)) {
      const t = results[name];
      if (!t) throw new Error(`the calibration model has no output '${name}'`);
      const rank = t.dims.length;
      const axis = requested < 0 ? rank + requested : requested;
      if (axis < 0 || axis >= rank) throw new Error(`'${name}' has rank ${rank}, no axis ${requested}`);
      const channelCount = t.dims[axis];
      let inner = 1;
      for (let a = axis + 1; a < rank; ++a) inner *= t.dims[a];
      const entry = sums[name] || (sums[name] = { dims: t.dims, sum: new Float64Array(channelCount), count: 0 });
      if (entry.sum.length !== channelCount) throw new Error(`'${name}' changes its channel count between input sets`);
      for (let i = 0; i < t.data.length; ++i) {
        const x = Number(t.data[i]);
        entry.sum[Math.floor(i / inner) % channelCount] += x * x;
      }
      entry.count += t.data.length / channelCount;
    }
  }
  if (session.release) await session.release();
  const activations = {};
  for (const [name, entry] of Object.entries(sums)) {
    activations[name] = { dims: entry.dims, mean_square: Array.from(entry.sum, s => (entry.count > 0 ? s / entry.count : 0)) };
  }
  return { activations };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const options = { intraOpNumThreads: args.threads, interOpNumThreads: 1 };
  const reference = await ort.InferenceSession.create(args.positional[0], options);
  const descriptions = withModelTypes(JSON.parse(fs.readFileSync(args.positional[1], 'utf8')), reference);
  const names = args.outputs || reference.outputNames;
  for (const name of names) {
    if (!reference.outputNames.includes(name)) {
      throw new Error(`the model has no output '${name}' (its outputs: ${reference.outputNames.join(', ')})`);
    }
  }
  const sets = [];
  for (let set = 0; set < args.sets; ++set) {
    const feeds = makeInputs(ort, descriptions, args.seed + set);
    if (!args.reference) {
      sets.push({ feeds, outputs: null });
      continue;
    }
    const outputs = await reference.run(feeds);
    const kept = {};
    for (const name of names) kept[name] = { data: outputs[name].data };
    sets.push({ feeds, outputs: kept });
  }
  // Every request opens its own session; holding the reference's too would double the runtime's memory.
  if (reference.release) await reference.release();
  const described = {};
  for (const [name, d] of Object.entries(descriptions)) described[name] = { type: d.type, shape: d.shape };
  process.stdout.write(JSON.stringify({ ready: true, outputs: names, inputs: described }) + '\n');

  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const start = process.hrtime.bigint();
    let reply;
    try {
      const request = JSON.parse(line);
      reply = request.activations
        ? await activationStats(ort, options, request.activations, request.channels, sets)
        : await evaluate(ort, options, request.model, sets, names, TRANSFORMS[args.transform]);
      reply.seconds = Number(process.hrtime.bigint() - start) / 1e9;
    } catch (error) {
      reply = { error: error.message };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
}

main().catch(error => {
  // The caller reads stdout: say why there, too (stdout to a pipe is synchronous on Linux).
  process.stdout.write(JSON.stringify({ error: error.message }) + '\n');
  console.error(`sensitivity_worker: ${error.message}`);
  process.exit(1);
});
