// The drawing pad: Pointer Events, so a mouse, a pen and a finger all draw; the pad's
// CSS has `touch-action: none`, so a finger on the pad never scrolls the page. Strokes
// are kept as integer pad points and drawn only through those points, so replaying
// them (from a shared link) gives the very same pixels.
const PEN_WIDTH = 22;  // pixels on the 280x280 pad: about 2 MNIST pixels after scaling a full-height digit
const MIN_STEP = 3;  // pad pixels between recorded points: smooth strokes, short links

export class DrawPad {
  // onInk(ink Float32Array (h*w) in [0, 1], width, height) runs after each stroke.
  constructor(canvas, onInk) {
    this.canvas = canvas;
    this.onInk = onInk;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.strokes = [];  // [[x0, y0, x1, y1, ...], ...] in pad pixels
    this.current = null;
    this.clear();
    canvas.addEventListener('pointerdown', (event) => this.down(event));
    canvas.addEventListener('pointermove', (event) => this.move(event));
    canvas.addEventListener('pointerup', () => this.up());
    canvas.addEventListener('pointercancel', () => this.up());
    // Belt and braces for browsers that scroll on touch despite touch-action.
    canvas.addEventListener('touchmove', (event) => event.preventDefault(), { passive: false });
  }

  clear() {
    this.strokes = [];
    this.current = null;
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  // The pad may be drawn smaller than its 280x280 pixels on a narrow screen.
  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [Math.round((event.clientX - rect.left) * this.canvas.width / rect.width),
      Math.round((event.clientY - rect.top) * this.canvas.height / rect.height)];
  }

  down(event) {
    if (event.button > 0) return;  // right and middle buttons do not draw
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.current = [...this.point(event)];
    this.strokes.push(this.current);
    this.segment(this.current, 0, true);
  }

  move(event) {
    if (!this.current) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const [x, y] = this.point(e);
      const n = this.current.length;
      if (Math.hypot(x - this.current[n - 2], y - this.current[n - 1]) < MIN_STEP) continue;
      this.current.push(x, y);
      this.segment(this.current, n - 2);
    }
  }

  up() {
    if (!this.current) return;
    this.current = null;
    this.finish();
  }

  // A stroke starts with a dot and grows one segment per recorded point; live drawing
  // and replay make exactly these calls in this order (anti-aliased edges drawn twice
  // would come out brighter).
  segment(stroke, i, dot = false) {
    const ctx = this.ctx;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = PEN_WIDTH;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(stroke[i], stroke[i + 1]);
    ctx.lineTo(stroke[dot ? i : i + 2], stroke[dot ? i + 1 : i + 3]);
    ctx.stroke();
  }

  // Redraw saved strokes (from a link); runs onInk once.
  replay(strokes) {
    this.clear();
    for (const stroke of strokes) {
      this.strokes.push(stroke);
      this.segment(stroke, 0, true);
      for (let i = 0; i + 2 < stroke.length; i += 2) this.segment(stroke, i);
    }
    if (strokes.length) this.finish();
  }

  finish() {
    const { width, height } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, width, height).data;
    const ink = new Float32Array(width * height);
    for (let p = 0; p < ink.length; p++) ink[p] = rgba[4 * p] / 255;  // white ink on black: red channel
    this.onInk(ink, width, height);
  }

  // "x,y,x,y;x,y" for the URL, and back.
  get text() {
    return this.strokes.map((s) => s.join(',')).join(';');
  }

  static parse(text) {
    if (!text) return null;
    const strokes = text.split(';').map((s) => s.split(',').map(Number));
    const valid = strokes.every((s) => s.length >= 2 && s.length % 2 === 0 && s.every((v) => Number.isInteger(v) && v >= -50 && v <= 330));
    return valid ? strokes : null;
  }
}
