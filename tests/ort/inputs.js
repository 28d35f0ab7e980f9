'use strict';
// Seeded model inputs from a JSON description:
//   {"NAME": {"type": "float32"|"int64"|..., "shape": [...], "fill": FILL}, ...}
// FILL: {"kind": "uniform", "low", "high"} | {"kind": "normal", "mean", "std"} | {"kind": "constant", "value"}
//     | {"kind": "image", "low", "high"}: smooth random blobs per channel (NCHW), closer to photographs than noise
//     | {"kind": "object", "low", "high"}: a textured ellipse in front of a smooth background (NCHW), so that
//       segmentation models find a foreground
//     | {"kind": "text", "text", "mean", "std"}: a line of text in a bitmap font, NCHW, white background
const { rng, normal } = require('./common');
const { renderText } = require('./text_image');

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array };

function smoothImage(random, shape, low, high) {
  const [n, c, h, w] = shape;
  const out = new Float32Array(n * c * h * w);
  const blobs = [];
  for (let i = 0; i < 12; ++i) blobs.push({ y: random() * h, x: random() * w, r: (0.05 + 0.3 * random()) * Math.min(h, w),
                                          v: Array.from({ length: c }, () => random()) });
  for (let b = 0; b < n; ++b)
    for (let ch = 0; ch < c; ++ch)
      for (let y = 0; y < h; ++y)
        for (let x = 0; x < w; ++x) {
          let value = 0.5;
          for (const blob of blobs) {
            const d2 = ((y - blob.y) ** 2 + (x - blob.x) ** 2) / (blob.r * blob.r);
            value += (blob.v[ch] - 0.5) * Math.exp(-d2);
          }
          value = Math.min(1, Math.max(0, value + 0.02 * normal(random)));
          out[((b * c + ch) * h + y) * w + x] = low + (high - low) * value;
        }
  return out;
}

function objectImage(random, shape, low, high) {
  const out = smoothImage(random, shape, low, high);
  const [n, c, h, w] = shape;
  const cy = h * (0.4 + 0.2 * random()), cx = w * (0.4 + 0.2 * random());
  const ry = h * (0.2 + 0.1 * random()), rx = w * (0.15 + 0.1 * random());
  const colour = Array.from({ length: c }, () => random());
  for (let b = 0; b < n; ++b)
    for (let ch = 0; ch < c; ++ch)
      for (let y = 0; y < h; ++y)
        for (let x = 0; x < w; ++x) {
          const d = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2;
          if (d > 1) continue;
          const stripes = 0.15 * Math.sin((x + y) * 0.08) + 0.1 * (1 - d);
          const value = Math.min(1, Math.max(0, colour[ch] * 0.7 + stripes + 0.1));
          out[((b * c + ch) * h + y) * w + x] = low + (high - low) * value;
        }
  return out;
}

function makeInput(ort, description, random) {
  const { type, shape, fill } = description;
  const count = shape.reduce((a, b) => a * b, 1);
  const Array = ARRAYS[type];
  if (!Array) throw new Error(`unsupported input type ${type}`);
  let data;
  if (fill.kind === 'image') data = smoothImage(random, shape, fill.low, fill.high);
  else if (fill.kind === 'object') data = objectImage(random, shape, fill.low, fill.high);
  else if (fill.kind === 'text') data = renderText(fill.text, shape, fill.mean, fill.std);
  else {
    data = new Array(count);
    for (let i = 0; i < count; ++i) {
      let v;
      if (fill.kind === 'uniform') v = fill.low + (fill.high - fill.low) * random();
      else if (fill.kind === 'normal') v = fill.mean + fill.std * normal(random);
      else if (fill.kind === 'constant') v = fill.value;
      else throw new Error(`unknown fill kind ${fill.kind}`);
      data[i] = type === 'int64' ? BigInt(Math.round(v)) : v;
    }
  }
  return new ort.Tensor(type, data, shape);
}

function makeInputs(ort, descriptions, seed) {
  const random = rng(seed);
  const feeds = {};
  for (const name of Object.keys(descriptions).sort()) feeds[name] = makeInput(ort, descriptions[name], random);
  return feeds;
}

module.exports = { makeInputs };
