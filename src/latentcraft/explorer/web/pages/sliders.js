// Sliders page: one slider per latent coordinate (grouped as the manifest says), live
// decoding, random test digits and free-hand drawing, two readings (what the input was
// read as, and what the decoded image reads as now: re-encoded and read the same way),
// and the whole view in the URL so a copied link reproduces it.
import { readManifest, loadDigits, drawDigit, formatVector, showError, markReady, state, el, words } from '../lib/page.js';
import { loadModel, liveDecoder } from '../lib/model.js';
import { restyleDigit, canRestyle } from '../lib/coordinates.js';
import { SliderPanel } from '../lib/sliderpanel.js';
import { readHash, readNumbers, readInteger, writeHash, numbersText, copyLinkButton } from '../lib/urlstate.js';
import { preprocessDrawing, drawingNote } from '../lib/preprocess.js';
import { DrawPad } from '../lib/drawpad.js';
import { ScoreBar, showPrediction } from '../lib/scorebar.js';

const $ = (id) => document.getElementById(id);

async function main() {
  const manifest = await readManifest();
  const model = await loadModel(manifest, { encoder: true, classifier: Boolean(manifest.files.classifier) });
  const digits = await loadDigits(manifest);
  const names = manifest.class_names;
  const { item, cls, Item } = words(manifest);
  const vector = new Float32Array(model.latent);
  let label = 0;  // the label a decoder that takes one is given
  let input = null;  // what the input panel shows: { kind: 'digit', index } | { kind: 'drawing' }, and its mu
  let picked = null;  // the digit last chosen under "same style, another digit"
  let restoring = true;

  const inputHint = `input: press Random ${item}${manifest.features.drawing ? ' or draw one' : ''}`;
  $('input-caption').textContent = inputHint;
  const scoreBar = new ScoreBar($('reading'), names, cls);
  const decodedBar = new ScoreBar($('decoded-reading'), names, cls);
  $('readings').hidden = model.predictionSource === null;
  copyLinkButton($('controls'));
  reserveVectorLines();

  // Each decode is re-encoded and read, so the second reading follows the sliders.
  const decode = liveDecoder(model, async (pixels, codes) => {
    drawDigit($('output'), manifest.image, pixels);
    const prediction = await model.readImage(pixels);
    showPrediction($('decoded-prediction'), prediction, names);
    decodedBar.show(prediction);
    state.decodedPrediction = prediction ? prediction.predicted : null;
    state.decodedScores = prediction ? prediction.values : null;
    state.decodedReadFor = codes;
    if (!restoring && codes.every((v, k) => v === vector[k])) markReady(manifest);
  });

  // The vector box keeps room for its longest usual text (every value negative), so it
  // neither clips a line nor grows while the sliders move; a longer text still shows in full.
  function reserveVectorLines() {
    $('vector').textContent = `z = ${formatVector(new Float32Array(model.latent).fill(-8.88))}`;
    $('vector').style.minHeight = `${$('vector').getBoundingClientRect().height}px`;
  }
  const redecode = () => decode(vector, [label]);

  const sliders = new SliderPanel($('slider-groups'), manifest, (k, value) => {
    vector[k] = value;
    picked = null;
    changed();
  });

  // Everything that follows a change of the vector: slider positions, text, staleness, decode, URL.
  function changed() {
    sliders.show(vector);
    $('vector').textContent = `z = ${formatVector(vector)}`;
    const stale = input !== null && input.mu.some((v, k) => v !== vector[k]);
    $('input-figure').classList.toggle('stale', stale);
    $('reading').classList.toggle('stale', stale);
    state.inputStale = stale;
    document.querySelectorAll('#swap-buttons button').forEach((b, k) => b.setAttribute('aria-pressed', String(k === picked)));
    redecode();
    writeHash({
      z: numbersText(vector),
      label: manifest.label_input ? label : null,
      digit: picked,
      input: input?.kind === 'digit' ? input.index : null,
      ink: input?.kind === 'drawing' ? pad.text : null,
    });
  }

  // ---- the input panel: a test digit or a drawing, its encoding and the prediction
  async function showInput(pixels, caption, source) {
    drawDigit($('input'), manifest.image, pixels);
    $('input-caption').textContent = caption;
    const { mu } = await model.encode(pixels);
    const prediction = await model.predict(mu);
    state.lastMu = mu;
    showInputReading(prediction, source.kind === 'digit' ? `Test ${item} #${source.index} was read as` : 'Your drawing was read as');
    input = { ...source, mu: Float32Array.from(mu) };
    vector.set(mu);
    picked = null;
    changed();
    return prediction;
  }

  function showInputReading(prediction, label) {
    state.lastPrediction = prediction ? prediction.predicted : null;
    state.lastScores = prediction ? prediction.values : null;
    $('reading-label').textContent = label;
    showPrediction($('prediction'), prediction, names);
    scoreBar.show(prediction);
  }

  // No input any more: its picture, caption and reading go (the pad's drawing too).
  function clearInput() {
    input = null;
    pad.clear?.();
    $('input').getContext('2d').clearRect(0, 0, $('input').width, $('input').height);
    $('input-caption').textContent = inputHint;
    showInputReading(null, 'The input was read as');
  }

  const digitCaption = (i) => `test ${item} #${i} (label ${names[digits.labels[i]]})`;
  async function showDigit(i) {
    state.lastDigit = i;
    if (manifest.label_input) setLabel(digits.labels[i]);
    return showInput(digits.image(i), digitCaption(i), { kind: 'digit', index: i });
  }
  state.showDigit = showDigit;

  $('random').addEventListener('click', () => showDigit(Math.floor(Math.random() * digits.count)).catch(showError));
  // Reset starts afresh: a zero vector and no input, so no reading describes an earlier input.
  $('reset').addEventListener('click', () => { clearInput(); vector.fill(0); picked = null; changed(); });

  // ---- a decoder that takes a label: pick it
  function setLabel(k) {
    label = k;
    $('label').value = String(k);
  }
  if (manifest.label_input) {
    names.forEach((name, k) => $('label').append(el('option', { value: k, text: name })));
    $('label-picker').hidden = false;
    $('label').addEventListener('change', () => { setLabel(Number($('label').value)); changed(); });
    state.setLabel = (k) => { setLabel(k); changed(); };
  }

  // ---- routed models: the same style as another digit (the style sliders keep their values)
  function restyle(k) {
    vector.set(restyleDigit(manifest, vector, k));
    picked = k;
    changed();
  }
  if (manifest.digit_codes) {
    $('swap').hidden = false;
    if (!manifest.style_labels?.length) $('swap-caption').textContent = `Another ${cls} (no style coordinates: its typical code):`;
    $('swap-buttons').classList.toggle('words', names.some((name) => name.length > 2));  // names, not digits: wrap
    names.forEach((name, k) => {
      const button = el('button', { type: 'button', 'aria-pressed': 'false', title: `re-render as a ${name} in this style` }, name);
      if (!canRestyle(manifest, k)) button.disabled = true;  // no training image of this digit defined its code
      button.addEventListener('click', () => restyle(k));
      $('swap-buttons').append(button);
    });
    state.restyle = restyle;
  }

  // ---- drawing
  let pad = { text: '' };
  if (manifest.features.drawing) {
    $('draw-panel').hidden = false;
    $('draw-note').textContent = drawingNote(manifest, Item);
    pad = new DrawPad($('pad'), (ink, width, height) => onInk(ink, width, height).catch(showError));
    $('clear').addEventListener('click', () => {
      pad.clear();
      if (input?.kind === 'drawing') { clearInput(); changed(); }
    });
    state.pad = pad;
  }
  let inkDone = null;
  async function onInk(ink, width, height) {
    const pixels = preprocessDrawing(ink, width, height, manifest.image, manifest.drawing_fit);
    state.lastInk = ink;
    state.inkShape = [height, width];
    state.lastPreprocessed = pixels;
    if (pixels) await showInput(pixels, 'your drawing', { kind: 'drawing' });
    state.drawCount = (state.drawCount || 0) + 1;
    inkDone?.();
  }

  // ---- the view a link describes, then the first decode
  await restore(readHash());
  restoring = false;
  for (const id of ['random', 'reset']) $(id).disabled = false;
  changed();

  async function restore(hash) {
    const strokes = manifest.features.drawing ? DrawPad.parse(hash.ink) : null;
    const index = readInteger(hash.input, 0, digits.count - 1);
    if (strokes) {
      await new Promise((resolve) => { inkDone = resolve; pad.replay(strokes); });
      inkDone = null;
    } else if (index !== null) {
      await showDigit(index);
    }
    const saved = readNumbers(hash.z, model.latent);
    if (saved) vector.set(saved);
    const savedLabel = readInteger(hash.label, 0, names.length - 1);
    if (manifest.label_input && savedLabel !== null) setLabel(savedLabel);
    picked = manifest.digit_codes ? readInteger(hash.digit, 0, names.length - 1) : null;
  }
}

main().catch(showError);
