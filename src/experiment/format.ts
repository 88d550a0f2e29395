// Text for experiment results: the side-by-side comparison of arms (mean ± std over folds, and
// the paired difference to the first arm), and a classification report averaged over folds in
// scikit-learn's layout with "mean ± std" cells.

import { formatFixed, type AveragedReport, type AveragedRow, type MeanStd } from '../metrics/classification.js';
import type { PairedTest } from '../metrics/stats.js';
import type { ArmResult, ExperimentResult } from './crossval.js';

/** A "mean ± std" cell (just the mean when there is no spread, e.g. one fold). */
export function formatMeanStd(v: MeanStd, digits = 3): string {
  if (Number.isNaN(v.std)) return formatFixed(v.mean, digits);
  return `${formatFixed(v.mean, digits)} ± ${formatFixed(v.std, digits)}`;
}

function pad(cells: string[], widths: number[], alignLeft = 1): string {
  return cells.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [pad(header, widths), pad(widths.map((w) => '-'.repeat(w)), widths), ...rows.map((r) => pad(r, widths))].join('\n');
}

/**
 * A difference with its sign: `+0.007`, `-0.012`, `0.000` for none; one too small for `digits`
 * gets two significant digits (`-0.00030`), so that its direction still shows.
 */
export function formatSigned(value: number, digits = 3): string {
  if (value === 0 || !Number.isFinite(value)) return formatFixed(value === 0 ? 0 : value, digits);
  const text = formatFixed(value, digits);
  const shown = /^-?0\.?0*$/.test(text) ? Math.abs(value).toPrecision(2) : text.replace('-', '');
  return `${value > 0 ? '+' : '-'}${shown}`;
}

/**
 * A p-value: `<0.001`, else three decimals, or more where three would put it on the other side of
 * 0.05 (0.0496 is `0.0496`, not `0.050`); `n/a` for NaN.
 */
export function formatP(p: number): string {
  if (Number.isNaN(p)) return 'n/a';
  if (p < 0.001) return '<0.001';
  for (let digits = 3; digits <= 12; digits++) {
    const text = p.toFixed(digits);
    if (Number(text) < 0.05 === p < 0.05) return text;
  }
  return p < 0.05 ? '<0.05' : '≥0.05';
}

/** A paired-difference cell: the signed mean difference and the test's p. */
export function formatPairedDifference(t: PairedTest, digits = 3, scale = 1): string {
  return `${formatSigned(t.meanDiff * scale, digits)} (p ${formatP(t.p)})`;
}

/** A 95% confidence interval of a difference: `-0.016 … +0.029`; `n/a` where it has none (p n/a). */
export function formatInterval(t: PairedTest, digits = 3, scale = 1): string {
  if (t.ci95.some(Number.isNaN)) return 'n/a';
  return `${formatSigned(t.ci95[0] * scale, digits)} … ${formatSigned(t.ci95[1] * scale, digits)}`;
}

/** How many paired tests a comparison shows: accuracy and log-loss of every arm after the first. */
export function pairedTestCount(r: ExperimentResult): number {
  return 2 * r.arms.filter((a) => a.versusFirst).length;
}

/** Whether the result's paired tests are corrected for the folds' shared training rows (runExperiment's are). */
export function correctedTest(r: ExperimentResult): boolean {
  return r.arms.some((a) => (a.versusFirst?.accuracy.testTrainRatio ?? 0) > 0);
}

/**
 * The comparison table of every arm, plus, when k ≥ 2, paired differences to the first arm and
 * a second table of their 95% confidence intervals.
 */
export function formatComparison(r: ExperimentResult, digits = 3): string {
  const paired = r.arms.some((a) => a.versusFirst);
  const header = ['schedule', 'accuracy', 'macro-F1', 'log-loss'];
  if (paired) header.push(`Δ accuracy vs ${r.arms[0].arm.name}`, 'Δ log-loss');
  const rows = r.arms.map((a) => {
    const row = [a.arm.name, formatMeanStd(a.accuracy, digits), formatMeanStd(a.macroF1, digits), formatMeanStd(a.logLoss, digits)];
    if (paired) row.push(a.versusFirst ? formatPairedDifference(a.versusFirst.accuracy, digits) : '—', a.versusFirst ? formatPairedDifference(a.versusFirst.logLoss, digits) : '—');
    return row;
  });
  const folds = r.repeats > 1 ? `${r.repeats}×${r.folds}-fold` : `${r.folds}-fold`;
  const test = correctedTest(r) ? "a two-sided corrected resampled t-test (Nadeau & Bengio: the folds' training rows overlap)" : 'a two-sided paired t-test';
  const first = r.arms[0].arm.name;
  const tests = pairedTestCount(r);
  const footnote =
    r.folds > 1
      ? `mean ± std over ${folds} cross-validation test folds` +
        (paired
          ? `; Δ = arm − ${first} over the same folds (higher accuracy, lower log-loss is better), p from ${test}, ` +
            `the ${tests} tests not adjusted for multiplicity.`
          : '.')
      : 'one holdout test set: no spread and no paired differences (k-fold cross-validation gives both).';
  const lines = [table(header, rows), '', footnote];
  if (paired) {
    const compared = r.arms.filter((a) => a.versusFirst);
    lines.push(
      '',
      table(
        ['schedule', `Δ accuracy vs ${first}, 95% CI`, 'Δ log-loss, 95% CI'],
        compared.map((a) => [a.arm.name, formatInterval(a.versusFirst!.accuracy, digits), formatInterval(a.versusFirst!.logLoss, digits)]),
      ),
      '',
      'p ≥ 0.05 is no evidence of a difference, and no evidence that there is none: the 95% confidence interval (same correction) is how large a difference the folds cannot rule out.',
    );
  }
  return lines.join('\n');
}

/**
 * The scores of an arm's test reports that were ill-defined (0/0: a class never predicted, or
 * absent from a test fold) and set to 0.0, as scikit-learn sets them and warns: one line per
 * message with the folds it came from, or '' when every score was defined. The macro averages
 * count those zeros, so a reader should know.
 */
export function formatIllDefined(arm: ArmResult): string {
  // Each message once, with the folds it came from; a long list of classes (thousands where a
  // class column has as many) cut after the first few, with their number.
  const folds = new Map<string, number>();
  for (const f of arm.folds) {
    const seen = new Set<string>();
    f.report.warnings.forEach((w, i) => {
      const shown = shortenClassList(w, f.report.illDefined?.[i]?.classes.length ?? 0);
      if (!seen.has(shown)) folds.set(shown, (folds.get(shown) ?? 0) + 1);
      seen.add(shown);
    });
  }
  if (folds.size === 0) return '';
  const n = arm.folds.length;
  const lines = [...folds].map(([w, k]) => `  ${w}${n > 1 ? ` (${k} of ${n} test folds)` : ''}`);
  return `Ill-defined scores were set to 0.0 (scikit-learn's zero_division default) and count as 0 in the macro average:\n${lines.join('\n')}\n`;
}

/** At most this many classes of an ill-defined-score message are listed. */
const LISTED_CLASSES = 8;

/** A warning whose list of `count` classes (after its ": ") is cut after LISTED_CLASSES of them. */
function shortenClassList(warning: string, count: number): string {
  const at = warning.indexOf(': ');
  if (count <= LISTED_CLASSES || at < 0) return warning;
  const items = warning.slice(at + 2).split(', ');
  return `${warning.slice(0, at + 2)}${items.slice(0, LISTED_CLASSES).join(', ')}, … (${count} classes)`;
}

/** scikit-learn's classification_report layout, every cell "mean ± std" over folds. */
export function formatAveragedReport(report: AveragedReport, digits = 2): string {
  const names = [...report.classes.map((c) => c.name), 'weighted avg'];
  const nameWidth = Math.max(...names.map((n) => n.length), digits);
  const cell = (v: MeanStd) => formatMeanStd(v, digits);
  const rowCells = (r: AveragedRow) => [cell(r.precision), cell(r.recall), cell(r.f1), formatMeanStd(r.support, 1)];
  const all = [...report.classes.map(rowCells), rowCells(report.macroAvg), rowCells(report.weightedAvg)];
  const width = Math.max('precision'.length, ...all.flat().map((c) => c.length));
  const line = (name: string, cells: string[]) => `${name.padStart(nameWidth)} ${cells.map((c) => c.padStart(width)).join(' ')}\n`;
  let text = line('', ['precision', 'recall', 'f1-score', 'support']) + '\n';
  report.classes.forEach((c, i) => (text += line(c.name, all[i])));
  text += '\n';
  const totalSupport = report.weightedAvg.support;
  text += line('accuracy', ['', '', cell(report.accuracy), formatMeanStd(totalSupport, 1)]);
  text += line('macro avg', all[all.length - 2]);
  text += line('weighted avg', all[all.length - 1]);
  return text;
}

/** An array whose items JSON writes as numbers, booleans or null: it goes on one line. */
function flatArray(value: unknown[]): boolean {
  return value.every((v) => v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol');
}

/**
 * JSON.stringify(value, null, indent), but with each array of numbers (or booleans) on one line,
 * and an array of such arrays one line per array: a fold's confusion matrix of 1,000 classes is
 * then one line, not a million (`altreg compare` of 3 arms, 5 folds: 137.7 MB in 15.2 million
 * lines → 32.7 MB in 164,000; the web app's results download likewise). The text parses to the same value as JSON.stringify's; only the whitespace
 * differs.
 */
export function jsonText(value: unknown, indent = 1): string {
  const write = (v: unknown, pad: string): string | undefined => {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
    const boxed = v instanceof Number || v instanceof String || v instanceof Boolean;
    if (v === null || typeof v !== 'object' || boxed || (Array.isArray(v) && flatArray(v))) return JSON.stringify(v);
    const inner = pad + ' '.repeat(indent);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[\n${v.map((item) => inner + (write(item, inner) ?? 'null')).join(',\n')}\n${pad}]`;
    }
    const fields = Object.entries(v).flatMap(([key, item]) => {
      const text = write(item, inner);
      return text === undefined ? [] : [`${inner}${JSON.stringify(key)}: ${text}`];
    });
    return fields.length === 0 ? '{}' : `{\n${fields.join(',\n')}\n${pad}}`;
  };
  return write(value, '')!;
}
