// Experiments: arms (penalty settings, e.g. schedules) evaluated on the same stratified folds
// with the same seeds, so that their differences are paired. Every (arm, fold) model of a
// penalty mode trains in one batch on the GPU. Standardization is fitted on each fold's
// training rows only and applied to its validation and test rows.

import { requireRowsPerClass } from '../data/csv.js';
import type { Dataset } from '../data/datasets.js';
import { stratifiedKFold, stratifiedSplit, validationSplit, type Split } from '../data/split.js';
import { fitStandardizer } from '../data/standardize.js';
import { averageReports, classificationReport, logLoss, meanStd, type AveragedReport, type ClassificationReport, type MeanStd } from '../metrics/classification.js';
import { pairedTTest, type PairedTest } from '../metrics/stats.js';
import type { ModelConfig } from '../model/mlp.js';
import { softmaxRows } from '../runtime/evaluate.js';
import type { Gpu } from '../runtime/gpu.js';
import type { PenaltyConfig } from '../runtime/penalty.js';
import type { EpochRecord, Evaluation } from '../runtime/plan.js';
import { Random } from '../runtime/random.js';
import { describeValue, optionsProblem } from '../runtime/options.js';
import { PENALTY_KEYS, resolvePenalty } from '../runtime/penalty.js';
import { asOptionsError, checkCallback, checkKeys, TrainOptionsError, trainBatch, type BatchModel, type BatchModelRun, type Checkpoint, type DeviceChoice, type OptimizerConfig } from '../runtime/train.js';

export interface Arm {
  name: string;
  penalty: PenaltyConfig;
}

export interface ExperimentOptions {
  dataset: Dataset;
  model: ModelConfig;
  arms: Arm[];
  /** Stratified k-fold with this k; without it, one stratified train/test split. */
  folds?: number;
  /** Repeats of the k-fold with different shuffles (default 1). */
  repeats?: number;
  /** Test fraction of the holdout split (default 0.2). */
  testFraction?: number;
  /** Fraction of each training part held out for per-epoch validation (default 0.1; 0: none). */
  validationFraction?: number;
  /** Standardize features (fitted on each fold's training rows). Default true. */
  standardize?: boolean;
  epochs: number;
  batchSize?: number;
  optimizer?: OptimizerConfig;
  seed?: number;
  device?: DeviceChoice;
  gpu?: Gpu;
  /**
   * Continue (arm, fold) from a checkpoint, with the same settings. An arm's schedule function is
   * recorded only as 'custom': a different function is not detected, so pass the same one.
   */
  resume?: (arm: number, fold: number) => Checkpoint | undefined;
  /**
   * Progress: epoch finished for all models of a batch; batch i of n. A returned promise is
   * awaited before the next call; a throw or rejection stops the experiment with it.
   */
  onEpoch?: (epoch: number, records: EpochRecord[], batch: number, batches: number) => unknown;
  /** Progress inside long epochs (trainBatch's `onStep`), in batch i of n. */
  onStep?: (epoch: number, step: number, steps: number, batch: number, batches: number) => void;
  /** Stops the experiment (trainBatch's `signal`): it rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface FoldResult {
  fold: number;
  repeat: number;
  trainRows: number;
  validationRows: number;
  testRows: number;
  history: EpochRecord[];
  test: Evaluation;
  report: ClassificationReport;
  logLoss: number;
  run: BatchModelRun;
}

export interface ArmResult {
  arm: Arm;
  folds: FoldResult[];
  accuracy: MeanStd;
  macroF1: MeanStd;
  logLoss: MeanStd;
  report: AveragedReport;
  /** Paired differences against the first arm (absent for the first arm itself). */
  versusFirst?: { accuracy: PairedTest; macroF1: PairedTest; logLoss: PairedTest };
}

export interface ExperimentResult {
  device: 'gpu' | 'cpu';
  adapter: string | null;
  folds: number;
  repeats: number;
  arms: ArmResult[];
  seconds: number;
}

const EXPERIMENT_KEYS = Object.keys({
  dataset: 1, model: 1, arms: 1, folds: 1, repeats: 1, testFraction: 1, validationFraction: 1, standardize: 1, epochs: 1,
  batchSize: 1, optimizer: 1, seed: 1, device: 1, gpu: 1, resume: 1, onEpoch: 1, onStep: 1, signal: 1,
} satisfies Record<keyof ExperimentOptions, 1>);

/**
 * Checks what is the experiment's own (its keys, arms, folds, fractions, callbacks) before any
 * work, naming arms rather than the models trainBatch makes of them; trainBatch checks the rest.
 */
function checkExperiment(o: ExperimentOptions, withArms: boolean): void {
  const fail = (message: string): never => {
    throw new TrainOptionsError(message);
  };
  const problem = optionsProblem(o, EXPERIMENT_KEYS);
  if (problem !== null) fail(`runExperiment: ${problem}`);
  if (!o.dataset || typeof o.dataset !== 'object' || !(o.dataset.y instanceof Uint32Array)) fail('dataset must be a Dataset (loadDataset, parseCsv)');
  if (withArms && (!Array.isArray(o.arms) || o.arms.length < 1)) fail('arms must list at least one arm { name, penalty }');
  (o.arms ?? []).forEach((arm, a) => {
    if (!arm || typeof arm !== 'object' || typeof arm.name !== 'string' || arm.name === '') fail(`arms[${a}] must be { name, penalty } with a name`);
    checkKeys(arm, `arms[${a}]`, ['name', 'penalty']);
    // The name labels the arm's row in every table and its models in messages.
    const first = o.arms.findIndex((other) => other?.name === arm.name);
    if (first < a) fail(`arms[${a}].name ${JSON.stringify(arm.name)} is also the name of arms[${first}]; every arm needs its own name`);
    if (arm.penalty === null || typeof arm.penalty !== 'object') fail(`arms[${a}].penalty must be an object (e.g. { lambda: 0.01, schedule: 'alternate' })`);
    checkKeys(arm.penalty, `arms[${a}].penalty`, PENALTY_KEYS);
    asOptionsError(() => resolvePenalty(arm.penalty, `arms[${a}].penalty`));
  });
  if (o.folds !== undefined && (!Number.isInteger(o.folds) || o.folds < 2)) fail(`folds must be an integer ≥ 2 (or absent for one holdout split), got ${JSON.stringify(o.folds)}`);
  if (o.repeats !== undefined) {
    if (!Number.isInteger(o.repeats) || o.repeats < 1) fail(`repeats must be an integer ≥ 1, got ${JSON.stringify(o.repeats)}`);
    if (o.folds === undefined && o.repeats !== 1) fail('repeats repeats k-fold cross-validation with new shuffles: it needs folds');
  }
  if (o.testFraction !== undefined && !(o.testFraction > 0 && o.testFraction < 1)) fail(`testFraction must be strictly between 0 and 1, got ${JSON.stringify(o.testFraction)}`);
  if (o.validationFraction !== undefined && !(o.validationFraction >= 0 && o.validationFraction < 1)) fail(`validationFraction must be in [0, 1), got ${JSON.stringify(o.validationFraction)}`);
  checkCallback('onEpoch', o.onEpoch);
  checkCallback('onStep', o.onStep);
  checkCallback('resume', o.resume);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) fail(`signal must be an AbortSignal (new AbortController().signal), got ${describeValue(o.signal)}`);
}

/** The folds (test rows) with their training and validation rows, reproducible from `seed`. */
export function experimentSplits(o: ExperimentOptions): ReturnType<typeof splitsOf> {
  checkExperiment(o, false);
  return splitsOf(o);
}

function splitsOf(o: ExperimentOptions): { fold: number; repeat: number; train: Uint32Array; validation: Uint32Array; test: Uint32Array }[] {
  const { dataset } = o;
  const seed = o.seed ?? 0;
  const splits: { fold: number; repeat: number; split: Split }[] = [];
  if (o.folds !== undefined) {
    requireRowsPerClass(dataset, o.folds);
    for (let r = 0; r < (o.repeats ?? 1); r++) {
      stratifiedKFold(dataset.y, dataset.classes, o.folds, Random.derive(seed, 100 + r)).forEach((split, fold) => splits.push({ fold, repeat: r, split }));
    }
  } else {
    splits.push({ fold: 0, repeat: 0, split: stratifiedSplit(dataset.y, dataset.classes, o.testFraction ?? 0.2, seed) });
  }
  const fraction = o.validationFraction ?? 0.1;
  return splits.map(({ fold, repeat, split }) => {
    if (fraction <= 0) return { fold, repeat, train: split.train, validation: new Uint32Array(0), test: split.test };
    const v = validationSplit(dataset.y, split.train, dataset.classes, fraction, Random.derive(seed, 200 + repeat, fold));
    return { fold, repeat, train: v.train, validation: v.validation, test: split.test };
  });
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  checkExperiment(o, true);
  // Before splitting, standardizing and opening a device.
  o.signal?.throwIfAborted();
  const started = performance.now();
  const { dataset } = o;
  const splits = splitsOf(o);
  const seed = o.seed ?? 0;
  const standardizers = splits.map((s) => (o.standardize === false ? undefined : fitStandardizer(dataset.x, dataset.features, s.train)));
  // One batch per penalty mode (the mode selects the update kernel); usually a single batch.
  const modes = [...new Set(o.arms.map((a) => a.penalty.mode ?? 'coupled'))];
  const runs: BatchModelRun[][] = o.arms.map(() => []);
  let device: 'gpu' | 'cpu' = 'cpu';
  let adapter: string | null = null;
  for (const [b, mode] of modes.entries()) {
    const members: { arm: number; split: number }[] = [];
    const models: BatchModel[] = [];
    o.arms.forEach((arm, a) => {
      if ((arm.penalty.mode ?? 'coupled') !== mode) return;
      splits.forEach((s, i) => {
        const st = standardizers[i];
        const resume = o.resume?.(a, i);
        members.push({ arm: a, split: i });
        models.push({
          name: `${arm.name} fold ${s.fold}${s.repeat ? ` repeat ${s.repeat}` : ''}`,
          trainRows: s.train,
          ...(s.validation.length > 0 ? { validationRows: s.validation } : {}),
          testRows: s.test,
          ...(st ? { standardize: { scale: st.scale, shift: st.shift } } : {}),
          penalty: arm.penalty,
          // The same seed for every arm on a fold: arms differ only by their penalty.
          seed: Random.derive(seed, s.repeat, s.fold),
          ...(resume ? { resume } : {}),
        });
      });
    });
    const run = await trainBatch({
      data: dataset,
      model: o.model,
      models,
      epochs: o.epochs,
      ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      ...(o.optimizer ? { optimizer: o.optimizer } : {}),
      ...(o.device ? { device: o.device } : {}),
      ...(o.gpu ? { gpu: o.gpu } : {}),
      onEpoch: (epoch, records) => o.onEpoch?.(epoch, records, b, modes.length),
      ...(o.onStep ? { onStep: (epoch: number, step: number, steps: number) => o.onStep!(epoch, step, steps, b, modes.length) } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    device = run.device;
    adapter = run.adapter ? [run.adapter.vendor, run.adapter.device || run.adapter.architecture || run.adapter.description].filter(Boolean).join(' ') + ` (${run.adapter.backend})` : null;
    run.models.forEach((m, i) => (runs[members[i].arm][members[i].split] = m));
  }

  const arms: ArmResult[] = o.arms.map((arm, a) => {
    const folds = splits.map((s, i): FoldResult => {
      const run = runs[a][i];
      const test = run.test!;
      const report = classificationReport(test.labels, test.predictions, { targetNames: dataset.classNames });
      const probabilities = softmaxRows(test.logits, dataset.classes);
      return {
        fold: s.fold,
        repeat: s.repeat,
        trainRows: s.train.length,
        validationRows: s.validation.length,
        testRows: s.test.length,
        history: run.fullHistory,
        test,
        report,
        logLoss: logLoss(test.labels, probabilities, dataset.classes),
        run,
      };
    });
    return {
      arm,
      folds,
      accuracy: meanStd(folds.map((f) => f.report.accuracy)),
      macroF1: meanStd(folds.map((f) => f.report.macroAvg.f1)),
      logLoss: meanStd(folds.map((f) => f.logLoss)),
      report: averageReports(folds.map((f) => f.report)),
    };
  });
  if (splits.length >= 2) {
    const first = arms[0];
    // The folds' training parts overlap, so their differences are correlated: the corrected
    // resampled t-test (Nadeau & Bengio) with each fold's test rows over the rows its models were
    // fitted on (n₂/n₁; the validation rows only watch the training). Without validation rows it
    // is 1/(k − 1) for k-fold; with them it is a little larger, and the test a little stricter.
    const ratio = first.folds.reduce((sum, f) => sum + f.testRows / f.trainRows, 0) / first.folds.length;
    const test = (metric: (f: FoldResult) => number, arm: ArmResult) => pairedTTest(first.folds.map(metric), arm.folds.map(metric), ratio);
    for (const arm of arms.slice(1)) {
      arm.versusFirst = {
        accuracy: test((f) => f.report.accuracy, arm),
        macroF1: test((f) => f.report.macroAvg.f1, arm),
        logLoss: test((f) => f.logLoss, arm),
      };
    }
  }
  return {
    device,
    adapter,
    folds: o.folds ?? 1,
    repeats: o.folds !== undefined ? (o.repeats ?? 1) : 1,
    arms,
    seconds: (performance.now() - started) / 1000,
  };
}
