// The model in the browser: onnxruntime-web sessions for the exported graphs, encode,
// decode, and a prediction wherever the model can make one. Only the pages that run
// the model import this file (it loads the runtime).
import * as ort from '../vendor/ort.wasm.bundle.min.mjs';
import { state, showError, fetchBytes, corruptFile, modelFile } from './page.js';
import { routedScores } from './coordinates.js';

state.runtimeVersion = ort.env.versions?.web || null;

// Load the graphs a page needs, all at once; the page is not ready until every one is.
// The runtime is single-threaded on purpose: threads need cross-origin isolation
// headers that plain static hosts do not send.
export async function loadModel(manifest, { encoder = true, classifier = false } = {}) {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { wasm: new URL(manifest.runtime.wasm, location.href).href };
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const load = async (name) => {
    const file = modelFile(manifest, name);
    const bytes = await fetchBytes(file);
    try {
      return await ort.InferenceSession.create(bytes, options);
    } catch (error) {
      // The runtime's own text ("ERROR_CODE: 0, ...") tells a reader nothing: keep it for
      // debugging and say what it means.
      state.runtimeError = String(error?.message || error);
      throw corruptFile(file, 'not a model graph onnxruntime-web can read: truncated or damaged');
    }
  };
  const files = manifest.files;
  const wanted = [files.decoder, encoder ? files.encoder : null, classifier ? files.classifier : null];
  const [decoderSession, encoderSession, classifierSession] = await Promise.all(wanted.map((f) => f && load(f)));
  const model = new Model(manifest, encoderSession, decoderSession, classifierSession);
  state.model = model;
  return model;
}

export class Model {
  constructor(manifest, encoder, decoder, classifier) {
    this.manifest = manifest;
    this.latent = manifest.latent_dim;
    this.encoder = encoder;
    this.decoder = decoder;
    this.classifier = classifier;
    this.busy = Promise.resolve();
  }

  // onnxruntime-web runs one call per session at a time: chain them.
  serial(task) {
    const next = this.busy.then(task, task);
    this.busy = next.catch(() => {});
    return next;
  }

  // codes: Float32Array (n * D); labels: n class indices (for a decoder that takes a label).
  // Returns a Float32Array (n * image.size) of pixels in [0, 1].
  decode(codes, labels = null) {
    return this.serial(async () => {
      const n = codes.length / this.latent;
      const feeds = { z: new ort.Tensor('float32', Float32Array.from(codes), [n, this.latent]) };
      if (this.manifest.label_input) {
        const classes = this.manifest.class_names.length;
        const oneHot = new Float32Array(n * classes);
        // A label this model lacks (another model's class, in a compare view) decodes as class 0.
        const valid = (k) => (Number.isInteger(k) && k >= 0 && k < classes ? k : 0);
        for (let i = 0; i < n; i++) oneHot[i * classes + valid(labels && labels[i])] = 1;
        feeds.label = new ort.Tensor('float32', oneHot, [n, classes]);
      }
      const out = await this.decoder.run(feeds);
      state.decodeCount += 1;
      return out.image.data;
    });
  }

  // images: Float32Array (n * image.size) in [0, 1] -> { mu, logvar } Float32Arrays (n * D).
  encode(images) {
    return this.serial(async () => {
      const size = this.manifest.image.size;
      const n = images.length / size;
      const out = await this.encoder.run({ x: new ort.Tensor('float32', images, [n, size]) });
      return { mu: out.mu.data, logvar: out.logvar.data };
    });
  }

  // codes (n * D) -> class logits (n * classes) from the classifier head.
  classify(codes) {
    return this.serial(async () => {
      const n = codes.length / this.latent;
      const out = await this.classifier.run({ z: new ort.Tensor('float32', Float32Array.from(codes), [n, this.latent]) });
      return out.class_logits.data;
    });
  }

  // Which prediction this model makes: its classifier head, else the argmax of its routes.
  get predictionSource() {
    if (this.classifier) return 'head';
    return this.manifest.routes ? 'routes' : null;
  }

  // One encoder mean (D) -> { predicted, values (probabilities or routed means), scores
  // (the values scaled into [0, 1] for a bar), source }, or null when it cannot predict.
  // `predicted` is null when several classes share the top value (an all-zero routed
  // code ties every class): a tie names no class, not the first of them.
  async predict(mu) {
    const source = this.predictionSource;
    if (source === null) return null;
    const raw = source === 'head' ? softmax(await this.classify(mu)) : routedScores(this.manifest, mu);
    const best = Math.max(...raw);
    const winners = raw.filter((v) => v === best).length;
    const predicted = winners === 1 ? raw.indexOf(best) : null;
    const top = Math.max(...raw.map((v) => Math.max(v, 0))) || 1;
    return { predicted, values: raw, scores: raw.map((v) => Math.max(v, 0) / top), source };
  }

  // How the model reads an image (image.size values in [0, 1], e.g. a decode): encode it
  // and predict from its mean, as for a test digit or a drawing.
  async readImage(pixels) {
    if (this.predictionSource === null) return null;
    const { mu } = await this.encode(Float32Array.from(pixels));
    return this.predict(mu);
  }
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

// A decode scheduler for live controls: at most one decode in flight, and only
// the latest request runs next, so dragging never queues stale work. `track`: record
// the result as the page's main decode (window.lc.lastDecoded / lastVector).
export function liveDecoder(model, onResult, track = true) {
  let pending = null, running = false;
  async function pump() {
    running = true;
    while (pending) {
      const { codes, labels } = pending;
      pending = null;
      try {
        const pixels = await model.decode(codes, labels);
        if (track) {
          state.lastDecoded = pixels;
          state.lastVector = codes;
        }
        await onResult(pixels, codes, labels);  // a reading of the decode finishes before the next decode
      } catch (error) { showError(error); }
    }
    running = false;
  }
  return (codes, labels = null) => {
    pending = { codes: Float32Array.from(codes), labels };
    if (!running) pump();
  };
}
