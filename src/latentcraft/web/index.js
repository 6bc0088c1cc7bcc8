// Overview page: what the exported model is and which pages it supports. Reads only
// the manifest (no model loading), so it opens instantly.
const PAGES = [
  ['sliders', 'sliders.html', 'Sliders', 'one slider per latent coordinate, random test digits, draw your own'],
  ['plane', 'plane.html', 'Plane', 'hover the 2-D latent plane to decode any point'],
  ['traversal', 'traversal.html', 'Traversal', 'sweep one coordinate of an encoded digit across its range'],
];

function item(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

async function main() {
  const response = await fetch('manifest.json');
  if (!response.ok) throw new Error(`manifest.json: HTTP ${response.status}`);
  const m = await response.json();
  const pages = document.getElementById('pages');
  for (const [feature, href, title, what] of PAGES) {
    const li = document.createElement('li');
    if (m.features[feature]) {
      const a = item('a', title);
      a.href = href;
      li.append(a, ` — ${what}`);
    } else {
      li.append(item('span', `${title} — not for this model (needs a 2-D latent)`));
    }
    pages.append(li);
  }
  const facts = document.getElementById('facts');
  const techniques = Object.keys(m.techniques);
  const rows = [
    ['name', m.name], ['kind', m.kind], ['about', m.description || '–'], ['dataset', m.dataset],
    ['latent size', String(m.latent_dim)], ['techniques', techniques.length ? techniques.join(', ') : 'none'],
    ['ReLU on the code', m.relu_latent ? 'yes' : 'no'],
    ['conditional decoder', m.conditional ? 'yes (pick the digit)' : 'no'],
    ['classifier head', m.classifier ? 'yes' : 'no'],
    ['drawing', m.features.drawing ? 'yes' : 'no'],
    ['coordinate owners', m.routes ? m.coordinate_labels.map((o, k) => `z${k}:${o}`).join(' ') : 'no routing'],
    ['test digits shipped', String(m.digits)],
    ['runtime', `onnxruntime-web ${m.runtime.version || ''}`.trim()],
  ];
  for (const [key, value] of rows) facts.append(item('dt', key), item('dd', value));
  document.getElementById('status').textContent = `${m.name}: ready.`;
  window.lc = { ready: true, manifest: m };
}

main().catch((error) => {
  const box = document.getElementById('status');
  box.textContent = `Error: ${error.message}`;
  box.classList.add('error');
});
