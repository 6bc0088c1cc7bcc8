// A square plot of the 2-D latent plane on a canvas that fills the width it is given:
// axes with ticks, dashed lines through the origin, latent <-> pixel mapping, and a
// cursor. Drawing is in CSS pixels; the canvas backing store follows devicePixelRatio.
import { shortNumber } from './page.js';

const MARGIN = { left: 42, right: 10, top: 10, bottom: 30 };  // CSS px around the plot, for tick labels
const TICKS = 7;  // about this many ticks per axis
const TICK_LENGTH = 5;

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about TICKS ticks over `span`.
export function tickStep(span) {
  const raw = span / TICKS;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

// Multiples of `step` in [low, high], computed by index so no rounding error accumulates.
function ticks(low, high, step) {
  const out = [];
  for (let i = Math.ceil(low / step); i * step <= high + step * 1e-9; i++) out.push(i * step);
  return out;
}

export function planeAxes(canvas, extent) {
  const [x0, x1, y0, y1] = extent;
  const ctx = canvas.getContext('2d');
  let size = 0, width = 0;  // plot side and canvas width, CSS px

  function resize() {
    width = canvas.clientWidth || 320;
    size = Math.max(40, width - MARGIN.left - MARGIN.right);
    const height = size + MARGIN.top + MARGIN.bottom;
    canvas.style.aspectRatio = `${width} / ${height}`;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  const toPixel = (x, y) => [MARGIN.left + (x - x0) / (x1 - x0) * size, MARGIN.top + (y1 - y) / (y1 - y0) * size];
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  function fromEvent(event) {
    const rect = canvas.getBoundingClientRect();
    const px = (event.clientX - rect.left) * width / rect.width - MARGIN.left;
    const py = (event.clientY - rect.top) * width / rect.width - MARGIN.top;  // square CSS pixels
    return [clamp(x0 + px / size * (x1 - x0), x0, x1), clamp(y1 - py / size * (y1 - y0), y0, y1)];
  }

  function begin() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, size + MARGIN.top + MARGIN.bottom);
    return ctx;
  }

  // An image covering the latent rectangle `[a0, a1, b0, b1]`, clipped to the plot.
  function image(source, [a0, a1, b0, b1], alpha, smooth) {
    const [px0, py0] = toPixel(a0, b1), [px1, py1] = toPixel(a1, b0);
    ctx.save();
    ctx.beginPath(); ctx.rect(MARGIN.left, MARGIN.top, size, size); ctx.clip();
    ctx.globalAlpha = alpha;
    ctx.imageSmoothingEnabled = smooth;
    ctx.drawImage(source, px0, py0, px1 - px0, py1 - py0);
    ctx.restore();
  }

  // The frame, ticks with their values, and dashed lines through the origin.
  function frame() {
    ctx.save();
    ctx.strokeStyle = '#9ca3af';
    ctx.lineWidth = 1;
    ctx.strokeRect(MARGIN.left + 0.5, MARGIN.top + 0.5, size, size);
    ctx.fillStyle = '#5f6368';
    ctx.font = '11px system-ui, sans-serif';
    const step = tickStep(x1 - x0);
    ctx.beginPath();
    for (const v of ticks(x0, x1, step)) {
      const [px] = toPixel(v, y0);
      ctx.moveTo(px, MARGIN.top + size); ctx.lineTo(px, MARGIN.top + size + TICK_LENGTH);
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ctx.fillText(shortNumber(v), px, MARGIN.top + size + TICK_LENGTH + 2);
    }
    for (const v of ticks(y0, y1, step)) {
      const [, py] = toPixel(x0, v);
      ctx.moveTo(MARGIN.left - TICK_LENGTH, py); ctx.lineTo(MARGIN.left, py);
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillText(shortNumber(v), MARGIN.left - TICK_LENGTH - 2, py);
    }
    ctx.stroke();
    const [ox, oy] = toPixel(0, 0);
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = '#6b7280';
    ctx.beginPath();
    if (x0 < 0 && x1 > 0) { ctx.moveTo(ox, MARGIN.top); ctx.lineTo(ox, MARGIN.top + size); }
    if (y0 < 0 && y1 > 0) { ctx.moveTo(MARGIN.left, oy); ctx.lineTo(MARGIN.left + size, oy); }
    ctx.stroke();
    ctx.restore();
  }

  function cursor([x, y]) {
    const [cx, cy] = toPixel(x, y);
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(cx - 9, cy); ctx.lineTo(cx + 9, cy); ctx.moveTo(cx, cy - 9); ctx.lineTo(cx, cy + 9);
    ctx.stroke();
    ctx.beginPath(); ctx.arc(cx, cy, 4, 0, 2 * Math.PI); ctx.stroke();
  }

  // Re-lays out for the current width; true if it changed.
  function fit() {
    if ((canvas.clientWidth || 320) === width) return false;
    resize();
    return true;
  }

  resize();
  return { fit, begin, image, frame, cursor, toPixel, fromEvent };
}
