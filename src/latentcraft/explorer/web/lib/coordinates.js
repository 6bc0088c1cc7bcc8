// What each latent coordinate means, read from the manifest: its label, its slider
// range and the group it belongs to ("digit" coordinates owned by a class, free "style"
// coordinates, or plain "latent" ones). Pages lay out controls from these groups, so a
// model with new kinds of coordinates needs a manifest entry, not a page change.
import { words } from './page.js';

// [{ name, title, coordinates: [{ index, label, owner, min, max, step }] }]
export function coordinateGroups(manifest) {
  if (manifest.coordinate_groups) {
    return manifest.coordinate_groups.map((group) => ({
      ...group, coordinates: group.coordinates.map((k) => coordinate(manifest, k)),
    }));
  }
  const all = manifest.coordinate_labels.map((_, k) => coordinate(manifest, k));
  if (!manifest.routes) return [{ name: 'latent', title: 'Latent coordinates', coordinates: all }];
  const { cls, Cls } = words(manifest);
  const groups = [
    { name: 'digit', title: `${Cls} coordinates (routed: each owned by one ${cls})`, coordinates: all.filter((c) => c.owner !== null) },
    { name: 'style', title: `Style coordinates (free: shared by every ${cls})`, coordinates: all.filter((c) => c.owner === null) },
  ];
  return groups.filter((group) => group.coordinates.length);
}

function coordinate(manifest, k) {
  const owner = ownerOf(manifest, k);
  const measured = manifest.style_labels?.find((s) => s.coordinate === k);
  const name = owner !== null ? `${words(manifest).cls} ${manifest.class_names[owner]}`
    : measured ? `style: ${measured.label}` : (manifest.routes ? 'free' : '');
  const detail = measured ? effectsText(measured.effects, words(manifest).cls) : '';
  return { index: k, owner, label: name ? `z${k} · ${name}` : `z${k}`, detail, ...manifest.sliders[k] };
}

// A style label's measurements, for the slider's tooltip (style_labels.py says how they are taken).
function effectsText(effects, cls) {
  const parts = Object.entries(effects).map(([property, value]) => `${property} ${value > 0 ? '+' : ''}${value.toFixed(2)}`);
  return `moving this coordinate from 2 std below to 2 std above its median changes ${parts.join(', ')}`
    + ` (in within-${cls} standard deviations)`;
}

// The class whose route holds coordinate k, or null (free coordinate or no routing).
export function ownerOf(manifest, k) {
  if (!manifest.routes) return null;
  const owner = manifest.routes.findIndex((coords) => coords.includes(k));
  return owner < 0 ? null : owner;
}

// Per class: the largest mean among its routed coordinates (metrics.routed_predictions).
export function routedScores(manifest, mu) {
  return manifest.routes.map((coords) => Math.max(...coords.map((c) => mu[c])));
}

// Re-render a code as digit k in the same style, as style_metrics.replace_routed does:
// the routed coordinates take digit k's row of the manifest's digit-code table (the
// mean routed code of k's training images), every other coordinate keeps its value.
// The decoder graph's ReLU leaves the table's non-negative codes as they are.
export function restyleDigit(manifest, vector, k) {
  const out = Float32Array.from(vector);
  const { coordinates, codes } = manifest.digit_codes;
  coordinates.forEach((c, i) => { out[c] = codes[k][i]; });
  return out;
}

// Whether digit k has a row in the digit-code table (a tiny training slice may lack a digit).
export function canRestyle(manifest, k) {
  return Boolean(manifest.digit_codes?.codes[k]);
}

// A code of one model as a code of another, coordinate by coordinate label: a routed
// "3" goes to the other model's "3", "z1" to its "z1"; a coordinate the first model
// lacks (e.g. a free style coordinate) is 0. Same labels in the same order: the same vector.
export function mapVector(from, to, vector) {
  const out = new Float32Array(to.latent_dim);
  const used = new Set();
  to.coordinate_labels.forEach((label, j) => {
    const i = from.coordinate_labels.findIndex((other, k) => other === label && !used.has(k));
    if (i >= 0) { out[j] = vector[i]; used.add(i); }
  });
  return out;
}
