// Test-set results after a run: the confusion matrix (rows: true class, columns: predicted) as a
// heatmap table, or above TABLE_MAX_CLASSES classes as a canvas heatmap with the most confused
// pairs listed, and the classification report (scikit-learn's layout) as a table and as its text.
// Class names come from the dataset (possibly a user's CSV): textContent only.

import { classificationReport, type ClassificationReport, type Evaluation } from '../../src/index.js';
import { el, fmt } from './dom.js';

/**
 * The most classes whose confusion matrix is a table: k² cells, so 50 classes are 2,500 cells
 * already; 300 classes would be 90,000 elements, thousands of pixels wide and tall.
 */
const TABLE_MAX_CLASSES = 50;
/** The heatmap's side in CSS pixels; more classes than this share pixels (blocks of classes summed). */
const HEATMAP_SIZE = 480;
/** How many of the largest off-diagonal counts the heatmap lists by name. */
const MOST_CONFUSED = 10;

/** The largest value, at least 1 (a loop: Math.max(...values) overflows the stack for k² counts of some 400 classes). */
function largest(values: ArrayLike<number>): number {
  let max = 1;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

/**
 * A cell's colour over the white page: blue on the diagonal, red off it, the stronger the larger
 * its count relative to the largest.
 */
function shade(diagonal: boolean, count: number, max: number): [number, number, number] {
  const rgb = diagonal ? [31, 119, 180] : [214, 39, 40];
  const alpha = count === 0 ? 0 : 0.15 + 0.85 * (count / max);
  return [0, 1, 2].map((c) => Math.round(255 - alpha * (255 - rgb[c]))) as [number, number, number];
}

/**
 * Black or white, whichever contrasts more with `rgb` (WCAG 2's relative luminance): one of the
 * two always reaches 4.58:1, where a fixed switch at some shade leaves mid shades below 4.5:1.
 */
function readableOn(rgb: [number, number, number]): string {
  const linear = (c: number) => (c <= 0.03928 * 255 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
  const luminance = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2]);
  return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? '#000' : '#fff';
}

/** The confusion matrix [true][predicted]: a table up to TABLE_MAX_CLASSES classes, a heatmap above. */
export function renderConfusion(container: HTMLElement, evaluation: Evaluation, classNames: string[]): void {
  if (classNames.length > TABLE_MAX_CLASSES) renderHeatmap(container, evaluation, classNames);
  else renderTable(container, evaluation, classNames);
}

/** The matrix as a table whose cell shade grows with its count. */
function renderTable(container: HTMLElement, evaluation: Evaluation, classNames: string[]): void {
  const k = classNames.length;
  const counts = evaluation.confusion;
  const max = largest(counts);
  const head = el('tr', {}, [el('th', { text: 'true \\ predicted', className: 'corner' }), ...classNames.map((n) => el('th', { text: n, attrs: { scope: 'col' } }))]);
  const rows = classNames.map((name, t) =>
    el('tr', {}, [
      el('th', { text: name, attrs: { scope: 'row' } }),
      ...classNames.map((predicted, p) => {
        const count = counts[t * k + p];
        const cell = el('td', {
          text: String(count),
          title: `true ${name}, predicted ${predicted}: ${count}`,
          attrs: { 'data-count': String(count), 'data-true': String(t), 'data-predicted': String(p) },
        });
        const rgb = shade(t === p, count, max);
        cell.style.background = `rgb(${rgb.join(', ')})`;
        cell.style.color = readableOn(rgb);
        return cell;
      }),
    ]),
  );
  const table = el('table', { className: 'confusion', attrs: { id: 'confusion-table' } }, [el('thead', {}, [head]), el('tbody', {}, rows)]);
  container.replaceChildren(table);
}

/**
 * The matrix as a canvas of one pixel per (true, predicted) pair, or per block of classes when
 * there are more than HEATMAP_SIZE, shaded as the table's cells; a hover names the pair and its
 * count. The most confused pairs follow by name; the full matrix is in the results JSON.
 */
function renderHeatmap(container: HTMLElement, evaluation: Evaluation, classNames: string[]): void {
  const k = classNames.length;
  const counts = evaluation.confusion;
  const side = Math.min(k, HEATMAP_SIZE);
  // Classes [first[b], first[b + 1]) share pixel row and column b.
  const first = Array.from({ length: side + 1 }, (_, b) => Math.ceil((b * k) / side));
  const binOf = new Uint32Array(k);
  for (let b = 0; b < side; b++) binOf.fill(b, first[b], first[b + 1]);
  const sums = new Float64Array(side * side);
  for (let t = 0; t < k; t++) for (let p = 0; p < k; p++) sums[binOf[t] * side + binOf[p]] += counts[t * k + p];
  const max = largest(sums);
  const canvas = el('canvas', { className: 'heatmap', attrs: { id: 'confusion-heatmap', 'data-classes': String(k), 'data-side': String(side) } });
  canvas.width = side;
  canvas.height = side;
  canvas.style.width = `${HEATMAP_SIZE}px`;
  const image = new ImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const rgb = shade(Math.floor(i / side) === i % side, sums[i], max);
    for (let c = 0; c < 3; c++) image.data[4 * i + c] = rgb[c];
    image.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')?.putImageData(image, 0, 0);
  const names = (b: number) => (first[b + 1] - first[b] === 1 ? classNames[first[b]] : `${classNames[first[b]]} … ${classNames[first[b + 1] - 1]}`);
  canvas.addEventListener('mousemove', (event) => {
    const box = canvas.getBoundingClientRect();
    const col = Math.min(side - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * side)));
    const row = Math.min(side - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * side)));
    canvas.title = `true ${names(row)}, predicted ${names(col)}: ${sums[row * side + col]}`;
  });
  const blocks = side < k ? ` Each pixel sums a block of about ${Math.round(k / side)} × ${Math.round(k / side)} classes.` : '';
  const note = el('p', {
    className: 'info',
    attrs: { id: 'confusion-note' },
    text: `${k} classes: the matrix is drawn as a heatmap, not a table (rows: true class in the dataset's order, columns: predicted; blue: correct, red: confused; hover for the counts).${blocks} The full ${k} × ${k} matrix is in the results JSON download.`,
  });
  container.replaceChildren(note, canvas, mostConfused(counts, classNames));
}

/** The largest off-diagonal counts as a list "true → predicted: count", or a line saying there are none. */
function mostConfused(counts: ArrayLike<number>, classNames: string[]): HTMLElement {
  const k = classNames.length;
  const pairs: { t: number; p: number; count: number }[] = [];
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) if (t !== p && counts[t * k + p] > 0) pairs.push({ t, p, count: counts[t * k + p] });
  }
  if (pairs.length === 0) return el('p', { className: 'info', attrs: { id: 'confusion-top' }, text: 'No test row was confused with another class.' });
  pairs.sort((a, b) => b.count - a.count || a.t - b.t || a.p - b.p);
  const shown = pairs.slice(0, MOST_CONFUSED);
  const more = pairs.length > shown.length ? ` (of ${pairs.length} confused pairs)` : '';
  return el('div', { attrs: { id: 'confusion-top' } }, [
    el('p', { className: 'info', text: `Most confused, true → predicted${more}:` }),
    el('ol', {}, shown.map((x) => el('li', { text: `${classNames[x.t]} → ${classNames[x.p]}: ${x.count}` }))),
  ]);
}

/** The report for the test rows, with class names as target names. */
export function testReport(evaluation: Evaluation, classNames: string[]): ClassificationReport {
  return classificationReport(evaluation.labels, evaluation.predictions, { targetNames: classNames, digits: 4 });
}

/** The report as a table plus its text in `pre`. */
export function renderReport(container: HTMLElement, pre: HTMLElement, report: ClassificationReport): void {
  const row = (name: string, r: { precision: number; recall: number; f1: number; support: number }, className = '') =>
    el('tr', { className }, [el('th', { text: name, attrs: { scope: 'row' } }), el('td', { text: fmt(r.precision) }), el('td', { text: fmt(r.recall) }), el('td', { text: fmt(r.f1) }), el('td', { text: String(r.support) })]);
  const total = report.macroAvg.support;
  const table = el('table', { className: 'report', attrs: { id: 'report-table' } }, [
    el('thead', {}, [el('tr', {}, ['', 'precision', 'recall', 'f1-score', 'support'].map((h) => el('th', { text: h })))]),
    el('tbody', {}, [
      ...report.classes.map((c) => row(c.name, c)),
      el('tr', { className: 'summary' }, [el('th', { text: 'accuracy', attrs: { scope: 'row' } }), el('td'), el('td'), el('td', { text: fmt(report.accuracy) }), el('td', { text: String(total) })]),
      row('macro avg', report.macroAvg, 'summary'),
      row('weighted avg', report.weightedAvg, 'summary'),
    ]),
  ]);
  container.replaceChildren(table);
  pre.textContent = report.text + (report.warnings.length ? '\n' + report.warnings.join('\n') : '');
}
