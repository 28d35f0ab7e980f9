'use strict';
// Shared helpers for the onnxruntime-node checks: loading onnxruntime-node from the repository's
// node_modules with a clear message when it is missing, and a seeded random number generator.
const path = require('path');

function loadOrt() {
  const root = path.resolve(__dirname, '..', '..');
  try {
    return require(path.join(root, 'node_modules', 'onnxruntime-node'));
  } catch (error) {
    throw new Error(`onnxruntime-node is not installed in ${root}/node_modules ` +
                    `(run "npm ci --ignore-scripts" in the repository root): ${error.message}`);
  }
}

// mulberry32: a small deterministic PRNG, so inputs are the same on every machine.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(random) {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

module.exports = { loadOrt, rng, normal };
