// Overview page: what the exported model is, how well it does, and which pages it
// supports. Reads only the manifest (no model loading), so it opens instantly. The pages
// and the metrics to show come from the manifest ("pages", "metric_columns"), so
// nothing here names a page or a metric.
import { readManifest, showError, markReady, el, hasPage, words, shapeText, swap } from '../lib/page.js';

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

// Class names for the facts: the first LISTED_CLASSES, then how many more.
const LISTED_CLASSES = 12;
const listed = (names) => names.slice(0, LISTED_CLASSES).join(', ')
  + (names.length > LISTED_CLASSES ? `, … (${names.length - LISTED_CLASSES} more)` : '');

// What a page does, in this model's words, its drawing clause only where the model has a pad.
const aboutPage = (page, m) => swap(page.about, words(m).item) + (m.features.drawing ? page.about_drawing || '' : '');

// The pages of one model (those a model's features decide), as opposed to the site's.
const modelPages = (m) => m.pages.filter((p) => p.feature);
const linkTo = (page, m, name) => (m.models ? `${page.file}#model=${encodeURIComponent(name)}` : page.file);

// A several-model site: one row per model with its key metrics and links to its pages.
function showModels(m) {
  const columns = m.models[0].metric_columns.filter(({ key }) => m.models.some((entry) => valueOf(entry, key) !== null));
  const header = el('tr', {}, el('th', { text: 'model' }), el('th', { text: 'kind' }),
    ...columns.map(({ label }) => el('th', { text: label })), el('th', { text: 'pages' }));
  const rows = m.models.map((entry) => el('tr', { ...(entry.name === m.name ? { class: 'current' } : {}) },
    el('td', { text: entry.name }), el('td', { text: `${entry.kind}, ${entry.latent_dim}-D` }),
    ...columns.map(({ key }) => el('td', { text: valueOf(entry, key) ?? '—' })),
    el('td', { class: 'links' }, ...modelPages(m).filter((page) => entry.features[page.feature]).flatMap((page) => [
      el('a', { href: linkTo(page, m, entry.name), text: page.link.toLowerCase() }), ' ']))));
  document.getElementById('models').append(el('thead', {}, header), el('tbody', {}, ...rows));
  const compare = document.getElementById('compare-link');
  for (const page of m.pages.filter((p) => p.models > 1 && hasPage(m, p))) {
    compare.append(el('a', { href: page.file, text: page.link }), ` — ${aboutPage(page, m)}.`);
  }
  document.getElementById('models-panel').hidden = false;
  document.getElementById('pages-title').textContent = `Pages for ${m.name}`;
  scrollHint(document.getElementById('models-scroll'), document.getElementById('scroll-hint'));
}

// A phone's scrollbars show only while scrolling, so a table wider than its box says so:
// the hint shows while columns lie beyond the right edge (and only then).
function scrollHint(box, hint) {
  const update = () => { hint.hidden = box.scrollLeft + box.clientWidth >= box.scrollWidth - 1; };
  new ResizeObserver(update).observe(box);
  box.addEventListener('scroll', update, { passive: true });
  update();
}

function valueOf(entry, key) {
  return entry.metric_columns.find((c) => c.key === key)?.value ?? null;
}

async function main() {
  const m = await readManifest();
  if (m.models) showModels(m);
  for (const page of modelPages(m)) {
    const li = el('li');
    if (m.features[page.feature]) li.append(el('a', { href: linkTo(page, m, m.name), text: page.link }), ` — ${aboutPage(page, m)}`);
    else li.append(el('span', { text: `${page.link} — not for this model${page.unavailable ? ` (${page.unavailable})` : ''}` }));
    document.getElementById('pages').append(li);
  }
  const techniques = Object.keys(m.techniques);
  const { item, cls } = words(m);
  const rows = [
    ['name', m.name], ['about', about(m)],
    ['images', `${shapeText(m.image)}, ${m.class_names.length} classes: ${listed(m.class_names)}`],
    ['techniques', techniques.length ? techniques.join(', ') : 'none'],
    ['ReLU on the code', m.relu_latent ? 'yes' : 'no'],
    ['decoder takes a label', m.label_input ? `yes (pick the ${cls})` : 'no'],
    ['classifier head', m.classifier ? 'yes' : 'no'],
    ['drawing', m.features.drawing ? 'yes' : 'no'],
    ['coordinate owners', m.routes ? m.coordinate_labels.map((o, k) => `z${k}:${o}`).join(' ') : 'no routing'],
    [`test ${item}s shipped`, String(m.digits)],
    ['runtime', m.runtime.version ? `onnxruntime-web ${m.runtime.version}` : 'onnxruntime-web'],
  ];
  for (const [key, value] of rows) document.getElementById('facts').append(el('dt', { text: key }), el('dd', { text: value }));

  const shown = m.metric_columns.filter((c) => c.value !== null);
  document.getElementById('metrics-panel').hidden = shown.length === 0;
  for (const { label, value } of shown) {
    document.getElementById('metrics').append(el('tr', {}, el('th', { text: label }), el('td', { text: value })));
  }
  markReady(m);
}

main().catch(showError);
