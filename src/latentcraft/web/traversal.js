// Traversal page (SPEC §2): encode one test digit, sweep one coordinate (or all of
// them, one row each) across its range, decode every step.
import { loadSite, loadDigits, drawDigit, showError, setStatus, state, el, PIXELS, SIDE } from './lc.js';

const STEPS = 10;  // decodes per row, as in the write-up

async function main() {
  const model = await loadSite({ needEncoder: true });
  const manifest = model.manifest;
  const digits = await loadDigits(manifest);
  document.getElementById('plane-link').hidden = !manifest.features.plane;
  const index = document.getElementById('index');
  const coordinate = document.getElementById('coordinate');
  const strip = document.getElementById('strip');
  index.max = String(digits.count - 1);
  manifest.coordinate_labels.forEach((owner, k) => {
    const text = manifest.routes ? `z${k} (${owner === 'free' ? 'free' : `digit ${owner}`})` : owner;
    coordinate.append(el('option', { value: k, text }));
  });
  coordinate.append(el('option', { value: 'all', text: 'all coordinates (one row each)' }));

  const steps = (k) => {
    const { min, max } = manifest.sliders[k];
    return Array.from({ length: STEPS }, (_, s) => min + (max - min) * s / (STEPS - 1));
  };

  async function update() {
    const i = Math.min(digits.count - 1, Math.max(0, Math.floor(Number(index.value) || 0)));
    const image = digits.image(i);
    drawDigit(document.getElementById('input'), image);
    document.getElementById('caption').textContent = `#${i}, label ${manifest.class_names[digits.labels[i]]}`;
    const { mu } = await model.encode(image);
    const rows = coordinate.value === 'all' ? [...Array(model.latent).keys()] : [Number(coordinate.value)];
    const codes = new Float32Array(rows.length * STEPS * model.latent);
    rows.forEach((k, r) => steps(k).forEach((v, s) => {
      const offset = (r * STEPS + s) * model.latent;
      codes.set(mu, offset);
      codes[offset + k] = v;
    }));
    const labels = new Array(rows.length * STEPS).fill(digits.labels[i]);
    const pixels = await model.decode(codes, labels);
    strip.height = SIDE * rows.length;
    strip.style.aspectRatio = `${STEPS} / ${rows.length}`;
    for (let n = 0; n < rows.length * STEPS; n++) {
      drawDigit(strip, pixels, (n % STEPS) * SIDE, Math.floor(n / STEPS) * SIDE, SIDE, n * PIXELS);
    }
    document.getElementById('title').textContent = rows.length === 1
      ? `z${rows[0]} from ${manifest.sliders[rows[0]].min} to ${manifest.sliders[rows[0]].max}`
      : `every coordinate, each across its own range`;
    document.getElementById('values').textContent = rows.length === 1
      ? steps(rows[0]).map((v) => v.toFixed(2)).join('  ') : '';
    state.lastDecoded = pixels;
    state.lastRows = rows;
    if (!state.ready) { state.ready = true; state.readyAt = performance.now(); setStatus(`Ready: ${manifest.name}.`); }
  }
  const run = () => update().catch(showError);
  index.addEventListener('change', run);
  coordinate.addEventListener('change', run);
  const random = document.getElementById('random');
  random.addEventListener('click', () => { index.value = String(Math.floor(Math.random() * digits.count)); run(); });
  random.disabled = false;
  await update();
}

main().catch(showError);
