// Sliders page: one slider per latent coordinate, live decoding, random test digits
// and free-hand drawing (SPEC §1 demo, with drawing enabled).
import { loadSite, loadDigits, liveDecoder, drawDigit, formatVector, showError, setStatus, state, el, NUM_CLASSES } from './lc.js';
import { preprocessDrawing } from './preprocess.js';

const PEN_WIDTH = 22;  // pixels on the 280x280 pad: about 2 MNIST pixels after scaling a full-height digit

async function main() {
  const model = await loadSite({ needEncoder: true });
  const manifest = model.manifest;
  const digits = await loadDigits(manifest);
  const vector = new Float32Array(model.latent);
  let label = 0;

  const output = document.getElementById('output');
  const input = document.getElementById('input');
  const caption = document.getElementById('input-caption');
  const vectorText = document.getElementById('vector');
  const prediction = document.getElementById('prediction');
  document.getElementById('plane-link').hidden = !manifest.features.plane;

  const decode = liveDecoder(model, (pixels) => {
    drawDigit(output, pixels);
    if (!state.ready) {
      state.ready = true;
      state.readyAt = performance.now();
      setStatus(`Ready: ${manifest.name} (${manifest.kind}, ${model.latent} latent coordinates).`);
    }
  });
  const redecode = () => decode(vector, [label]);

  // ---- sliders
  const box = document.getElementById('sliders');
  const sliders = manifest.sliders.map((range, k) => {
    const id = `z${k}`;
    const slider = el('input', { type: 'range', id, min: range.min, max: range.max, step: range.step, value: 0 });
    const value = el('output', { for: id, text: '0.00' });
    const owner = manifest.coordinate_labels[k];
    const text = manifest.routes ? `z${k} · ${owner === 'free' ? 'free' : `digit ${owner}`}` : owner;
    box.append(el('label', { for: id, text }), slider, value);
    slider.addEventListener('input', () => {
      vector[k] = Number(slider.value);
      value.textContent = vector[k].toFixed(2);
      showVector();
      redecode();
    });
    return { slider, value };
  });

  function showVector() {
    vectorText.textContent = `z = ${formatVector(vector)}`;
  }

  // Sliders show the nearest position in their range; the vector keeps the exact code.
  function setVector(values) {
    vector.set(values);
    sliders.forEach(({ slider, value }, k) => {
      slider.value = String(vector[k]);
      value.textContent = vector[k].toFixed(2);
    });
    showVector();
    redecode();
  }

  // ---- conditional decoders need a label
  if (manifest.conditional) {
    const picker = document.getElementById('label');
    manifest.class_names.forEach((name, k) => picker.append(el('option', { value: k, text: name })));
    document.getElementById('label-picker').hidden = false;
    picker.addEventListener('change', () => { label = Number(picker.value); redecode(); });
    state.setLabel = (k) => { picker.value = String(k); label = k; redecode(); };
  }

  async function showEncoding(pixels, text) {
    drawDigit(input, pixels);
    const { mu } = await model.encode(pixels);
    state.lastMu = mu;
    const predicted = model.routedPrediction(mu);
    state.lastPrediction = predicted;
    caption.textContent = predicted === null ? text : `${text} · read as ${manifest.class_names[predicted]}`;
    setVector(mu);
    return predicted;
  }

  document.getElementById('random').addEventListener('click', async () => {
    const i = Math.floor(Math.random() * digits.count);
    state.lastDigit = i;
    if (manifest.conditional) state.setLabel(digits.labels[i]);
    await showEncoding(digits.image(i), `test digit #${i} (label ${manifest.class_names[digits.labels[i]]})`);
  });
  document.getElementById('reset').addEventListener('click', () => setVector(new Float32Array(model.latent)));
  state.showDigit = async (i) => {
    state.lastDigit = i;
    return showEncoding(digits.image(i), `test digit #${i} (label ${manifest.class_names[digits.labels[i]]})`);
  };

  // ---- drawing
  if (manifest.features.drawing) setUpDrawing(async (ink, width, height) => {
    const pixels = preprocessDrawing(ink, width, height);
    state.lastInk = ink;
    state.inkShape = [height, width];
    state.lastPreprocessed = pixels;
    if (!pixels) return;
    const predicted = await showEncoding(pixels, 'your drawing');
    prediction.textContent = predicted === null ? '–' : manifest.class_names[predicted];
    state.drawCount = (state.drawCount || 0) + 1;
  }, () => { prediction.textContent = '–'; });

  for (const id of ['random', 'reset']) document.getElementById(id).disabled = false;
  showVector();
  redecode();
}

function setUpDrawing(onStroke, onClear) {
  document.getElementById('draw-panel').hidden = false;
  const pad = document.getElementById('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true });
  const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, pad.width, pad.height); };
  clear();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = PEN_WIDTH;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  let last = null;
  // The pad may be drawn smaller than its 280x280 pixels on a narrow screen.
  const point = (event) => {
    const rect = pad.getBoundingClientRect();
    return [(event.clientX - rect.left) * pad.width / rect.width, (event.clientY - rect.top) * pad.height / rect.height];
  };
  pad.addEventListener('pointerdown', (event) => {
    pad.setPointerCapture(event.pointerId);
    last = point(event);
    ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...last); ctx.stroke();
  });
  pad.addEventListener('pointermove', (event) => {
    if (!last) return;
    const next = point(event);
    ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...next); ctx.stroke();
    last = next;
  });
  const finish = () => {
    if (!last) return;
    last = null;
    const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data;
    const ink = new Float32Array(pad.width * pad.height);
    for (let p = 0; p < ink.length; p++) ink[p] = rgba[4 * p] / 255;  // white ink on black: red channel
    onStroke(ink, pad.width, pad.height).catch(showError);
  };
  pad.addEventListener('pointerup', finish);
  pad.addEventListener('pointercancel', finish);
  document.getElementById('clear').addEventListener('click', () => { clear(); onClear(); });
}

main().catch(showError);
