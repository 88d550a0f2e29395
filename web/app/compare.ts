// Compare schedules: every listed schedule trained on the same stratified k folds with the same
// seeds by the library's runExperiment (what `altreg compare` runs), on the page's WebGPU device
// or the CPU reference trainer, with Stop. The result is shown as formatComparison's table in
// HTML (mean ± std over folds, paired differences to the first schedule) and as its text.

import { correctedTest, describeLambda, describeMissingControls, missingControls, mlpLayout, parseArms, formatComparison, formatInterval, formatMeanStd, formatPairedDifference, pairedTestCount, runExperiment, type ArmText, type Dataset, type ExperimentOptions, type ExperimentResult, type Gpu } from '../../src/index.js';
import type { CompareConfig, SharedConfig } from './config.js';
import { VALIDATION_FRACTION } from './data.js';
import { el, plural } from './dom.js';
import { deviceOptions, Stoppable } from './training.js';

/** Decimals of the table, formatComparison's default. */
const DIGITS = 3;

/** runExperiment's options for the form's settings (no device, signal or callback). */
export function experimentOptions(config: SharedConfig, compare: CompareConfig, dataset: Dataset): ExperimentOptions {
  return {
    dataset,
    model: { hidden: config.hidden, activation: config.activation },
    arms: compare.schedules.map((s) => ({
      name: s.name,
      penalty: { lambda: s.lambda ?? config.lambda, mode: config.mode, convention: config.convention, targets: config.targets, schedule: s.schedule },
    })),
    folds: compare.folds,
    // As for Train: 10 % of each training part validates, features standardized on the rest.
    validationFraction: VALIDATION_FRACTION,
    epochs: config.epochs,
    batchSize: config.batchSize,
    optimizer: { kind: 'adam', lr: config.lr },
    seed: config.seed,
  };
}

/** The matched controls `arms` lack under the form's settings (the library's missingControls). */
function controlsLacked(arms: ArmText[], config: SharedConfig, dataset: Dataset | null): ReturnType<typeof missingControls> {
  // The number of targeted terms depends on the layers only, not on the data set's shape.
  const layout = mlpLayout(dataset?.features ?? 1, dataset?.classes ?? 2, { hidden: config.hidden, activation: config.activation });
  return missingControls(arms, config.lambda, layout, config.targets, config.epochs, config.seed);
}

/**
 * The Compare list with each arm's matched control appended: plain L2 at the arm's average
 * strength over the form's epochs (matchedControl), unless the list has it already. `added` names
 * what was appended and why; the list is parsed as Compare parses it, and its errors are thrown.
 */
export function withMatchedControls(text: string, config: SharedConfig, dataset: Dataset | null): { text: string; added: string[] } {
  const missing = controlsLacked(parseArms(text, 'schedules', config.lambda), config, dataset);
  if (missing.length === 0) return { text, added: [] };
  // Trailing commas and spaces go, so that the list stays a list.
  return { text: [text.replace(/[\s,]+$/, ''), ...missing.map((m) => m.control.name)].join(', '), added: missing.map((m) => `${m.control.name} for ${m.arm.name}`) };
}

/** The note on the matched controls a finished comparison lacked, or null when it had them all. */
export function missingControlsText(config: SharedConfig, compare: CompareConfig, dataset: Dataset): string | null {
  const missing = controlsLacked(compare.schedules, config, dataset);
  return missing.length === 0 ? null : `${describeMissingControls(missing, config.epochs)} Add matched controls (above) lists ${missing.length === 1 ? 'it' : 'them'} for the next comparison.`;
}

/** An experiment that can be stopped between epochs (GPU: between chunks of epochs). */
export class ScheduleComparison extends Stoppable {
  constructor(
    readonly options: ExperimentOptions,
    /** The page's device; null trains on the CPU reference trainer. */
    readonly gpu: Gpu | null,
  ) {
    super();
  }

  /** Rejects with StopRequested when stopped, or with the library's own error. */
  run(onEpoch: NonNullable<ExperimentOptions['onEpoch']>, onStep?: ExperimentOptions['onStep']): Promise<ExperimentResult> {
    return runExperiment({ ...this.options, ...deviceOptions(this.gpu), signal: this.signal, onEpoch, ...(onStep ? { onStep } : {}) });
  }
}

/** The settings in one line, for the summary above the table and the text to copy. */
export function describeSetup(config: SharedConfig, compare: CompareConfig, dataLabel: string): string {
  const model = config.hidden.length > 0 ? `${config.hidden.join('-')} hidden, ${config.activation}` : 'no hidden layer';
  return (
    `Schedules compared on ${dataLabel} (${compare.folds}-fold; ${model}, Adam lr ${config.lr}, ${describeLambda(compare.schedules, config.lambda)}, ${config.mode}/${config.convention} on ${config.targets}, ` +
    `${plural(config.epochs, 'epoch')}, batch ${config.batchSize}, seed ${config.seed})`
  );
}

/** The comparison table: a row per schedule, the baseline's Δ cells "—". */
export function renderComparison(container: HTMLElement, r: ExperimentResult): void {
  const base = r.arms[0].arm.name;
  const headers = ['schedule', 'accuracy', 'macro-F1', 'log-loss', `Δ accuracy vs ${base}`, 'Δ log-loss'];
  const rows = r.arms.map((a) =>
    el('tr', { attrs: { 'data-schedule': a.arm.name } }, [
      el('th', { text: a.arm.name, attrs: { scope: 'row' } }),
      ...[a.accuracy, a.macroF1, a.logLoss].map((v) => el('td', { text: formatMeanStd(v, DIGITS) })),
      // The difference with its p, and under it the 95% confidence interval.
      ...(a.versusFirst
        ? [a.versusFirst.accuracy, a.versusFirst.logLoss].map((t) => el('td', {}, [formatPairedDifference(t, DIGITS), el('span', { className: 'ci', text: `95% CI ${formatInterval(t, DIGITS)}` })]))
        : [el('td', { text: '—' }), el('td', { text: '—' })]),
    ]),
  );
  const table = el('table', { className: 'comparison', attrs: { id: 'compare-table' } }, [
    el('thead', {}, [el('tr', {}, headers.map((h) => el('th', { text: h, attrs: { scope: 'col' } })))]),
    el('tbody', {}, rows),
  ]);
  container.replaceChildren(table);
}

/**
 * Shows `note` only while `box` is narrower than its table: in a narrow window the columns on the
 * right (log-loss, the Δ with their p) are scrolled out of the box, with nothing else saying so.
 * The check runs whenever the box changes size, also when it first shows a table.
 */
export function watchOverflow(box: HTMLElement, note: HTMLElement): void {
  new ResizeObserver(() => (note.hidden = box.scrollWidth <= box.clientWidth)).observe(box);
}

/** What the table means, in one sentence. */
export function explainComparison(r: ExperimentResult): string {
  const base = r.arms[0].arm.name;
  return (
    `Every schedule trained on the same ${r.folds} stratified folds with the same seeds; each cell is the mean ± standard deviation over the ${r.folds} test folds ` +
    `(higher accuracy and macro-F1, lower log-loss are better), Δ is the mean per-fold difference to ${base} with p from a two-sided paired t-test over the folds${correctedTest(r) ? ", corrected for the training rows the folds share (Nadeau & Bengio's corrected resampled t-test)" : ''}, ` +
    `and p ≥ 0.05 means the difference is not distinguishable from fold-to-fold noise, which is not evidence that there is none: ` +
    `the 95% confidence interval under each Δ says how large a difference the folds cannot rule out. ` +
    `The ${pairedTestCount(r)} tests are not adjusted for multiplicity.`
  );
}

/** The text to copy: the settings and formatComparison's table, as `altreg compare` prints them. */
export function comparisonText(setup: string, r: ExperimentResult): string {
  return `${setup}:\n\n${formatComparison(r, DIGITS)}\n`;
}
