// A small per-class score bar under a prediction: one column per class, its height the
// class's score, the predicted class highlighted. Fixed size, so updates move nothing:
// up to ten classes get 16 px columns, more share the width of ten; names longer than two
// characters (folder names, not digits) go in the columns' tooltips, not under them.
import { el } from './page.js';

const SOURCE_TEXT = {
  head: () => 'classifier head (softmax)',
  routes: (cls) => `largest mean on each ${cls}'s routed coordinates`,
};
const NAMED_COLUMNS = 10;  // more classes than this share the width of ten columns
const SHORT_NAME = 2;  // characters of a name that fit under a column

// A Model.predict result as text: the class, "no class (a tie)", or "–" for no reading.
export function predictionText(prediction, classNames) {
  if (!prediction) return '–';
  return prediction.predicted === null ? 'no class (a tie)' : classNames[prediction.predicted];
}

// Writes predictionText into a .prediction element; a tie or a class name longer than a
// digit gets a smaller font (and at most two lines, the whole name in its tooltip) so it fits.
export function showPrediction(element, prediction, classNames) {
  const text = predictionText(prediction, classNames);
  element.textContent = text;
  element.title = text;
  element.classList.toggle('none', Boolean(prediction) && prediction.predicted === null);
  element.classList.toggle('word', text.length > SHORT_NAME + 1);
}

export class ScoreBar {
  // cls: what a class is called ("digit" or "class"), for the bar's description.
  constructor(parent, classNames, cls = 'digit') {
    this.cls = cls;
    this.columns = classNames.map((name) => {
      const bar = el('span', { class: 'bar' });
      const column = el('span', { class: 'score', title: name }, el('span', { class: 'well' }, bar), el('span', { class: 'name', text: name }));
      return { column, bar };
    });
    this.box = el('div', { class: 'scores', role: 'img', 'aria-label': `per-${cls} scores` }, ...this.columns.map((c) => c.column));
    this.box.classList.toggle('many', classNames.length > NAMED_COLUMNS);
    const words = classNames.some((name) => name.length > SHORT_NAME);
    this.box.classList.toggle('unnamed', words);
    parent.classList.toggle('words', words);  // its reading gives the class's name more room
    if (classNames.length > NAMED_COLUMNS) this.box.style.setProperty('--classes', classNames.length);
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
      const source = SOURCE_TEXT[prediction.source](this.cls);
      this.box.setAttribute('aria-label', `scores from the ${source}${tie}`);
      this.box.title = source + tie;
    }
  }
}
