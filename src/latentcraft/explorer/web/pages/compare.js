// Compare page: two models of a several-model site side by side. A test digit or a drawing
// is encoded by each model and decoded from its own code; a slider move makes both decode
// the left model's vector (coordinates matched by name, coordinates.js mapVector). Both
// models read the same input, so they must have been trained on images of one shape.
import { readSite, openModel, showNavigation, fitDigitCanvases, nameItems, loadDigits, drawDigit, digitCanvas, showError, markReady, state, el, words, shapeText } from '../lib/page.js';
import { loadModel } from '../lib/model.js';
import { mapVector } from '../lib/coordinates.js';
import { readHash, readNumbers, readInteger, writeHash, numbersText, copyLinkButton } from '../lib/urlstate.js';
import { preprocessDrawing } from '../lib/preprocess.js';
import { DrawPad } from '../lib/drawpad.js';
import { ScoreBar, showPrediction } from '../lib/scorebar.js';
import { SliderPanel } from '../lib/sliderpanel.js';

const $ = (id) => document.getElementById(id);

// One side: a model, its decode and its reading of the code it decodes.
async function openSide(root, name, column) {
  const manifest = await openModel(root, name);
  const model = await loadModel(manifest, { encoder: true, classifier: Boolean(manifest.files.classifier) });
  const output = digitCanvas(manifest.image, { class: 'digit', 'aria-label': `decoded by ${manifest.name}` });
  const caption = el('figcaption', { text: '–' });
  const reading = el('div', { class: 'reading labelled' }, el('span', { class: 'reading-label', text: 'The code it decodes reads as' }),
    el('span', { class: 'prediction', text: '–' }));
  column.classList.add('model-column');
  column.replaceChildren(el('h2', { text: `${manifest.name} (${manifest.kind}, ${manifest.latent_dim}-D)` }),
    el('figure', {}, output, caption), reading);
  reading.hidden = model.predictionSource === null;
  const bar = new ScoreBar(reading, manifest.class_names, words(manifest).cls);
  return {
    manifest, model, code: new Float32Array(manifest.latent_dim), decoded: null,
    async show(code, text, label) {
      this.code = Float32Array.from(code);
      const [pixels, prediction] = await Promise.all([model.decode(this.code, [label]), model.predict(this.code)]);
      this.decoded = pixels;
      drawDigit(output, manifest.image, pixels);
      caption.textContent = text;
      showPrediction(reading.querySelector('.prediction'), prediction, manifest.class_names);  // a zero vector: a tie
      bar.show(prediction);
      this.prediction = prediction ? prediction.predicted : null;
    },
  };
}

async function main() {
  const root = await readSite();
  if (!Array.isArray(root.models) || root.models.length < 2) {
    throw new Error('this site holds one model; export two or more runs into one site to compare them: '
      + '`latentcraft export RUN_A RUN_B --out SITE_DIR`.');
  }
  const names = root.models.map((m) => m.name);
  const hash = readHash();
  const pick = (key, fallback) => (names.includes(hash[key]) ? hash[key] : fallback);
  const left = pick('a', names[0]);
  // By default the right model is the next one that reads the same images as the left.
  const image = (name) => JSON.stringify(root.models.find((m) => m.name === name).image ?? null);
  const partner = names.find((name) => name !== left && image(name) === image(left)) ?? names.find((name) => name !== left);
  for (const [id, value] of [['model-a', left], ['model-b', pick('b', partner)]]) {
    $(id).append(...names.map((name) => el('option', { value: name, text: name })));
    $(id).value = value;
    // Other models, other coordinates: start their comparison afresh.
    $(id).addEventListener('change', () => {
      history.replaceState(null, '', `#a=${encodeURIComponent($('model-a').value)}&b=${encodeURIComponent($('model-b').value)}`);
      location.reload();
    });
  }
  const [a, b] = await Promise.all([openSide(root, $('model-a').value, $('column-a')), openSide(root, $('model-b').value, $('column-b'))]);
  showNavigation(a.manifest);
  fitDigitCanvases(a.manifest.image);  // the input: the left model's shape (both read it)
  nameItems(a.manifest);
  const same = (key) => a.manifest.image[key] === b.manifest.image[key];
  if (!['height', 'width', 'channels'].every(same)) {
    throw new Error(`${a.manifest.name} reads ${shapeText(a.manifest.image)} images but ${b.manifest.name} `
      + `${shapeText(b.manifest.image)} ones, so they cannot read one input: pick two models trained on the same images.`);
  }
  const { item } = words(a.manifest);
  $('mode').textContent = `Press Random ${item}${a.manifest.features.drawing ? ' or draw one' : ''}: each model encodes it `
    + 'and decodes its own code. Move a slider: both decode the left model\'s vector (coordinates matched by name).';
  copyLinkButton($('controls'));
  const digits = await loadDigits(a.manifest);  // the same test digits as the right model's when both use one dataset
  const vector = new Float32Array(a.manifest.latent_dim);
  let input = null;  // { kind: 'digit', index } | { kind: 'drawing' }: what both models encoded
  let mode = 'vector';  // 'input': each decodes its own code of the input; 'vector': both decode the left model's vector
  let label = 0;  // what decoders that take a label are given: the test digit's label, else 0
  state.compare = { a, b };
  $('sliders-title').textContent = `${a.manifest.name}'s coordinates`;

  const sliders = new SliderPanel($('slider-groups'), a.manifest, (k, value) => {
    vector[k] = value;
    mode = 'vector';
    update().catch(showError);
  });

  async function update() {
    sliders.show(vector);
    const shared = mode === 'vector';
    await Promise.all([
      a.show(vector, shared ? 'the slider vector' : 'its own encoding of the input', label),
      b.show(shared ? mapVector(a.manifest, b.manifest, vector) : b.own,
        shared ? 'the left model\'s vector, matched by coordinate name' : 'its own encoding of the input', label),
    ]);
    state.lastVector = Float32Array.from(vector);
    writeHash({
      a: a.manifest.name, b: b.manifest.name, mode,
      z: mode === 'vector' ? numbersText(vector) : null,
      input: input?.kind === 'digit' ? input.index : null,
      ink: input?.kind === 'drawing' ? pad.text : null,
    });
    markReady(a.manifest, ` and ${b.manifest.name}`);
  }

  async function showInput(pixels, caption, source) {
    drawDigit($('input'), a.manifest.image, pixels);
    $('input-caption').textContent = caption;
    const [codeA, codeB] = await Promise.all([a.model.encode(pixels), b.model.encode(pixels)]);
    vector.set(codeA.mu);
    b.own = Float32Array.from(codeB.mu);
    input = source;
    label = source.kind === 'digit' ? digits.labels[source.index] : 0;
    mode = 'input';
    state.lastInput = pixels;
    await update();
  }
  const showDigit = (i) => showInput(digits.image(i), `test ${item} #${i} (label ${a.manifest.class_names[digits.labels[i]]})`,
    { kind: 'digit', index: i });
  state.showDigit = showDigit;

  let pad = { text: '' };
  let inkDone = null;
  if (a.manifest.features.drawing) {
    $('draw').hidden = false;
    pad = new DrawPad($('pad'), (ink, width, height) => {
      const pixels = preprocessDrawing(ink, width, height, a.manifest.image, a.manifest.drawing_fit);
      const done = pixels ? showInput(pixels, 'your drawing', { kind: 'drawing' }) : Promise.resolve();
      done.then(() => { state.drawCount = (state.drawCount || 0) + 1; inkDone?.(); }, showError);
    });
    $('clear').addEventListener('click', () => pad.clear());
  }
  $('random').addEventListener('click', () => showDigit(Math.floor(Math.random() * digits.count)).catch(showError));
  // Reset starts afresh: a zero vector and no input (nothing shown describes an earlier input).
  $('reset').addEventListener('click', () => {
    vector.fill(0);
    mode = 'vector';
    input = null;
    label = 0;
    pad.clear?.();
    $('input').getContext('2d').clearRect(0, 0, $('input').width, $('input').height);
    $('input-caption').textContent = 'input';
    update().catch(showError);
  });

  // ---- the view a link describes
  b.own = new Float32Array(b.manifest.latent_dim);
  const strokes = a.manifest.features.drawing ? DrawPad.parse(hash.ink) : null;
  const index = readInteger(hash.input, 0, digits.count - 1);
  if (strokes) await new Promise((resolve) => { inkDone = resolve; pad.replay(strokes); });
  else if (index !== null) await showDigit(index);
  const saved = readNumbers(hash.z, a.manifest.latent_dim);
  if (hash.mode === 'vector' && saved) { vector.set(saved); mode = 'vector'; }
  for (const id of ['random', 'reset']) $(id).disabled = false;
  await update();
}

main().catch(showError);
