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
import { softmaxRows64 } from '../runtime/evaluate.js';
import type { Gpu } from '../runtime/gpu.js';
import type { PenaltyConfig } from '../runtime/penalty.js';
import type { EpochRecord, Evaluation } from '../runtime/plan.js';
import { Random } from '../runtime/random.js';
import { describeValue, optionsProblem } from '../runtime/options.js';
import { PENALTY_KEYS, resolvePenalty } from '../runtime/penalty.js';
import { asOptionsError, checkCallback, checkKeys, TrainOptionsError, prepareBatch, type BatchModel, type BatchModelRun, type Checkpoint, type DeviceChoice, type OptimizerConfig } from '../runtime/train.js';

/** One arm of an experiment: its name (unique; it labels the arm's row and its models) and penalty. */
export interface Arm {
  name: string;
  penalty: PenaltyConfig;
}

/**
 * Options of runExperiment(): the data set, the model, the arms and how to split and train. A bad
 * or unknown one throws a TrainOptionsError naming the field (arms as `arms[i]`).
 */
export interface ExperimentOptions {
  /** A Dataset (loadDataset, parseCsv); its classNames name the reports' rows. */
  dataset: Dataset;
  model: ModelConfig;
  /** At least one; every difference is to the first. */
  arms: Arm[];
  /** Stratified k-fold with this k (≥ 2; every class needs k rows); without it, one stratified train/test split. */
  folds?: number;
  /** Repeats of the k-fold with different shuffles (default 1). */
  repeats?: number;
  /** Test fraction of the holdout split (default 0.2). */
  testFraction?: number;
  /** Fraction of each training part held out for per-epoch validation (default 0.1; 0: none). */
  validationFraction?: number;
  /** Standardize features (fitted on each fold's training rows). Default true. */
  standardize?: boolean;
  /** Epochs every model trains (after a resumed checkpoint's). */
  epochs: number;
  /** As train()'s: default 32. */
  batchSize?: number;
  /** As train()'s: default DEFAULT_OPTIMIZER. */
  optimizer?: OptimizerConfig;
  /** Seed of the splits and of every fold's models, the same for every arm (default 0). */
  seed?: number;
  /** As train()'s: default 'auto'. */
  device?: DeviceChoice;
  /** A device to use instead of the shared one. */
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

/** One arm's model on one fold: the split's sizes, its history and its scores on the test rows. */
export interface FoldResult {
  /** 0-based fold within its repeat (0 for the holdout split). */
  fold: number;
  /** 0-based repeat of the k-fold. */
  repeat: number;
  /** Rows the model trained on (the validation rows not among them). */
  trainRows: number;
  /** Rows of the training part held out for per-epoch validation. */
  validationRows: number;
  /** Rows of the fold's test part. */
  testRows: number;
  /** Per epoch, including those of a resumed checkpoint. */
  history: EpochRecord[];
  /** The trained model's evaluation of the test rows: logits, predictions, confusion matrix, loss, accuracy. */
  test: Evaluation;
  /** classificationReport of the test rows, classes named by the dataset. */
  report: ClassificationReport;
  /**
   * logLoss of the test rows' softmax probabilities in float64, as scikit-learn's log_loss of
   * predict_proba's float64 output: a row counts at most 36.04 nats (−ln 2⁻⁵²).
   */
  logLoss: number;
  /** The model's trainBatch result: params, checkpoint(), ... */
  run: BatchModelRun;
}

/** One arm's results: per fold, their mean ± sample std, and the paired tests against the first arm. */
export interface ArmResult {
  arm: Arm;
  /** In split order: repeat by repeat, fold by fold. */
  folds: FoldResult[];
  /** Test accuracy over the folds (std NaN for one split). */
  accuracy: MeanStd;
  /** Test macro-averaged F1 over the folds. */
  macroF1: MeanStd;
  /** Test log-loss over the folds. */
  logLoss: MeanStd;
  /** The classification report, every number as mean ± std over the folds. */
  report: AveragedReport;
  /**
   * Paired differences (this arm − the first) over the folds, with the corrected resampled t-test
   * (pairedTTest with test rows / training rows); absent for the first arm and for one holdout split.
   */
  versusFirst?: { accuracy: PairedTest; macroF1: PairedTest; logLoss: PairedTest };
}

/** What runExperiment() resolves to; formatComparison(result) prints it as the CLI does. */
export interface ExperimentResult {
  /** Where it trained: 'gpu', or 'cpu' (the CPU reference trainer). */
  device: 'gpu' | 'cpu';
  /** The GPU adapter as text (vendor, device, backend); null on the CPU. */
  adapter: string | null;
  /** k, or 1 for one holdout split. */
  folds: number;
  repeats: number;
  /** In the order of the options' arms. */
  arms: ArmResult[];
  /** Wall-clock seconds of the whole experiment. */
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

/**
 * Trains every arm on the same stratified folds with the same seeds (each penalty mode's models in
 * one batch), then scores each fold's test rows and compares the arms with the first: what
 * `altreg compare` runs. Standardization (by default) is fitted on each fold's training rows.
 *
 * @throws TrainOptionsError for a bad option, naming the field.
 * @throws DatasetError when a class has fewer rows than `folds`; SplitError when a split cannot be drawn.
 * @throws DivergenceError naming the arm and fold whose training diverged.
 * @throws GpuError when `device: 'gpu'` finds no GPU, or the GPU fails.
 * @example
 * const result = await runExperiment({
 *   dataset: await loadDataset('iris'),
 *   model: { hidden: [10], activation: 'relu' },
 *   arms: [{ name: 'constant', penalty: { lambda: 0.0075 } }, { name: 'alternate', penalty: { lambda: 0.01, schedule: 'alternate' } }],
 *   folds: 5,
 *   epochs: 50,
 * });
 * console.log(formatComparison(result));
 */
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
  // Every batch's options are checked (a resumed checkpoint against its arm, too) before the
  // first batch trains.
  const batches = modes.map((mode, b) => {
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
    const train = prepareBatch({
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
    }, (i) => `arms[${members[i].arm}] (${models[i].name})`);
    return { members, train };
  });
  for (const { members, train } of batches) {
    const run = await train();
    device = run.device;
    adapter = run.adapter ? [run.adapter.vendor, run.adapter.device || run.adapter.architecture || run.adapter.description].filter(Boolean).join(' ') + ` (${run.adapter.backend})` : null;
    run.models.forEach((m, i) => (runs[members[i].arm][members[i].split] = m));
  }

  const arms: ArmResult[] = o.arms.map((arm, a) => {
    const folds = splits.map((s, i): FoldResult => {
      const run = runs[a][i];
      const test = run.test!;
      const report = classificationReport(test.labels, test.predictions, { targetNames: dataset.classNames });
      // float64 probabilities: the log-loss scikit-learn gives for predict_proba's float64 output.
      const probabilities = softmaxRows64(test.logits, dataset.classes);
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
