// MNIST-style preprocessing of a drawing: crop to the ink, scale into the fit box keeping
// the aspect ratio (box-filter anti-aliasing), centre by centre of mass in the model's
// image (the manifest's "image": 28x28 for MNIST). For MNIST a line-by-line mirror of
// latentcraft/data/preprocess.py, which is the reference: the browser test checks both
// give the same digit for the same ink. The fit box is the manifest's "drawing_fit": 20x20
// for MNIST, the same share of each side of other images (site_bundle.drawing_fit).
const FIT_SIDE = 20;  // preprocess.py's FIT_SIDE: the box of a site exported before "drawing_fit"
const INK_THRESHOLD = 0;

// What the pad's note says happens to a drawing (`noun`: "Digit", "Image").
export function drawingNote(manifest, noun) {
  const [h, w] = manifest.drawing_fit || [FIT_SIDE, FIT_SIDE];
  const { height, width } = manifest.image;
  const into = h === FIT_SIDE && w === FIT_SIDE ? `${w}×${h}` : `${w}×${h} of the model's ${width}×${height} images`;
  return `Drawn ${noun.toLowerCase()}s are preprocessed as MNIST was made: cropped to the ink, scaled into ${into}, `
    + 'centred by centre of mass.';
}

// (target x source) overlap weights, row-major: target pixel o averages source [o r, (o + 1) r).
function areaWeights(source, target) {
  const ratio = source / target;
  const weights = new Float64Array(target * source);
  for (let o = 0; o < target; o++) {
    const start = o * ratio, end = (o + 1) * ratio;
    for (let i = Math.floor(start); i < Math.min(source, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 0) weights[o * source + i] = overlap / ratio;
    }
  }
  return weights;
}

const roundHalfUp = (v) => Math.floor(v + 0.5);

// ink: Float64Array/Float32Array (height * width) in [0, 1], 1 = full stroke; image: the
// manifest's image shape; fit: its drawing_fit. Returns a Float32Array (image.height *
// image.width), or null when there is no ink.
export function preprocessDrawing(ink, width, height, image, fit = null) {
  let top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > INK_THRESHOLD) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  if (bottom < 0) return null;
  const h = bottom - top + 1, w = right - left + 1;
  const [fitH, fitW] = fit || [FIT_SIDE, FIT_SIDE];
  const scale = Math.min(fitH / h, fitW / w);
  const outH = Math.max(1, roundHalfUp(h * scale)), outW = Math.max(1, roundHalfUp(w * scale));
  const wy = areaWeights(h, outH), wx = areaWeights(w, outW);

  // small = wy @ crop @ wx^T, done as two passes (rows first, then columns).
  const rows = new Float64Array(outH * w);
  for (let o = 0; o < outH; o++) {
    for (let i = 0; i < h; i++) {
      const weight = wy[o * h + i];
      if (weight === 0) continue;
      const src = (top + i) * width + left;
      for (let x = 0; x < w; x++) rows[o * w + x] += weight * ink[src + x];
    }
  }
  const small = new Float64Array(outH * outW);
  let peak = 0;
  for (let o = 0; o < outH; o++) {
    for (let q = 0; q < outW; q++) {
      let sum = 0;
      for (let x = 0; x < w; x++) sum += rows[o * w + x] * wx[q * w + x];
      small[o * outW + q] = sum;
      if (sum > peak) peak = sum;
    }
  }
  if (peak > 0) for (let i = 0; i < small.length; i++) small[i] /= peak;

  let total = 0, sumY = 0, sumX = 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const v = small[y * outW + x];
      total += v; sumY += v * y; sumX += v * x;
    }
  }
  const shiftY = roundHalfUp((image.height - 1) / 2 - sumY / total);
  const shiftX = roundHalfUp((image.width - 1) / 2 - sumX / total);

  const field = new Float32Array(image.height * image.width);
  for (let y = 0; y < outH; y++) {
    const fy = shiftY + y;
    if (fy < 0 || fy >= image.height) continue;
    for (let x = 0; x < outW; x++) {
      const fx = shiftX + x;
      if (fx >= 0 && fx < image.width) field[fy * image.width + fx] = small[y * outW + x];
    }
  }
  return field;
}
