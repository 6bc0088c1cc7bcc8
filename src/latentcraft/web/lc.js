// Shared by every page: the manifest, the onnxruntime-web sessions, encode/decode,
// the shipped test digits and small drawing helpers. Everything is fetched from
// this folder; nothing leaves the host the page came from.
import * as ort from './vendor/ort.wasm.bundle.min.mjs';

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;
export const NUM_CLASSES = 10;
// Ten distinguishable colours (Tableau 10), one per class, for scatters and legends.
export const CLASS_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

// State the browser tests read (window.lc); pages add their own fields.
export const state = { ready: false, decodeCount: 0, lastDecoded: null, lastVector: null, errors: [] };
window.lc = state;

async function fetchOk(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response;
}

export function showError(error) {
  state.errors.push(String(error));
  const box = document.getElementById('status');
  if (box) { box.textContent = `Error: ${error.message || error}`; box.classList.add('error'); }
}

export function setStatus(text) {
  const box = document.getElementById('status');
  if (box) box.textContent = text;
}

// Load manifest + graphs. The runtime is single-threaded on purpose: threads need
// cross-origin isolation headers that plain static hosts do not send.
export async function loadSite({ needEncoder = true, needClassifier = false } = {}) {
  const manifest = await (await fetchOk('manifest.json')).json();
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { wasm: new URL(manifest.runtime.wasm, location.href).href };
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const load = async (file) => ort.InferenceSession.create(
    new Uint8Array(await (await fetchOk(file)).arrayBuffer()), options);
  // The decoder comes first so the page can show a decode as soon as possible;
  // the encoder and classifier keep loading behind it.
  const decoder = await load(manifest.files.decoder);
  const encoder = needEncoder ? load(manifest.files.encoder) : null;
  const classifier = needClassifier && manifest.files.classifier ? load(manifest.files.classifier) : null;
  for (const pending of [encoder, classifier]) pending?.catch(showError);  // report failures at once
  const model = new Model(manifest, encoder, decoder, classifier);
  state.manifest = manifest;
  state.model = model;
  return model;
}

export class Model {
  constructor(manifest, encoder, decoder, classifier) {
    this.manifest = manifest;
    this.latent = manifest.latent_dim;
    this.encoder = encoder;  // a Promise of a session (or null)
    this.decoder = decoder;
    this.classifier = classifier;  // a Promise of a session (or null)
    this.busy = Promise.resolve();
  }

  // onnxruntime-web runs one call per session at a time: chain them.
  serial(task) {
    const next = this.busy.then(task, task);
    this.busy = next.catch(() => {});
    return next;
  }

  // codes: Float32Array (n * D); labels: array of n class indices (conditional decoders only).
  // Returns a Float32Array (n * 784) of pixels in [0, 1].
  decode(codes, labels = null) {
    return this.serial(async () => {
      const n = codes.length / this.latent;
      const feeds = { z: new ort.Tensor('float32', codes, [n, this.latent]) };
      if (this.manifest.conditional) {
        const oneHot = new Float32Array(n * NUM_CLASSES);
        for (let i = 0; i < n; i++) oneHot[i * NUM_CLASSES + ((labels && labels[i]) || 0)] = 1;
        feeds.label = new ort.Tensor('float32', oneHot, [n, NUM_CLASSES]);
      }
      const out = await this.decoder.run(feeds);
      state.decodeCount += 1;
      return out.image.data;
    });
  }

  // images: Float32Array (n * 784) in [0, 1] -> { mu, logvar } Float32Arrays (n * D).
  encode(images) {
    return this.serial(async () => {
      const n = images.length / PIXELS;
      const encoder = await this.encoder;
      const out = await encoder.run({ x: new ort.Tensor('float32', images, [n, PIXELS]) });
      return { mu: out.mu.data, logvar: out.logvar.data };
    });
  }

  classify(codes) {
    return this.serial(async () => {
      const n = codes.length / this.latent;
      const classifier = await this.classifier;
      const out = await classifier.run({ z: new ort.Tensor('float32', codes, [n, this.latent]) });
      return out.class_logits.data;
    });
  }

  // Routed models predict the class whose coordinates hold the largest mean (SPEC §1).
  routedPrediction(mu) {
    const routes = this.manifest.routes;
    if (!routes) return null;
    let best = 0, bestScore = -Infinity;
    routes.forEach((coords, label) => {
      const score = Math.max(...coords.map((c) => mu[c]));
      if (score > bestScore) { bestScore = score; best = label; }
    });
    return best;
  }
}

// A decode scheduler for live controls: at most one decode in flight, and only
// the latest request runs next, so dragging never queues stale work.
export function liveDecoder(model, onResult) {
  let pending = null, running = false;
  async function pump() {
    running = true;
    while (pending) {
      const { codes, labels } = pending;
      pending = null;
      try {
        const pixels = await model.decode(codes, labels);
        state.lastDecoded = pixels;
        state.lastVector = codes;
        onResult(pixels, codes, labels);
      } catch (error) { showError(error); }
    }
    running = false;
  }
  return (codes, labels = null) => {
    pending = { codes: Float32Array.from(codes), labels };
    if (!running) pump();
  };
}

export async function loadDigits(manifest) {
  const [pixels, labels, means] = await Promise.all(
    [manifest.files.digits, manifest.files.labels, manifest.files.means].map(
      async (file) => (await fetchOk(file)).arrayBuffer()));
  return {
    count: manifest.digits,
    pixels: new Uint8Array(pixels),
    labels: new Uint8Array(labels),
    means: new Float32Array(means),
    image(i) {  // Float32Array (784) in [0, 1], exactly as the Python side divides by 255
      const out = new Float32Array(PIXELS);
      for (let p = 0; p < PIXELS; p++) out[p] = this.pixels[i * PIXELS + p] / 255;
      return out;
    },
  };
}

// Draw 784 intensities (white ink on black, like MNIST) into a canvas at (x, y), scaled to size.
const scratch = document.createElement('canvas');
scratch.width = SIDE; scratch.height = SIDE;
export function drawDigit(canvas, pixels, x = 0, y = 0, size = null, offset = 0) {
  const sctx = scratch.getContext('2d');
  const image = sctx.createImageData(SIDE, SIDE);
  for (let p = 0; p < PIXELS; p++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, pixels[offset + p])));
    image.data[4 * p] = v; image.data[4 * p + 1] = v; image.data[4 * p + 2] = v; image.data[4 * p + 3] = 255;
  }
  sctx.putImageData(image, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, x, y, size ?? canvas.width, size ?? canvas.height);
}

export function formatVector(values) {
  return '[' + Array.from(values, (v) => v.toFixed(2)).join(', ') + ']';
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// Every page reports uncaught failures in its status line (and to the tests).
window.addEventListener('error', (event) => showError(event.error || event.message));
window.addEventListener('unhandledrejection', (event) => showError(event.reason));
