// Shared by every page, with no onnxruntime in it (the overview page loads no model):
// the status line, the ready block, the header's navigation, fetching site files with
// errors a user can act on, the shipped test digits and small drawing helpers. The image
// shape and the pages come from the manifest (site_bundle.py), never from a constant here.

// Ten distinguishable colours (Tableau 10), one per class, for scatters, legends and bars.
export const CLASS_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

// Class k's colour as #rrggbb: Tableau 10 for the first ten, then hues a golden angle apart,
// so a run of up to 100 classes never repeats a colour in its first ten.
export function classColour(k) {
  if (k < CLASS_COLOURS.length) return CLASS_COLOURS[k];
  const hue = (k * 137.508) % 360, light = k % 2 ? 0.42 : 0.6;
  const f = (n) => {
    const a = (n + hue / 30) % 12, c = 0.65 * Math.min(light, 1 - light);
    return Math.round(255 * (light - c * Math.max(-1, Math.min(a - 3, 9 - a, 1)))).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

// The words pages use for the model's data: an example is a "digit" for digit classes
// (the manifest's "item"), else an "image"; a class is a "digit" or a "class".
export function words(manifest) {
  const item = manifest.item || 'digit';  // sites exported before "item" existed held digits
  const cls = item === 'digit' ? 'digit' : 'class';
  return { item, cls, Item: capital(item), Cls: capital(cls) };
}

const capital = (text) => text[0].toUpperCase() + text.slice(1);

// Text written for digits with `noun` in their place: "a digit" -> "an image", "digits" -> "classes".
export function swap(text, noun) {
  const plural = noun.endsWith('s') ? `${noun}es` : `${noun}s`;
  const article = /^[aeiou]/.test(noun) ? 'an' : 'a';
  return text.replace(/\b(a )?([dD])igit(s?)\b/g, (_, a, d, s) => {
    const word = s ? plural : noun;
    return (a ? `${article} ` : '') + (d === 'D' ? capital(word) : word);
  });
}

// "all ten digits" for MNIST's classes, else "all 4 classes".
export function allClassesText(manifest) {
  const { cls } = words(manifest);
  const count = manifest.class_names.length;
  return `all ${count === 10 ? 'ten' : count} ${cls === 'digit' ? 'digits' : 'classes'}`;
}

// The image shape in words: "32×32 RGB" or "28×28 grey".
export function shapeText({ width, height, channels }) {
  return `${width}×${height} ${channels === 1 ? 'grey' : 'RGB'}`;
}

export const MANIFEST_FILE = 'manifest.json';
const MANIFEST_FORMAT = 2;  // the manifest layout these pages read
const EXPORT_HINT = 're-run `latentcraft export RUN_DIR --out SITE_DIR` to rewrite the site';

// State the browser tests and benchmarks read (window.lc); pages add their own fields.
export const state = { ready: false, decodeCount: 0, lastDecoded: null, lastVector: null, errors: [] };
window.lc = state;

export function setStatus(text) {
  const box = document.getElementById('status');
  if (box) box.textContent = text;
}

export function showError(error) {
  const message = error?.message || String(error);
  state.errors.push(message);
  state.failed = true;
  const box = document.getElementById('status');
  if (box) { box.textContent = `Error: ${message}`; box.classList.add('error'); }
}

// The one "ready" block: every page calls it once its first result is on screen.
export function markReady(manifest, detail = '') {
  if (state.ready || state.failed) return;
  state.ready = true;
  state.readyAt = performance.now();
  setStatus(`Ready: ${manifest.name} (${manifest.kind}, ${manifest.latent_dim} latent coordinates)${detail}.`);
}

// A site file, or an error naming it and saying how to get it back.
export async function fetchOk(path) {
  let response;
  try {
    response = await fetch(path);
  } catch (error) {
    throw new Error(`${path} could not be fetched (${error.message}); is the server still running?`);
  }
  if (!response.ok) {
    const why = response.status === 404 ? 'is missing from this folder' : `could not be read (HTTP ${response.status})`;
    throw new Error(`${path} ${why}; ${EXPORT_HINT}.`);
  }
  return response;
}

export async function fetchBytes(path) {
  return new Uint8Array(await (await fetchOk(path)).arrayBuffer());
}

export function corruptFile(path, detail) {
  return new Error(`${path} is damaged (${detail}); ${EXPORT_HINT}.`);
}

// The model this page shows. A site exported from one run has that run's manifest at its
// root; a site of several runs has a root manifest listing them ("models": [{name, dir,
// ...}]) and each model's manifest in its own folder, picked by the URL's #model=NAME.
export async function readManifest() {
  const root = await readJson(MANIFEST_FILE);
  const manifest = await openModel(root, readHash().model);
  state.manifest = manifest;
  showNavigation(manifest);
  fitDigitCanvases(manifest.image);
  nameItems(manifest);
  return manifest;
}

// Static page text written for digits ("Random digit", "Draw a digit") names this model's
// data instead: leaf elements marked data-item speak of an example, data-cls of a class.
export function nameItems(manifest) {
  const { item, cls } = words(manifest);
  if (item === 'digit') return;
  for (const [attribute, noun] of [['data-item', item], ['data-cls', cls]]) {
    for (const node of document.querySelectorAll(`[${attribute}]`)) {
      if (!node.children.length) node.textContent = swap(node.textContent, noun);
      for (const name of ['aria-label', 'title']) {
        if (node.hasAttribute(name)) node.setAttribute(name, swap(node.getAttribute(name), noun));
      }
    }
  }
}

// The site's root manifest: a model's own, or the list of a several-model site.
export async function readSite() {
  return readJson(MANIFEST_FILE);
}

// The manifest of the model `name` (the first when absent or unknown) in the site `root`.
export async function openModel(root, name) {
  let manifest = root, base = '';
  if (Array.isArray(root.models)) {
    if (!root.models.length) throw corruptFile(MANIFEST_FILE, 'it lists no models');
    const entry = root.models.find((m) => m.name === name) || root.models[0];
    base = `${entry.dir}/`;
    manifest = { ...await readJson(`${base}${MANIFEST_FILE}`), runtime: root.runtime, pages: root.pages };
  }
  if (!manifest.files || !manifest.latent_dim || !manifest.image) {
    throw corruptFile(`${base}${MANIFEST_FILE}`, 'it lacks "files", "latent_dim" or "image"');
  }
  const { height, width, channels } = manifest.image;
  manifest.image.size = height * width * channels;  // values per image, as the digits file and the graphs hold them
  manifest.base = base;  // prefix of the model's files, relative to the site
  manifest.models = root.models || null;
  return manifest;
}

async function readJson(path) {
  const text = await (await fetchOk(path)).text();
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corruptFile(path, `not valid JSON: ${error.message}`);
  }
  if (typeof value !== 'object' || value === null) throw corruptFile(path, 'not a JSON object');
  if (value.format > MANIFEST_FORMAT) {
    throw new Error(`${path} has format ${value.format}, newer than these pages (${MANIFEST_FORMAT}); ${EXPORT_HINT}.`);
  }
  return value;
}

// A model file's path relative to the site.
export function modelFile(manifest, name) {
  return `${manifest.base || ''}${name}`;
}

// Whether this model (and its site) has what a page needs: { feature, models } as the
// manifest's "pages" entries and the navigation's data-feature / data-models give it.
export function hasPage(manifest, { feature = null, models = 1 }) {
  return (!feature || Boolean(manifest.features[feature])) && (manifest.models?.length || 1) >= Number(models);
}

// The header's links (written by the export from its page list, those a model may lack
// hidden): show the pages this model has, mark the current one, and add a model picker
// when the site holds several models.
export function showNavigation(manifest) {
  const nav = document.querySelector('header nav');
  if (!nav) return;
  const here = location.pathname.split('/').pop() || 'index.html';
  for (const link of nav.querySelectorAll('a')) {
    link.hidden = !hasPage(manifest, link.dataset);
    if (link.getAttribute('href') === here) link.setAttribute('aria-current', 'page');
  }
  const several = manifest.models?.length > 1;
  const comparing = (manifest.pages || []).some((p) => p.file === here && p.models > 1);
  if (several && !comparing) {
    const picker = el('select', { id: 'model', 'aria-label': 'model' },
      ...manifest.models.map((m) => el('option', { value: m.name, text: m.name })));
    picker.value = manifest.name;
    // Another model has other coordinates: start its view afresh.
    picker.addEventListener('change', () => {
      history.replaceState(null, '', `#model=${encodeURIComponent(picker.value)}`);
      location.reload();
    });
    nav.append(el('label', { class: 'model-picker' }, 'Model ', picker));
  }
}

// The URL's hash as { key: value } ("#model=a&z=1,2"); see urlstate.js for writing it.
export function readHash() {
  const values = {};
  for (const part of location.hash.replace(/^#/, '').split('&')) {
    if (!part) continue;
    const at = part.indexOf('=');
    const key = decodeURIComponent(at < 0 ? part : part.slice(0, at));
    values[key] = at < 0 ? '' : decodeURIComponent(part.slice(at + 1));
  }
  return values;
}

// The shipped test digits: uint8 pixels, labels and float32 encoder means.
export async function loadDigits(manifest) {
  const [digitsFile, labelsFile, meansFile] = ['digits', 'labels', 'means'].map((k) => modelFile(manifest, manifest.files[k]));
  const [pixels, labels, means] = await Promise.all([digitsFile, labelsFile, meansFile].map(fetchBytes));
  const count = manifest.digits;
  const size = manifest.image.size;
  const expected = [[digitsFile, pixels, count * size], [labelsFile, labels, count],
    [meansFile, means, count * manifest.latent_dim * 4]];
  for (const [file, bytes, length] of expected) {
    if (bytes.length !== length) throw corruptFile(file, `${bytes.length} bytes where the manifest implies ${length}`);
  }
  return {
    count,
    pixels,
    labels,
    means: new Float32Array(means.buffer),
    image(i) {  // Float32Array (image.size) in [0, 1], exactly as the Python side divides by 255
      const out = new Float32Array(size);
      for (let p = 0; p < size; p++) out[p] = this.pixels[i * size + p] / 255;
      return out;
    },
  };
}

// One image's pixels drawn at the image's own resolution: set every digit canvas of the
// page (class "digit") to it, and make new ones with digitCanvas. The canvases keep their
// fixed square CSS box (nothing moves when images change) and the stylesheet scales the
// image into it whole, nearest-neighbour (object-fit: contain; image-rendering: pixelated),
// so a small image comes out large and crisp and an oblong one is letterboxed, not stretched.
export function fitDigitCanvases(image) {
  for (const canvas of document.querySelectorAll('canvas.digit')) {
    canvas.width = image.width;
    canvas.height = image.height;
  }
  document.documentElement.classList.toggle('oblong', image.width !== image.height);
}

// A canvas for `columns` x `rows` images side by side.
export function digitCanvas(image, attributes = {}, columns = 1, rows = 1) {
  return el('canvas', { ...attributes, width: image.width * columns, height: image.height * rows });
}

// Draw one image of the manifest's shape (intensities in [0, 1], planar channels: one is
// grey, white ink on black like MNIST; three are red, green, blue) into a canvas at (x, y),
// scaled by `scale` (default: to fill the canvas).
const scratch = document.createElement('canvas');
export function drawDigit(canvas, image, pixels, x = 0, y = 0, scale = null, offset = 0) {
  const { width, height, channels } = image;
  if (scratch.width !== width || scratch.height !== height) { scratch.width = width; scratch.height = height; }
  const sctx = scratch.getContext('2d');
  const data = sctx.createImageData(width, height);
  const plane = width * height;
  const value = (p, c) => Math.round(255 * Math.min(1, Math.max(0, pixels[offset + (channels === 1 ? 0 : c * plane) + p])));
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) data.data[4 * p + c] = value(p, c);
    data.data[4 * p + 3] = 255;
  }
  sctx.putImageData(data, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, x, y, scale === null ? canvas.width : width * scale, scale === null ? canvas.height : height * scale);
}

// Two decimals, without the "-0.00" of a tiny negative value.
export function fixed2(value) {
  return (Math.abs(value) < 0.005 ? 0 : value).toFixed(2);
}

export function formatVector(values) {
  return '[' + Array.from(values, fixed2).join(', ') + ']';
}

// A short number for labels: at most two decimals, no trailing zeros ("0.5", "3", "-1.25").
export function shortNumber(value) {
  return String(Number(value.toFixed(2)));
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
