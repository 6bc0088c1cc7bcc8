// Overview page: what the exported model is, how well it does, and which pages it
// supports. Reads only the manifest (no model loading), so it opens instantly.
import { readManifest, showError, markReady, el, PAGES } from './page.js';

// Key metrics, in the manifest's "metrics" (from the run's eval.json, else its training
// summary): [key, label, short label for the models table, format].
const METRICS = [
  ['test_argmax_accuracy', 'argmax accuracy of μ (routed)', 'argmax acc.', percent],
  ['test_classifier_accuracy', 'classifier head accuracy', 'head acc.', percent],
  ['test_recon_sq', 'squared error / image', 'sq. error', fixed(2)],
  ['test_recon_bce', 'reconstruction BCE / image (nats)', 'BCE', fixed(2)],
  ['test_elbo', 'ELBO / image (nats)', 'ELBO', fixed(2)],
  ['dci_disentanglement', 'DCI disentanglement', 'DCI D', fixed(2)],
  ['dci_completeness', 'DCI completeness', 'DCI C', fixed(2)],
];

function percent(v) { return `${(100 * v).toFixed(2)}%`; }
function fixed(digits) { return (v) => v.toFixed(digits); }

// One sentence from facts the export read from the run (not the preset's prose).
function about(m) {
  const parts = [`a ${m.kind} model with ${m.latent_dim} latent coordinates, trained on ${m.dataset}`];
  const t = m.training;
  if (t) {
    parts.push(`for ${t.epochs} epoch${t.epochs === 1 ? '' : 's'}`);
    if (t.wall_time_s) parts.push(`(${Math.round(t.wall_time_s)} s of training)`);
  }
  return parts.join(' ');
}

function metricRows(metrics) {
  return METRICS.filter(([key]) => typeof metrics?.[key] === 'number');
}

// A several-model site: one row per model with its key metrics and links to its pages.
function showModels(m) {
  const shown = METRICS.filter(([key]) => m.models.some((entry) => typeof entry.metrics?.[key] === 'number'));
  const header = el('tr', {}, el('th', { text: 'model' }), el('th', { text: 'kind' }),
    ...shown.map(([, label, short]) => el('th', { text: short, title: label })), el('th', { text: 'pages' }));
  const rows = m.models.map((entry) => el('tr', { ...(entry.name === m.name ? { class: 'current' } : {}) },
    el('td', { text: entry.name }), el('td', { text: `${entry.kind}, ${entry.latent_dim}-D` }),
    ...shown.map(([key, , , format]) => el('td', { text: typeof entry.metrics?.[key] === 'number' ? format(entry.metrics[key]) : '—' })),
    el('td', { class: 'links' }, ...PAGES.filter(([feature]) => entry.features[feature]).flatMap(([, href, title]) => [
      el('a', { href: `${href}#model=${encodeURIComponent(entry.name)}`, text: title.toLowerCase() }), ' ']))));
  document.getElementById('models').append(el('thead', {}, header), el('tbody', {}, ...rows));
  const compare = document.getElementById('compare-link');
  compare.append(el('a', { href: 'compare.html', text: 'Compare two models side by side' }),
    ' — the same test digit, drawing or slider vector through both.');
  document.getElementById('models-panel').hidden = false;
  document.getElementById('pages-title').textContent = `Pages for ${m.name}`;
}

async function main() {
  const m = await readManifest();
  if (m.models) showModels(m);
  for (const [feature, href, title, what] of PAGES) {
    const li = el('li');
    if (m.features[feature]) li.append(el('a', { href: m.models ? `${href}#model=${encodeURIComponent(m.name)}` : href, text: title }), ` — ${what}`);
    else li.append(el('span', { text: `${title} — not for this model (needs a 2-D latent)` }));
    document.getElementById('pages').append(li);
  }
  const techniques = Object.keys(m.techniques);
  const rows = [
    ['name', m.name], ['about', about(m)],
    ['techniques', techniques.length ? techniques.join(', ') : 'none'],
    ['ReLU on the code', m.relu_latent ? 'yes' : 'no'],
    ['conditional decoder', m.conditional ? 'yes (pick the digit)' : 'no'],
    ['classifier head', m.classifier ? 'yes' : 'no'],
    ['drawing', m.features.drawing ? 'yes' : 'no'],
    ['coordinate owners', m.routes ? m.coordinate_labels.map((o, k) => `z${k}:${o}`).join(' ') : 'no routing'],
    ['test digits shipped', String(m.digits)],
    ['runtime', m.runtime.version ? `onnxruntime-web ${m.runtime.version}` : 'onnxruntime-web'],
  ];
  for (const [key, value] of rows) document.getElementById('facts').append(el('dt', { text: key }), el('dd', { text: value }));

  const shown = metricRows(m.metrics);
  document.getElementById('metrics-panel').hidden = shown.length === 0;
  for (const [key, label, , format] of shown) {
    document.getElementById('metrics').append(el('tr', {}, el('th', { text: label }), el('td', { text: format(m.metrics[key]) })));
  }
  markReady(m);
}

main().catch(showError);
