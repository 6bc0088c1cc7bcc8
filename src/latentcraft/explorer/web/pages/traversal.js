// Traversal page: encode one test image, sweep one coordinate (or every one, a row
// each) across its slider range and decode every step. Rows are labelled with the
// coordinate and the class that owns it, columns with the values.
import { readManifest, loadDigits, drawDigit, showError, markReady, shortNumber, state, el, digitCanvas, words } from '../lib/page.js';
import { loadModel } from '../lib/model.js';
import { coordinateGroups } from '../lib/coordinates.js';
import { readHash, readInteger, writeHash, copyLinkButton } from '../lib/urlstate.js';

const STEPS = 10;  // decodes per row, as in the write-up
const OWN = 'own';  // the coordinate select's "the digit's own coordinate" choice
const $ = (id) => document.getElementById(id);

async function main() {
  const manifest = await readManifest();
  const model = await loadModel(manifest, { encoder: true });
  const digits = await loadDigits(manifest);
  const { item, cls } = words(manifest);
  const coordinates = coordinateGroups(manifest).flatMap((group) => group.coordinates).sort((a, b) => a.index - b.index);
  copyLinkButton($('controls'));
  $('index').max = String(digits.count - 1);
  if (manifest.routes) $('coordinate').append(el('option', { value: OWN, text: `the ${cls}'s own coordinate` }));
  for (const c of coordinates) $('coordinate').append(el('option', { value: c.index, text: c.label }));
  $('coordinate').append(el('option', { value: 'all', text: 'all coordinates (one row each)' }));

  const steps = ({ min, max }) => Array.from({ length: STEPS }, (_, s) => min + (max - min) * s / (STEPS - 1));
  // The coordinate a routed model gave this digit's class (its first, if it has several).
  const ownCoordinate = (label) => manifest.routes[label][0];

  function rowsFor(choice, label) {
    if (choice === 'all') return coordinates;
    const k = choice === OWN ? ownCoordinate(label) : Number(choice);
    return coordinates.filter((c) => c.index === k);
  }

  async function update() {
    const i = Math.min(digits.count - 1, Math.max(0, Math.floor(Number($('index').value) || 0)));
    $('index').value = String(i);
    const label = digits.labels[i];
    const image = digits.image(i);
    drawDigit($('input'), manifest.image, image);
    $('caption').textContent = `test ${item} #${i}, label ${manifest.class_names[label]}`;
    const rows = rowsFor($('coordinate').value, label);
    const { mu } = await model.encode(image);
    const codes = new Float32Array(rows.length * STEPS * model.latent);
    rows.forEach((c, r) => steps(c).forEach((v, s) => {
      const offset = (r * STEPS + s) * model.latent;
      codes.set(mu, offset);
      codes[offset + c.index] = v;
    }));
    const pixels = await model.decode(codes, new Array(rows.length * STEPS).fill(label));
    showStrips(rows, pixels);
    $('title').textContent = rows.length === 1
      ? `${rows[0].label}: from ${shortNumber(rows[0].min)} to ${shortNumber(rows[0].max)}, the rest of #${i}'s code fixed`
      : `every coordinate, each across its own range, the rest of #${i}'s code fixed`;
    state.lastDecoded = pixels;
    state.lastRows = rows.map((c) => c.index);
    writeHash({ i, c: $('coordinate').value });
    markReady(manifest);
  }

  // Column labels when every row shares one range; otherwise each row names its own.
  function showStrips(rows, pixels) {
    const image = manifest.image;
    const shared = rows.every((c) => c.min === rows[0].min && c.max === rows[0].max);
    const header = shared ? steps(rows[0]).map((v) => el('span', { text: shortNumber(v) })) : [el('span', { text: 'min → max of each row' })];
    const children = [el('span'), el('div', { class: 'columns', style: shared ? '' : 'grid-template-columns: 1fr' }, ...header)];
    rows.forEach((c, r) => {
      const strip = digitCanvas(image, { class: 'strip', 'aria-label': `decodes along ${c.label}` }, STEPS);
      for (let s = 0; s < STEPS; s++) drawDigit(strip, image, pixels, s * image.width, 0, 1, (r * STEPS + s) * image.size);
      const range = shared ? '' : ` (${shortNumber(c.min)} → ${shortNumber(c.max)})`;
      children.push(el('span', { class: 'row-label', text: c.label + range }), strip);
    });
    $('strips').replaceChildren(...children);
  }

  const hash = readHash();
  $('index').value = String(readInteger(hash.i, 0, digits.count - 1) ?? 0);
  const choices = Array.from($('coordinate').options, (o) => o.value);
  $('coordinate').value = choices.includes(hash.c) ? hash.c : choices[0];
  const run = () => update().catch(showError);
  $('index').addEventListener('change', run);
  $('coordinate').addEventListener('change', run);
  $('random').addEventListener('click', () => { $('index').value = String(Math.floor(Math.random() * digits.count)); run(); });
  $('random').disabled = false;
  await update();
}

main().catch(showError);
