// Plane page (2-D models, SPEC §3): scatter of test means, hover to decode, a digit
// picker and the all-ten view for conditional decoders, decision regions, prior grid.
import { loadSite, loadDigits, liveDecoder, drawDigit, showError, setStatus, state, el, CLASS_COLOURS, NUM_CLASSES, PIXELS } from './lc.js';

const POINT_RADIUS = 2.2;
const KEY_STEP = 1 / 50;  // arrow keys move the point by this fraction of the plane
const REGION_ALPHA = 0.28;
const GRID_ALPHA = 0.8;  // the prior grid lets the scatter and regions show through a little

async function main() {
  const model = await loadSite({ needEncoder: false });
  const manifest = model.manifest;
  if (!manifest.features.plane) {
    setStatus(`This model has ${model.latent} latent coordinates; the plane needs 2. Try the sliders or the traversal.`);
    state.ready = true;
    return;
  }
  const digits = await loadDigits(manifest);
  const [x0, x1, y0, y1] = manifest.plane.extent;
  const plane = document.getElementById('plane');
  const ctx = plane.getContext('2d');
  const W = plane.width, H = plane.height;
  const toPixel = (x, y) => [(x - x0) / (x1 - x0) * W, (y1 - y) / (y1 - y0) * H];
  const toLatent = (px, py) => [x0 + px / W * (x1 - x0), y1 - py / H * (y1 - y0)];

  const output = document.getElementById('output');
  const pointText = document.getElementById('point');
  const tensBox = document.getElementById('tens');
  const tensGrid = document.getElementById('tens-grid');
  let label = 0;
  let point = [0, 0];

  // ---- layers: regions raster, prior grid, scatter, cursor
  let regions = null;
  if (manifest.plane.regions) {
    const raw = new Uint8Array(await (await fetch(manifest.plane.regions.file)).arrayBuffer());
    const n = manifest.plane.regions.resolution;
    regions = document.createElement('canvas');
    regions.width = n; regions.height = n;
    const rctx = regions.getContext('2d');
    const image = rctx.createImageData(n, n);
    raw.forEach((k, p) => {
      const c = CLASS_COLOURS[k];
      image.data.set([parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16), 255], 4 * p);
    });
    rctx.putImageData(image, 0, 0);
    document.getElementById('regions-toggle').hidden = false;
  }
  let grid = null;  // canvas of prior decodes, made on first use
  async function priorGrid() {
    const { range, steps } = manifest.prior_grid;
    const codes = new Float32Array(steps * steps * 2);
    const labels = new Array(steps * steps).fill(label);
    for (let r = 0; r < steps; r++) {
      for (let c = 0; c < steps; c++) {
        codes[2 * (r * steps + c)] = -range + (2 * range) * c / (steps - 1);
        codes[2 * (r * steps + c) + 1] = range - (2 * range) * r / (steps - 1);
      }
    }
    const pixels = await model.decode(codes, labels);
    const canvas = document.createElement('canvas');
    canvas.width = W; canvas.height = H;
    const [gx0, gy0] = toPixel(-range, range), [gx1, gy1] = toPixel(range, -range);
    const tile = (gx1 - gx0) / (steps - 1);
    for (let i = 0; i < steps * steps; i++) {
      const r = Math.floor(i / steps), c = i % steps;
      drawDigit(canvas, pixels, gx0 + c * tile - tile / 2, gy0 + r * tile - tile / 2, tile, i * PIXELS);
    }
    return canvas;
  }

  function render() {
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, W, H);
    if (regions && document.getElementById('regions').checked) {
      ctx.globalAlpha = REGION_ALPHA;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(regions, 0, 0, W, H);
      ctx.globalAlpha = 1;
    }
    if (grid && document.getElementById('grid').checked) {
      ctx.globalAlpha = GRID_ALPHA;
      ctx.drawImage(grid, 0, 0);
      ctx.globalAlpha = 1;
    }
    for (let i = 0; i < digits.count; i++) {
      const [px, py] = toPixel(digits.means[2 * i], digits.means[2 * i + 1]);
      ctx.fillStyle = CLASS_COLOURS[digits.labels[i]];
      ctx.beginPath(); ctx.arc(px, py, POINT_RADIUS, 0, 2 * Math.PI); ctx.fill();
    }
    const [cx, cy] = toPixel(...point);
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(cx - 8, cy); ctx.lineTo(cx + 8, cy); ctx.moveTo(cx, cy - 8); ctx.lineTo(cx, cy + 8); ctx.stroke();
  }

  // ---- decoding the hovered point
  const tens = [];
  const decode = liveDecoder(model, (pixels) => {
    const all = manifest.conditional && tensBox.checked;
    drawDigit(output, pixels, 0, 0, null, all ? label * PIXELS : 0);
    if (all) tens.forEach((canvas, k) => drawDigit(canvas, pixels, 0, 0, null, k * PIXELS));
    if (!state.ready) { state.ready = true; state.readyAt = performance.now(); setStatus(`Ready: ${manifest.name} (${manifest.kind}).`); }
  });
  function decodePoint(next) {
    point = next;
    state.lastPoint = point;
    pointText.textContent = `z = (${point[0].toFixed(2)}, ${point[1].toFixed(2)})`;
    if (manifest.conditional && tensBox.checked) {
      const codes = new Float32Array(2 * NUM_CLASSES);
      for (let k = 0; k < NUM_CLASSES; k++) codes.set(point, 2 * k);
      decode(codes, [...Array(NUM_CLASSES).keys()]);
    } else {
      decode(point, [label]);
    }
    render();
  }
  state.decodePoint = decodePoint;  // lets tests and the benchmark decode a given point

  const fromEvent = (event) => {
    const rect = plane.getBoundingClientRect();
    return toLatent((event.clientX - rect.left) * W / rect.width, (event.clientY - rect.top) * H / rect.height);
  };
  plane.addEventListener('pointermove', (event) => decodePoint(fromEvent(event)));
  plane.addEventListener('pointerdown', (event) => decodePoint(fromEvent(event)));
  plane.addEventListener('keydown', (event) => {
    const dx = (x1 - x0) * KEY_STEP, dy = (y1 - y0) * KEY_STEP;
    const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, dy], ArrowDown: [0, -dy] };
    if (!moves[event.key]) return;
    event.preventDefault();
    decodePoint([point[0] + moves[event.key][0], point[1] + moves[event.key][1]]);
  });

  // ---- legend and controls
  const legend = document.getElementById('legend');
  manifest.class_names.forEach((name, k) => legend.append(el('span', { style: `--c: ${CLASS_COLOURS[k]}`, text: name })));
  if (manifest.conditional) {
    const picker = document.getElementById('label');
    manifest.class_names.forEach((name, k) => picker.append(el('option', { value: k, text: name })));
    document.getElementById('label-picker').hidden = false;
    document.getElementById('tens-toggle').hidden = false;
    picker.addEventListener('change', async () => {
      label = Number(picker.value);
      if (grid) { grid = await priorGrid(); }
      decodePoint(point);
    });
    tensBox.addEventListener('change', () => {
      document.getElementById('tens-panel').hidden = !tensBox.checked;
      decodePoint(point);
    });
    for (let k = 0; k < NUM_CLASSES; k++) {
      const canvas = el('canvas', { class: 'digit small', width: 28, height: 28, 'aria-label': `digit ${manifest.class_names[k]}` });
      tens.push(canvas);
      tensGrid.append(canvas);
    }
  }
  if (manifest.prior_grid) {
    document.getElementById('grid-toggle').hidden = false;
    document.getElementById('grid').addEventListener('change', async () => {
      if (!grid) grid = await priorGrid();
      render();
    });
  }
  document.getElementById('regions').addEventListener('change', render);
  decodePoint([0, 0]);
}

main().catch(showError);
