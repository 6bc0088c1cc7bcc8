// Plane page (2-D models): the scatter of test means on axes with ticks and the origin,
// hover or drag to decode a point (the decode stays in view beside or above the plot),
// a digit picker and the all-ten view for decoders that take a label, a highlighted class,
// the head's decision regions and reading, and the prior-sample grid.
import { readManifest, openModel, loadDigits, drawDigit, showError, markReady, setStatus, state, el, fetchBytes, corruptFile, modelFile, digitCanvas, classColour, words, allClassesText } from '../lib/page.js';
import { loadModel, liveDecoder } from '../lib/model.js';
import { readHash, readNumbers, readInteger, writeHash, numbersText, copyLinkButton } from '../lib/urlstate.js';
import { ScoreBar, showPrediction } from '../lib/scorebar.js';
import { planeAxes } from '../lib/axes.js';

const POINT_RADIUS = 2.2;
const KEY_STEP = 1 / 50;  // arrow keys move the point by this fraction of the plane
const REGION_ALPHA = 0.28;
const GRID_ALPHA = 0.8;  // the prior grid lets the scatter and regions show through a little
const FADED_ALPHA = 0.18;  // points of the other classes while one class is highlighted
const $ = (id) => document.getElementById(id);

async function main() {
  const manifest = await readManifest();
  if (!manifest.features.plane) {
    // No plane to show: no empty canvas, controls or decode under the message either.
    $('controls').hidden = $('plane-layout').hidden = true;
    setStatus(`This model has ${manifest.latent_dim} latent coordinates; the plane needs 2. Try the sliders or the traversal.`);
    state.ready = true;
    return;
  }
  const model = await loadModel(manifest, { encoder: false, classifier: Boolean(manifest.files.classifier) });
  const digits = await loadDigits(manifest);
  const plane = $('plane');
  const axes = planeAxes(plane, manifest.plane.extent);
  const names = manifest.class_names;
  const image = manifest.image;
  const { cls } = words(manifest);
  let label = 0;  // the label a decoder that takes one is given
  let point = [0, 0];
  copyLinkButton($('controls'));

  // ---- layers drawn under the points: the head's decision regions and the prior grid
  const regions = manifest.plane.regions ? await regionImage(manifest, manifest.plane.regions) : null;
  $('regions-toggle').hidden = !regions;
  let grid = null;  // { canvas, label } of prior decodes, made on first use
  async function priorGrid() {
    const { range, steps } = manifest.prior_grid;
    const codes = new Float32Array(steps * steps * 2);
    for (let r = 0; r < steps; r++) {
      for (let c = 0; c < steps; c++) {
        codes[2 * (r * steps + c)] = -range + (2 * range) * c / (steps - 1);
        codes[2 * (r * steps + c) + 1] = range - (2 * range) * r / (steps - 1);
      }
    }
    const pixels = await model.decode(codes, new Array(steps * steps).fill(label));
    // Square tiles, as the grid's points are square in the plane: an oblong image sits centred in its tile.
    const tile = Math.max(image.width, image.height);
    const [dx, dy] = [Math.floor((tile - image.width) / 2), Math.floor((tile - image.height) / 2)];
    const canvas = el('canvas', { width: tile * steps, height: tile * steps });
    for (let i = 0; i < steps * steps; i++) {
      drawDigit(canvas, image, pixels, (i % steps) * tile + dx, Math.floor(i / steps) * tile + dy, 1, i * image.size);
    }
    return { canvas, label };
  }

  const highlighted = () => (manifest.label_input ? label : ($('highlight').value === '' ? null : Number($('highlight').value)));

  function render() {
    const ctx = axes.begin();
    if (regions && $('regions').checked) axes.image(regions, manifest.plane.extent, REGION_ALPHA, false);
    if (grid && $('grid').checked) {
      const { range, steps } = manifest.prior_grid;
      const half = range / (steps - 1);  // tiles are centred on the grid's points
      axes.image(grid.canvas, [-range - half, range + half, -range - half, range + half], GRID_ALPHA, true);
    }
    axes.frame();
    const chosen = highlighted();
    for (let pass = 0; pass < 2; pass++) {  // faded classes first, the highlighted one on top
      for (let i = 0; i < digits.count; i++) {
        const mine = chosen === null || digits.labels[i] === chosen;
        if (mine !== (pass === 1)) continue;
        ctx.globalAlpha = mine ? 1 : FADED_ALPHA;
        ctx.fillStyle = classColour(digits.labels[i]);
        const [px, py] = axes.toPixel(digits.means[2 * i], digits.means[2 * i + 1]);
        ctx.beginPath(); ctx.arc(px, py, chosen !== null && mine ? POINT_RADIUS * 1.4 : POINT_RADIUS, 0, 2 * Math.PI); ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
    axes.cursor(point);
  }

  // ---- decoding (and, with a head, reading) the chosen point
  const tens = [];
  const reading = model.predictionSource === 'head' ? new ScoreBar($('reading'), names, cls) : null;
  $('reading').hidden = !reading;
  const decode = liveDecoder(model, (pixels) => {
    const all = manifest.label_input && $('tens').checked;
    drawDigit($('output'), image, pixels, 0, 0, null, all ? label * image.size : 0);
    if (all) tens.forEach((canvas, k) => drawDigit(canvas, image, pixels, 0, 0, null, k * image.size));
    markReady(manifest);
  });
  // ---- another 2-D model of the site decoding the same point (a compare view)
  let other = null;  // { manifest, decode }
  async function openOther(name) {
    const entry = manifest.models.find((m) => m.name === name);
    $('other-figure').hidden = !entry;
    if (!entry) { other = null; return; }
    const otherManifest = await openModel({ models: manifest.models, runtime: manifest.runtime }, name);
    const otherModel = await loadModel(otherManifest, { encoder: false });
    $('other-caption').textContent = `${name}, same point`;
    other = {
      manifest: otherManifest,
      decode: liveDecoder(otherModel, (pixels, codes) => {
        drawDigit($('other'), otherManifest.image, pixels);
        state.otherDecoded = pixels;
        state.otherPoint = Array.from(codes);
      }, false),
    };
    state.otherModel = otherModel;
  }
  const others = (manifest.models || []).filter((m) => m.name !== manifest.name && m.features.plane && m.latent_dim === 2);
  $('compare-picker').hidden = others.length === 0;
  others.forEach((m) => $('compare').append(el('option', { value: m.name, text: m.name })));
  $('compare').addEventListener('change', () => openOther($('compare').value).then(() => decodePoint(point)).catch(showError));

  async function decodePoint(next) {
    point = [Math.fround(next[0]), Math.fround(next[1])];
    state.lastPoint = point;
    other?.decode(point, [highlighted() ?? 0]);  // an other model that takes a label draws the picked digit
    $('point').textContent = `z = (${point[0].toFixed(2)}, ${point[1].toFixed(2)})`;
    if (manifest.label_input && $('tens').checked) {
      const codes = new Float32Array(2 * names.length);
      for (let k = 0; k < names.length; k++) codes.set(point, 2 * k);
      decode(codes, [...names.keys()]);
    } else {
      decode(point, [label]);
    }
    render();
    saveView();
    if (reading) {
      const read = point;
      const prediction = await model.predict(Float32Array.from(read));
      showPrediction($('prediction'), prediction, names);
      reading.show(prediction);
      state.lastPrediction = prediction.predicted;
      state.predictedPoint = read;
    }
  }
  state.decodePoint = decodePoint;  // lets tests and the benchmark decode a given point

  function saveView() {
    writeHash({
      p: numbersText(point), label: manifest.label_input ? label : null,
      hl: manifest.label_input ? null : $('highlight').value || null,
      tens: $('tens').checked, regions: $('regions').checked, grid: $('grid').checked, vs: other?.manifest.name,
    });
  }

  // Mouse hover, or a finger or pen dragged on the plane (touch-action: none keeps the page still).
  let dragging = false;
  plane.addEventListener('pointerdown', (event) => {
    dragging = true;
    plane.setPointerCapture(event.pointerId);
    decodePoint(axes.fromEvent(event)).catch(showError);
  });
  plane.addEventListener('pointermove', (event) => {
    if (event.pointerType === 'mouse' || dragging) decodePoint(axes.fromEvent(event)).catch(showError);
  });
  for (const end of ['pointerup', 'pointercancel']) plane.addEventListener(end, () => { dragging = false; });
  plane.addEventListener('keydown', (event) => {
    const [x0, x1, y0, y1] = manifest.plane.extent;
    const dx = (x1 - x0) * KEY_STEP, dy = (y1 - y0) * KEY_STEP;
    const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, dy], ArrowDown: [0, -dy] };
    if (!moves[event.key]) return;
    event.preventDefault();
    decodePoint([point[0] + moves[event.key][0], point[1] + moves[event.key][1]]).catch(showError);
  });

  // ---- legend and controls
  names.forEach((name, k) => $('legend').append(el('span', { style: `--c: ${classColour(k)}`, text: name })));
  const redraw = () => decodePoint(point).catch(showError);
  if (manifest.label_input) {
    names.forEach((name, k) => $('label').append(el('option', { value: k, text: name })));
    $('label-picker').hidden = false;
    $('tens-toggle').hidden = false;
    $('tens-text').textContent = allClassesText(manifest);
    $('tens-title').textContent = `${allClassesText(manifest).replace(/^a/, 'A')} in this style`;
    $('label').addEventListener('change', () => { label = Number($('label').value); updateGrid().then(redraw, showError); });
    $('tens').addEventListener('change', () => { $('tens-panel').hidden = !$('tens').checked; redraw(); });
    for (const name of names) {
      const canvas = digitCanvas(image, { class: 'digit small', 'aria-label': `${cls} ${name}` });
      tens.push(canvas);
      $('tens-grid').append(canvas);
    }
  } else {
    names.forEach((name, k) => $('highlight').append(el('option', { value: k, text: name })));
    $('highlight-picker').hidden = false;
    $('highlight').addEventListener('change', redraw);
  }
  async function updateGrid() {
    if ($('grid').checked && (!grid || grid.label !== label)) grid = await priorGrid();
  }
  $('grid-toggle').hidden = !manifest.prior_grid;
  $('grid').addEventListener('change', () => updateGrid().then(redraw, showError));
  $('regions').addEventListener('change', redraw);
  // Re-lay out on the next frame: resizing inside the observer's callback would re-trigger it.
  new ResizeObserver(() => requestAnimationFrame(() => { if (axes.fit()) render(); })).observe(plane);

  // ---- the view a link describes
  const hash = readHash();
  const saved = readNumbers(hash.p, 2);
  const savedLabel = readInteger(hash.label, 0, names.length - 1);
  if (manifest.label_input && savedLabel !== null) { label = savedLabel; $('label').value = String(label); }
  const savedHighlight = readInteger(hash.hl, 0, names.length - 1);
  if (!manifest.label_input && savedHighlight !== null) $('highlight').value = String(savedHighlight);
  $('tens').checked = manifest.label_input && hash.tens === '1';
  $('tens-panel').hidden = !$('tens').checked;
  $('regions').checked = Boolean(regions) && hash.regions === '1';
  $('grid').checked = Boolean(manifest.prior_grid) && hash.grid === '1';
  if (others.some((m) => m.name === hash.vs)) { $('compare').value = hash.vs; await openOther(hash.vs); }
  await updateGrid();
  await decodePoint(saved || [0, 0]);
}

// The head's argmax on a grid of the plane (row 0 at the top), as a class-coloured image.
async function regionImage(manifest, { file: name, resolution: n }) {
  const file = modelFile(manifest, name);
  const raw = await fetchBytes(file);
  if (raw.length !== n * n) throw corruptFile(file, `${raw.length} bytes where ${n}×${n} were expected`);
  const canvas = el('canvas', { width: n, height: n });
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(n, n);
  raw.forEach((k, p) => {
    const c = classColour(k);
    image.data.set([parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16), 255], 4 * p);
  });
  ctx.putImageData(image, 0, 0);
  return canvas;
}

main().catch(showError);
