// One slider per latent coordinate, laid out in the groups the manifest describes
// (coordinates.js), each with its value; shared by the sliders and compare pages.
import { el, fixed2 } from './page.js';
import { coordinateGroups } from './coordinates.js';

export class SliderPanel {
  // onMove(k, value) runs when the reader moves slider k.
  constructor(container, manifest, onMove) {
    this.sliders = [];
    container.replaceChildren();
    for (const group of coordinateGroups(manifest)) {
      const grid = el('div', { class: 'sliders' });
      container.append(el('fieldset', { class: `group group-${group.name}` }, el('legend', { text: group.title }), grid));
      for (const c of group.coordinates) {
        const id = `z${c.index}`;
        const slider = el('input', { type: 'range', id, min: c.min, max: c.max, step: c.step, value: 0 });
        const value = el('output', { for: id, text: '0.00' });
        grid.append(el('label', { for: id, text: c.label, ...(c.detail ? { title: c.detail } : {}) }), slider, value);
        slider.addEventListener('input', () => onMove(c.index, Number(slider.value)));
        this.sliders[c.index] = { slider, value };
      }
    }
  }

  // Sliders show the nearest position in their range; the vector keeps the exact code.
  show(vector) {
    this.sliders.forEach(({ slider, value }, k) => {
      slider.value = String(vector[k]);
      value.textContent = fixed2(vector[k]);
    });
  }
}
