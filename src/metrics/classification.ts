// Classification metrics on the CPU, following scikit-learn's definitions so that numbers can be
// compared with a Python run: confusion matrix, accuracy, per-class precision / recall / F1 with
// macro and weighted averages, log loss, the text of `classification_report`, and mean ± std
// summaries across folds. Class ids are 0..classes−1 throughout.

import { describeValue, optionsProblem } from '../runtime/options.js';

/** Bad inputs to a metric (lengths, class ids, options); thrown before anything is computed. */
export class MetricsError extends Error {
  override name = 'MetricsError';
}

/** Class ids, one per row: non-negative integers (below `classes` where a function takes it). */
export type Labels = Uint32Array | Int32Array | number[];

/** Row = true class, column = predicted class; `classes × classes`, row-major. */
export function confusionMatrix(yTrue: Labels, yPred: Labels, classes: number): Uint32Array {
  requireClasses('confusionMatrix', classes, 1);
  requirePairs('confusionMatrix', yTrue, yPred, classes);
  const m = new Uint32Array(classes * classes);
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i] * classes + yPred[i]]++;
  return m;
}

/** Fraction of rows with yPred = yTrue. */
export function accuracy(yTrue: Labels, yPred: Labels): number {
  requirePairs('accuracy', yTrue, yPred);
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) correct++;
  return correct / yTrue.length;
}

/** Precision, recall and F1 averaged over the classes. */
export interface Averages {
  precision: number;
  recall: number;
  f1: number;
}

/** A metric that was 0/0 for some classes and was set to 0, as scikit-learn does by default. */
export interface IllDefined {
  metric: 'precision' | 'recall' | 'f-score';
  /** Class ids where it was 0/0. */
  classes: number[];
}

/** precisionRecallFscoreSupport's result: scores and support per class, their averages, and where a score was 0/0. */
export interface PrecisionRecallFscoreSupport {
  /** Per class: tp / predicted (0 when nothing was predicted as the class). */
  precision: Float64Array;
  /** Per class: tp / true (0 when the class has no true rows). */
  recall: Float64Array;
  /** Per class: 2·tp / (true + predicted) (0 when both are 0). */
  f1: Float64Array;
  /** Per class: true rows. */
  support: Uint32Array;
  /** Unweighted means over the classes. */
  macro: Averages;
  /** Means weighted by support. */
  weighted: Averages;
  /** Which metric was ill-defined for which classes (empty when all were defined). */
  illDefined: IllDefined[];
  /** One scikit-learn-style message per entry of illDefined. */
  warnings: string[];
}

/**
 * Precision, recall, F1 and support for every class 0..classes−1, like scikit-learn's
 * `precision_recall_fscore_support(labels=range(classes))` with its default `zero_division="warn"`:
 * a 0/0 metric is set to 0 and reported in `illDefined` / `warnings` (precision: class never
 * predicted; recall: class absent from yTrue; F1: both). F1 is computed from counts, 2·tp /
 * (2·tp + fp + fn), as scikit-learn ≥ 1.3 does, so it is 0 (and defined) when precision and
 * recall are both 0 but the class occurs.
 */
export function precisionRecallFscoreSupport(yTrue: Labels, yPred: Labels, classes: number): PrecisionRecallFscoreSupport {
  requireClasses('precisionRecallFscoreSupport', classes, 1);
  requirePairs('precisionRecallFscoreSupport', yTrue, yPred, classes);
  const labels = Array.from({ length: classes }, (_, c) => c);
  return scores(yTrue, yPred, labels, labels.map(String));
}

/** Options of logLoss; an unknown key throws a MetricsError. */
export interface LogLossOptions {
  /** Messages for rows whose probabilities do not sum to 1 (scikit-learn warns); pushed here. */
  warnings?: string[];
}

/**
 * Mean negative log-likelihood of the true classes, like scikit-learn's `log_loss` (≥ 1.5):
 * probabilities are clipped to [ε, 1 − ε] with ε the machine epsilon of the array's type
 * (2⁻²³ for Float32Array, 2⁻⁵² for Float64Array), rows are not renormalized, and rows whose sum
 * is off 1 by more than 1e-8 + √ε give a warning. The sum runs in float64 (scikit-learn stays in
 * float32 for float32 input; the results agree to float32 precision). `probabilities` is rows ×
 * classes, row-major; NaN or infinite entries are an error, as in scikit-learn.
 */
export function logLoss(
  yTrue: Labels,
  probabilities: Float32Array | Float64Array,
  classes: number,
  options: LogLossOptions = {},
): number {
  requireOptions('logLoss', options, LOG_LOSS_KEYS);
  if (options.warnings !== undefined && !Array.isArray(options.warnings)) {
    throw new MetricsError(`logLoss: options.warnings must be an array (messages are pushed onto it), got ${describeValue(options.warnings)}`);
  }
  requireClasses('logLoss', classes, 2);
  requireLabels('logLoss', 'yTrue', yTrue, classes);
  const rows = yTrue.length;
  if (probabilities.length !== rows * classes) {
    throw new MetricsError(
      `logLoss: probabilities has ${probabilities.length} values, expected rows × classes = ${rows} × ${classes} = ${rows * classes}`,
    );
  }
  const eps = probabilities instanceof Float32Array ? 2 ** -23 : 2 ** -52;
  const tolerance = 1e-8 + Math.sqrt(eps);
  let offRows = 0;
  let firstOff = -1;
  let firstSum = 0;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const p = probabilities[r * classes + c];
      if (!Number.isFinite(p)) throw new MetricsError(`logLoss: probability of row ${r}, class ${c} is ${p}; expected a finite number`);
      sum += p;
    }
    if (Math.abs(sum - 1) > tolerance) {
      if (offRows++ === 0) [firstOff, firstSum] = [r, sum];
    }
    const p = Math.min(1 - eps, Math.max(eps, probabilities[r * classes + yTrue[r]]));
    total -= Math.log(p);
  }
  if (offRows > 0) {
    options.warnings?.push(
      `logLoss: the probabilities of ${offRows} row${offRows === 1 ? '' : 's'} do not sum to one ` +
        `(row ${firstOff} sums to ${firstSum}); make sure to pass probabilities`,
    );
  }
  return total / rows;
}

/** Options of classificationReport; an unknown key throws a MetricsError. */
export interface ReportOptions {
  /** Report classes 0..classes−1 (default: targetNames.length, else the ids present in either array). */
  classes?: number;
  /** Display name of each class id (default: the id). */
  targetNames?: string[];
  /** Decimals in the text (default 2). */
  digits?: number;
}

const LOG_LOSS_KEYS = Object.keys({ warnings: 1 } satisfies Record<keyof LogLossOptions, 1>);
const REPORT_KEYS = Object.keys({ classes: 1, targetNames: 1, digits: 1 } satisfies Record<keyof ReportOptions, 1>);

/** One row of a classification report: precision, recall and F1 in [0, 1], and support (rows). */
export interface ReportRow {
  /** The class's name (targetNames, else its id). */
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** True rows of the class (of every row, in the averages). */
  support: number;
}

/** classificationReport's result: per class and averaged, as numbers and as scikit-learn's text. */
export interface ClassificationReport {
  /** One row per listed class, in id order. */
  classes: ReportRow[];
  /** Fraction of rows predicted right. */
  accuracy: number;
  /** Unweighted means over the listed classes. */
  macroAvg: Omit<ReportRow, 'name'>;
  /** Means weighted by each class's support. */
  weightedAvg: Omit<ReportRow, 'name'>;
  /** scikit-learn's messages for scores set to 0.0 (0/0), one per illDefined entry. */
  warnings: string[];
  /** Which metric was ill-defined for which class ids, one entry per warning, in its order. */
  illDefined: IllDefined[];
  /** Character for character what scikit-learn's `classification_report` prints. */
  text: string;
}

/**
 * scikit-learn's `classification_report` as numbers and as its exact text. Which classes are
 * listed follows scikit-learn: with `classes` or `targetNames` given, every id 0..classes−1 (as
 * `labels=range(classes)`); otherwise the sorted ids present in yTrue or yPred. The summary row
 * reads "accuracy", as scikit-learn ≥ 1.5 prints whenever the listed classes include every id
 * present, also when some listed classes never occur.
 */
export function classificationReport(yTrue: Labels, yPred: Labels, options: ReportOptions = {}): ClassificationReport {
  const where = 'classificationReport';
  requireOptions(where, options, REPORT_KEYS);
  const { targetNames } = options;
  const digits = options.digits ?? 2;
  if (!Number.isInteger(digits) || digits < 0) throw new MetricsError(`${where}: digits must be an integer ≥ 0, got ${digits}`);
  if (options.classes !== undefined) requireClasses(where, options.classes, 1);
  if (targetNames !== undefined && options.classes !== undefined && targetNames.length !== options.classes) {
    throw new MetricsError(`${where}: ${targetNames.length} targetNames for ${options.classes} classes; give one name per class`);
  }
  const classes = options.classes ?? targetNames?.length;
  requirePairs(where, yTrue, yPred, classes);

  const present = [...new Set([...yTrue, ...yPred])].sort((a, b) => a - b);
  const labels = classes === undefined ? present : Array.from({ length: classes }, (_, c) => c);
  const names = targetNames ?? labels.map(String);
  const s = scores(yTrue, yPred, labels, names);
  const acc = accuracy(yTrue, yPred);
  const total = yTrue.length;

  const rows: ReportRow[] = labels.map((_, i) => ({
    name: names[i],
    precision: s.precision[i],
    recall: s.recall[i],
    f1: s.f1[i],
    support: s.support[i],
  }));
  const macroAvg = { ...s.macro, support: total };
  const weightedAvg = { ...s.weighted, support: total };

  // scikit-learn's layout: the name right-aligned in a column as wide as the longest name or
  // "weighted avg" and a space, then four cells of one space plus the value right-aligned in
  // width 9; a blank line after the header and after the class rows.
  // A loop, not Math.max(...): a report may have more classes than a call takes arguments.
  const width = names.reduce((w, name) => Math.max(w, textLength(name)), Math.max('weighted avg'.length, digits));
  const line = (name: string, cells: string[]) => padLeft(name, width) + ' ' + cells.map((c) => ' ' + padLeft(c, 9)).join('') + '\n';
  const fixed = (v: number) => formatFixed(v, digits);
  const scoreLine = (name: string, a: Omit<ReportRow, 'name'>) => line(name, [a.precision, a.recall, a.f1].map(fixed).concat(String(a.support)));

  let text = line('', ['precision', 'recall', 'f1-score', 'support']) + '\n';
  for (const r of rows) text += scoreLine(r.name, r);
  text += '\n';
  // scikit-learn prints "micro avg" instead only when the listed labels miss a label present in
  // yTrue or yPred; since 1.5 (PR #28399) its test is set(labels) >= set(unique_labels(y_true,
  // y_pred)), before that set equality. Our listed labels always hold every present id (ids of
  // `classes` or more are rejected above), so the row is always "accuracy".
  text += line('accuracy', ['', '', fixed(acc), String(total)]);
  text += scoreLine('macro avg', macroAvg);
  text += scoreLine('weighted avg', weightedAvg);

  return { classes: rows, accuracy: acc, macroAvg, weightedAvg, warnings: s.warnings, illDefined: s.illDefined, text };
}

/** A mean and the sample standard deviation (n − 1) of some values, e.g. folds; std NaN for one value. */
export interface MeanStd {
  mean: number;
  std: number;
}

/**
 * Mean and sample standard deviation (divides by n − 1, as numpy's std(ddof=1) and pandas'
 * std()) of fold results; std is NaN for a single value, where it is undefined.
 */
export function meanStd(values: number[]): MeanStd {
  if (values.length === 0) throw new MetricsError('meanStd: no values; need at least one');
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, std: NaN };
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/** A report row's numbers, each as mean ± sample std over the reports. */
export interface AveragedRow {
  precision: MeanStd;
  recall: MeanStd;
  f1: MeanStd;
  support: MeanStd;
}

/** averageReports' result: every number of a ClassificationReport as mean ± sample std over the reports. */
export interface AveragedReport {
  /** Number of reports averaged (e.g. folds). */
  reports: number;
  classes: (AveragedRow & { name: string })[];
  accuracy: MeanStd;
  macroAvg: AveragedRow;
  weightedAvg: AveragedRow;
}

/** Mean and sample std of every number across reports (e.g. one per fold) listing the same classes. */
export function averageReports(reports: ClassificationReport[]): AveragedReport {
  if (reports.length === 0) throw new MetricsError('averageReports: no reports; need at least one');
  const names = reports[0].classes.map((c) => c.name);
  reports.forEach((r, i) => {
    const these = r.classes.map((c) => c.name);
    if (these.join('\u0000') !== names.join('\u0000')) {
      throw new MetricsError(
        `averageReports: report ${i} lists classes [${these.join(', ')}] but report 0 lists [${names.join(', ')}]; ` +
          'give every report the same classes (pass `classes` or `targetNames` to classificationReport)',
      );
    }
  });
  const average = (pick: (r: ClassificationReport) => Omit<ReportRow, 'name'>): AveragedRow => ({
    precision: meanStd(reports.map((r) => pick(r).precision)),
    recall: meanStd(reports.map((r) => pick(r).recall)),
    f1: meanStd(reports.map((r) => pick(r).f1)),
    support: meanStd(reports.map((r) => pick(r).support)),
  });
  return {
    reports: reports.length,
    classes: names.map((name, i) => ({ name, ...average((r) => r.classes[i]) })),
    accuracy: meanStd(reports.map((r) => r.accuracy)),
    macroAvg: average((r) => r.macroAvg),
    weightedAvg: average((r) => r.weightedAvg),
  };
}

/**
 * Formats like Python's `format(value, '.{digits}f')`: toFixed agrees except on exact ties
 * (e.g. 0.125), which toFixed rounds away from zero and Python rounds to even.
 */
export function formatFixed(value: number, digits: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const sign = Object.is(value, -0) ? '-' : '';
  // A tie (n + ½)·10^−digits that a double holds exactly has at most digits + 1 binary places.
  if (Number.isInteger(value * 2 ** (digits + 1))) {
    const longer = value.toFixed(digits + 1);
    if (longer.endsWith('5')) {
      const down = longer.slice(0, -1).replace(/\.$/, '');
      const lastDigit = Number(down.replace(/\./g, '').slice(-1));
      return lastDigit % 2 === 0 ? down : value.toFixed(digits);
    }
  }
  return sign + value.toFixed(digits);
}

// Counts and scores over `labels` (ids); `names` only label the warnings.
function scores(yTrue: Labels, yPred: Labels, labels: number[], names: string[]): PrecisionRecallFscoreSupport {
  const k = labels.length;
  const index = new Map(labels.map((id, i) => [id, i]));
  const tp = new Float64Array(k);
  const predicted = new Float64Array(k);
  const truth = new Float64Array(k);
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i]);
    const p = index.get(yPred[i]);
    if (t !== undefined) truth[t]++;
    if (p !== undefined) predicted[p]++;
    if (t !== undefined && t === p) tp[t]++;
  }
  const illDefined: IllDefined[] = [];
  const divide = (num: Float64Array, den: Float64Array, metric: IllDefined['metric']) => {
    const bad: number[] = [];
    const out = num.map((n, i) => {
      if (den[i] === 0) bad.push(labels[i]);
      return den[i] === 0 ? 0 : n / den[i];
    });
    if (bad.length > 0) illDefined.push({ metric, classes: bad });
    return out;
  };
  const precision = divide(tp, predicted, 'precision');
  const recall = divide(tp, truth, 'recall');
  const f1 = divide(
    tp.map((t) => 2 * t),
    truth.map((t, i) => t + predicted[i]),
    'f-score',
  );
  const support = Uint32Array.from(truth);
  const totalSupport = truth.reduce((a, b) => a + b, 0);
  const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / k;
  const weightedMean = (v: Float64Array) => (totalSupport === 0 ? 0 : v.reduce((a, b, i) => a + b * truth[i], 0) / totalSupport);

  const reason = { precision: 'no predicted samples', recall: 'no true samples', 'f-score': 'no true nor predicted samples' };
  const nameOf = (id: number) => {
    const name = names[labels.indexOf(id)];
    return name === String(id) ? name : `"${name}" (${id})`;
  };
  const warnings = illDefined.map(
    ({ metric, classes }) =>
      `${metric === 'f-score' ? 'F-score' : metric[0].toUpperCase() + metric.slice(1)} is ill-defined and being set to 0.0 ` +
      `in classes with ${reason[metric]}: ${classes.map(nameOf).join(', ')}`,
  );
  return {
    precision,
    recall,
    f1,
    support,
    macro: { precision: mean(precision), recall: mean(recall), f1: mean(f1) },
    weighted: { precision: weightedMean(precision), recall: weightedMean(recall), f1: weightedMean(f1) },
    illDefined,
    warnings,
  };
}

// An options object holding only `valid` keys: a misspelt one (`digit`) would be ignored silently.
function requireOptions(where: string, options: object, valid: readonly string[]): void {
  const problem = optionsProblem(options, valid);
  if (problem !== null) throw new MetricsError(`${where}: ${problem}`);
}

function requireClasses(where: string, classes: number, min: number): void {
  if (!Number.isInteger(classes) || classes < min) throw new MetricsError(`${where}: classes must be an integer ≥ ${min}, got ${classes}`);
}

// Same non-zero length; every id a non-negative integer, below `classes` when given.
function requirePairs(where: string, yTrue: Labels, yPred: Labels, classes?: number): void {
  if (yTrue.length !== yPred.length) {
    throw new MetricsError(`${where}: yTrue has ${yTrue.length} rows but yPred has ${yPred.length}; they must match`);
  }
  requireLabels(where, 'yTrue', yTrue, classes);
  requireLabels(where, 'yPred', yPred, classes);
}

function requireLabels(where: string, field: string, y: Labels, classes?: number): void {
  if (y.length === 0) throw new MetricsError(`${where}: no rows; need at least one`);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isInteger(v) || v < 0 || (classes !== undefined && v >= classes)) {
      const valid = classes === undefined ? 'a non-negative integer' : `an integer in 0..${classes - 1}`;
      throw new MetricsError(`${where}: ${field}[${i}] = ${v}; expected ${valid}`);
    }
  }
}

// Python pads by code points, not UTF-16 units.
function textLength(s: string): number {
  return [...s].length;
}

function padLeft(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - textLength(s))) + s;
}
