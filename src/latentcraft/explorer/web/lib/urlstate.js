// A page's state in the URL's hash, so a copied link reproduces the view exactly:
// "#z=0.5,1.25,0&label=3". Numbers are written with the fewest digits that read back
// as the same float32, so a decoded vector survives the round trip bit for bit.
import { el, readHash, state } from './page.js';

export { readHash };

const WRITE_DELAY_MS = 120;  // batches hash writes while a slider is dragged (browsers throttle history calls)

// "1,2.5" -> [1, 2.5]; null when absent, malformed or of the wrong length.
export function readNumbers(text, length = null) {
  if (text === undefined || text === '') return null;
  const numbers = text.split(',').map(Number);
  if (numbers.some((v) => !Number.isFinite(v)) || (length !== null && numbers.length !== length)) return null;
  return numbers;
}

export function readInteger(text, low, high) {
  const value = Number(text);
  return Number.isInteger(value) && value >= low && value <= high ? value : null;
}

export function float32Text(value) {
  const target = Math.fround(value);
  for (let digits = 1; digits < 9; digits++) {
    const text = String(Number(target.toPrecision(digits)));
    if (Math.fround(Number(text)) === target) return text;
  }
  return String(target);
}

export function numbersText(values) {
  return Array.from(values, float32Text).join(',');
}

let pending = null;
let timer = null;

// Merge `entries` into the hash (null/undefined/false removes a key); written shortly after.
export function writeHash(entries) {
  pending = { ...(pending || readHash()), ...entries };
  for (const [key, value] of Object.entries(pending)) {
    if (value === null || value === undefined || value === false) delete pending[key];
  }
  clearTimeout(timer);
  timer = setTimeout(flushHash, WRITE_DELAY_MS);
}

export function flushHash() {
  if (!pending) return;
  const text = Object.entries(pending)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value === true ? 1 : value)}`)
    .join('&').replace(/%2C/g, ',');
  pending = null;
  history.replaceState(null, '', text ? `#${text}` : location.pathname + location.search);
  state.hash = location.hash;
}

// A "Copy link" button that copies the page's URL (its current state included).
export function copyLinkButton(parent) {
  const button = el('button', { type: 'button', id: 'copy-link', title: 'copy a link to exactly this view' }, 'Copy link');
  const note = el('span', { class: 'copy-note', 'aria-live': 'polite' });
  button.addEventListener('click', async () => {
    flushHash();
    try {
      await navigator.clipboard.writeText(location.href);
      note.textContent = 'link copied';
    } catch {
      // No clipboard access (e.g. a non-secure origin): show the link to copy by hand.
      window.prompt('Copy this link:', location.href);
    }
    state.copiedLink = location.href;
    setTimeout(() => { note.textContent = ''; }, 2000);
  });
  parent.append(button, note);
}
