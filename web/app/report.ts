// Test-set results after a run: the confusion matrix as a heatmap table (rows: true class,
// columns: predicted) and the classification report (scikit-learn's layout) as a table and as
// its text. Class names come from the dataset (possibly a user's CSV): textContent only.

import { classificationReport, type ClassificationReport, type Evaluation } from '../../src/index.js';
import { el, fmt } from './dom.js';

/** The confusion matrix [true][predicted] as a table whose cell shade grows with its count. */
export function renderConfusion(container: HTMLElement, evaluation: Evaluation, classNames: string[]): void {
  const k = classNames.length;
  const counts = evaluation.confusion;
  const max = Math.max(1, ...counts);
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
        // Blue for the diagonal, red off it; the shade is the count relative to the largest.
        const alpha = count === 0 ? 0 : 0.15 + 0.85 * (count / max);
        cell.style.background = t === p ? `rgba(31, 119, 180, ${alpha})` : `rgba(214, 39, 40, ${alpha})`;
        if (alpha > 0.55) cell.style.color = '#fff';
        return cell;
      }),
    ]),
  );
  const table = el('table', { className: 'confusion', attrs: { id: 'confusion-table' } }, [el('thead', {}, [head]), el('tbody', {}, rows)]);
  container.replaceChildren(table);
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
