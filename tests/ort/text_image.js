'use strict';
// Renders a line of text with a built-in 5x7 bitmap font (no font files or image libraries needed),
// scaled and softened by a box blur, as an NCHW float32 image: dark text on white, normalized as
// (value - mean) / std with value in [0, 1]. Used to feed OCR models a deterministic, readable input.
const FONT = {
  '0': [' ### ', '#   #', '#  ##', '# # #', '##  #', '#   #', ' ### '],
  '1': ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  '2': [' ### ', '#   #', '    #', '   # ', '  #  ', ' #   ', '#####'],
  '3': ['#####', '   # ', '  #  ', '   # ', '    #', '#   #', ' ### '],
  '4': ['   # ', '  ## ', ' # # ', '#  # ', '#####', '   # ', '   # '],
  '5': ['#####', '#    ', '#### ', '    #', '    #', '#   #', ' ### '],
  '6': ['  ## ', ' #   ', '#    ', '#### ', '#   #', '#   #', ' ### '],
  '7': ['#####', '    #', '   # ', '  #  ', ' #   ', ' #   ', ' #   '],
  '8': [' ### ', '#   #', '#   #', ' ### ', '#   #', '#   #', ' ### '],
  '9': [' ### ', '#   #', '#   #', ' ####', '    #', '   # ', ' ##  '],
  'A': [' ### ', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  'B': ['#### ', '#   #', '#   #', '#### ', '#   #', '#   #', '#### '],
  'C': [' ### ', '#   #', '#    ', '#    ', '#    ', '#   #', ' ### '],
  'D': ['#### ', '#   #', '#   #', '#   #', '#   #', '#   #', '#### '],
  'E': ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#####'],
  'F': ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#    '],
  'G': [' ### ', '#   #', '#    ', '# ###', '#   #', '#   #', ' ####'],
  'H': ['#   #', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  'I': [' ### ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  'J': ['  ###', '   # ', '   # ', '   # ', '   # ', '#  # ', ' ##  '],
  'K': ['#   #', '#  # ', '# #  ', '##   ', '# #  ', '#  # ', '#   #'],
  'L': ['#    ', '#    ', '#    ', '#    ', '#    ', '#    ', '#####'],
  'M': ['#   #', '## ##', '# # #', '# # #', '#   #', '#   #', '#   #'],
  'N': ['#   #', '#   #', '##  #', '# # #', '#  ##', '#   #', '#   #'],
  'O': [' ### ', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  'P': ['#### ', '#   #', '#   #', '#### ', '#    ', '#    ', '#    '],
  'Q': [' ### ', '#   #', '#   #', '#   #', '# # #', '#  # ', ' ## #'],
  'R': ['#### ', '#   #', '#   #', '#### ', '# #  ', '#  # ', '#   #'],
  'S': [' ####', '#    ', '#    ', ' ### ', '    #', '    #', '#### '],
  'T': ['#####', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  '],
  'U': ['#   #', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  'V': ['#   #', '#   #', '#   #', '#   #', '#   #', ' # # ', '  #  '],
  'W': ['#   #', '#   #', '#   #', '# # #', '# # #', '# # #', ' # # '],
  'X': ['#   #', '#   #', ' # # ', '  #  ', ' # # ', '#   #', '#   #'],
  'Y': ['#   #', '#   #', ' # # ', '  #  ', '  #  ', '  #  ', '  #  '],
  'Z': ['#####', '    #', '   # ', '  #  ', ' #   ', '#    ', '#####'],
  ' ': ['     ', '     ', '     ', '     ', '     ', '     ', '     '],
};

// Ink coverage in [0, 1] of an h x w canvas with the text centred, `scale` pixels per font pixel.
function inkMap(text, h, w, scale) {
  const ink = new Float32Array(h * w);
  const advance = 6 * scale;
  const x0 = Math.floor((w - text.length * advance + scale) / 2);
  const y0 = Math.floor((h - 7 * scale) / 2);
  if (x0 < 0 || y0 < 0) throw new Error(`text "${text}" does not fit ${h}x${w} at scale ${scale}`);
  [...text].forEach((ch, i) => {
    const glyph = FONT[ch];
    if (!glyph) throw new Error(`no glyph for "${ch}"`);
    for (let gy = 0; gy < 7; ++gy)
      for (let gx = 0; gx < 5; ++gx)
        if (glyph[gy][gx] === '#')
          for (let dy = 0; dy < scale; ++dy)
            for (let dx = 0; dx < scale; ++dx) ink[(y0 + gy * scale + dy) * w + x0 + i * advance + gx * scale + dx] = 1;
  });
  return ink;
}

function boxBlur(image, h, w, radius) {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; ++y)
    for (let x = 0; x < w; ++x) {
      let sum = 0, n = 0;
      for (let dy = -radius; dy <= radius; ++dy)
        for (let dx = -radius; dx <= radius; ++dx) {
          const yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w) { sum += image[yy * w + xx]; ++n; }
        }
      out[y * w + x] = sum / n;
    }
  return out;
}

// `texts`: one string for every image of the batch, or a single string for all of them.
function renderText(texts, shape, mean, std) {
  const [n, c, h, w] = shape;
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; ++b) {
    const text = Array.isArray(texts) ? texts[b] : texts;
    if (text === undefined) throw new Error(`no text for batch item ${b}`);
    const scale = Math.max(1, Math.floor(Math.min((h * 0.6) / 7, w / (6 * text.length))));
    const ink = boxBlur(inkMap(text, h, w, scale), h, w, 1);
    for (let ch = 0; ch < c; ++ch)
      for (let i = 0; i < h * w; ++i) out[(b * c + ch) * h * w + i] = (1 - ink[i] - mean) / std;
  }
  return out;
}

module.exports = { renderText };
