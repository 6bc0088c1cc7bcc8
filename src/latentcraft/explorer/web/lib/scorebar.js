// A small per-digit score bar under a prediction: one column per class, its height the
// class's score, the predicted class highlighted. Fixed size, so updates move nothing.
import { el } from './page.js';

const SOURCE_TEXT = {
  head: 'classifier head (softmax)',
  routes: 'largest mean on each digit\'s routed coordinates',
};

// A Model.predict result as text: the class, "no class (a tie)", or "–" for no reading.
export function predictionText(prediction, classNames) {
  if (!prediction) return '–';
  return prediction.predicted === null ? 'no class (a tie)' : classNames[prediction.predicted];
}

// Writes predictionText into a .prediction element; a tie gets a smaller font so it fits.
export function showPrediction(element, prediction, classNames) {
  element.textContent = predictionText(prediction, classNames);
  element.classList.toggle('none', Boolean(prediction) && prediction.predicted === null);
}

export class ScoreBar {
  constructor(parent, classNames) {
    this.columns = classNames.map((name) => {
      const bar = el('span', { class: 'bar' });
      const column = el('span', { class: 'score', title: name }, el('span', { class: 'well' }, bar), el('span', { class: 'name', text: name }));
      return { column, bar };
    });
    this.box = el('div', { class: 'scores', role: 'img', 'aria-label': 'per-digit scores' }, ...this.columns.map((c) => c.column));
    parent.append(this.box);
    this.show(null);
  }

  // prediction: a Model.predict result, or null to blank the bar.
  show(prediction) {
    this.box.classList.toggle('empty', !prediction);
    this.columns.forEach(({ column, bar }, k) => {
      const score = prediction ? prediction.scores[k] : 0;
      bar.style.height = `${(100 * score).toFixed(1)}%`;
      const chosen = prediction && prediction.predicted === k;
      column.classList.toggle('chosen', Boolean(chosen));
    });
    if (prediction) {
      const tie = prediction.predicted === null ? ' (a tie: no class)' : '';
      this.box.setAttribute('aria-label', `scores from the ${SOURCE_TEXT[prediction.source]}${tie}`);
      this.box.title = SOURCE_TEXT[prediction.source] + tie;
    }
  }
}
