// The public training API: `train(options)` for one model and `trainBatch(options)` for many
// models trained together (folds × seeds × schedules). Every option is checked before any GPU
// work, with errors naming the field and what is valid; then the batch runs on the GPU trainer
// or the CPU reference trainer.

import type { Dataset } from '../data/datasets.js';
import { requireHyper, type AdamHyper } from '../kernels/adam.js';
import { KernelInputError } from '../kernels/common.js';
import { fromNamedTensors, glorotInit, mlpLayout, toNamedTensors, validateModel, ModelConfigError, type MlpLayout, type ModelConfig } from '../model/mlp.js';
import { checkpointBlocksProblem, isGeneratorState, manifestProblem } from './checkpoint.js';
import { trainOnCpu } from './cpu-trainer.js';
import { evaluateModels, logitsProblem, predictModel, type Prediction } from './evaluate.js';
import { GpuError, sharedGpu, type AdapterDescription, type Gpu } from './gpu.js';
import { concatArrays, trainOnGpu } from './gpu-trainer.js';
import { cpuAdapterProblem } from './limits.js';
import { describeValue as describe, optionsProblem, plural, unknownKeyMessage } from './options.js';
import { PENALTY_KEYS, PenaltyConfigError, resolvePenalty, type PenaltyConfig, type ResolvedPenalty } from './penalty.js';
import {
  DivergenceError,
  noPenalty,
  STREAM_INIT,
  epochShape,
  type BatchPlan,
  type EpochListener,
  type EpochRecord,
  type Evaluation,
  type ModelPlan,
  type ModelResult,
  type OptimizerState,
  type PlannerState,
  type TrainData,
} from './plan.js';
import { fnv1a, Random } from './random.js';
import { functionMask, ScheduleError, scheduleLabel, targetedTensors } from './schedule.js';

/** A bad option of train() or trainBatch(); thrown before any GPU work. */
export class TrainOptionsError extends Error {
  override name = 'TrainOptionsError';
}

/**
 * Where training runs: 'gpu' (WebGPU; rejects with a GpuError when no adapter is found), 'cpu'
 * (the CPU reference trainer: the same steps through every kernel's CPU twin), or 'auto' (the GPU
 * when one is found, else the CPU).
 */
export type DeviceChoice = 'auto' | 'gpu' | 'cpu';

/**
 * Adam's settings (PyTorch's update, Keras' defaults: DEFAULT_OPTIMIZER). Each is checked as the GPU
 * holds it, in float32, on every device; a bad one throws a TrainOptionsError naming the field.
 */
export interface OptimizerConfig {
  /** The only optimizer: 'adam' (the default). */
  kind?: 'adam';
  /** Default 0.001 (Keras). A positive normal float32: about 1.18e-38 to 3.4e38. */
  lr?: number;
  /** Default 0.9. In [0, 1) as a float32: at most 0.99999994 (0.99999999 is 1 there). */
  beta1?: number;
  /** Default 0.999. In [0, 1) as a float32, as beta1. */
  beta2?: number;
  /** Default 1e-7 (Keras). A positive normal float32, as lr. */
  epsilon?: number;
}

/**
 * A model's initial weights: `{ seed }` (an integer in [0, 2³² − 1]) seeds Glorot-uniform kernels
 * and zero biases, Keras' default; `{ weights }` gives every tensor by name, finite
 * (`dense_0/kernel` [inputs, outputs] row-major, `dense_0/bias`, ...; e.g. checkpointWeights(c)).
 * Not beside `resume`.
 */
export type InitConfig = { seed: number } | { weights: Record<string, Float32Array> };

/** Shared settings of train() and trainBatch(). */
export interface CommonOptions {
  /** The network: hidden layer widths and their activation. */
  model: ModelConfig;
  /** Epochs to train in this call, 1 to 1,000,000 (with `resume`: after the checkpoint's). */
  epochs: number;
  /**
   * Rows per step, 1 to 1,048,576; default 32 (Keras). The last partial batch of an epoch is
   * trained too; one larger than the training set is one batch of it.
   */
  batchSize?: number;
  /** Default true: a new seeded permutation of the training rows every epoch. */
  shuffle?: boolean;
  /** Adam's settings; each one left out takes DEFAULT_OPTIMIZER's. */
  optimizer?: OptimizerConfig;
  /** Default 'auto': the GPU when one is found, else the CPU reference trainer. */
  device?: DeviceChoice;
  /** A device to use instead of the shared one (e.g. the page's). */
  gpu?: Gpu;
  /** Aborting stops training at the next pause (see onStep) or epoch; GPU memory is freed. */
  signal?: AbortSignal;
  /**
   * Progress inside long epochs: `step` of the epoch's `steps` are done. Called where the trainer
   * pauses within an epoch: about every 25 ms on the CPU reference trainer, 100 ms on llvmpipe,
   * and 250 ms on GPUs when an epoch takes over a second (a run's first step is timed alone to
   * tell; shorter epochs go whole, and only onEpoch reports). Not awaited; a throw stops training as one in onEpoch does.
   */
  onStep?: (epoch: number, step: number, steps: number) => void;
}

/**
 * Options of train(): the training data, the model and how to train it (CommonOptions), its
 * initialization and its penalty. Every option is checked before any GPU work: a bad or unknown
 * one throws a TrainOptionsError naming the field and what is valid.
 */
export interface TrainOptions extends CommonOptions {
  /**
   * The training rows: x (rows × features, row-major, finite), y (class ids below classes),
   * features ≥ 1, classes ≥ 2. A Dataset (loadDataset, parseCsv) is taken as it is.
   */
  data: TrainData;
  /** Rows evaluated after every epoch (the history's valLoss, valAccuracy); data's features and classes. */
  validation?: TrainData;
  /** Default { seed } (Glorot-uniform kernels, zero biases). */
  init?: InitConfig;
  /** Seed of the shuffles, random schedules and default init. Default 0. */
  seed?: number;
  /** The L2 penalty and its schedule; default none (λ 0). */
  penalty?: PenaltyConfig;
  /**
   * Per-feature affine x·scale + shift applied to every row the model sees (training,
   * validation, predict, evaluate), e.g. fitStandardizer's result on the training rows (its
   * mean and std are taken and not used).
   */
  standardize?: { scale: Float32Array; shift: Float32Array };
  /**
   * Called in epoch order, a few epochs at a time on the GPU. A returned promise is awaited
   * before the next call; a throw or a rejection stops training and rejects train() with it.
   */
  onEpoch?: (record: EpochRecord) => unknown;
  /**
   * Continue a run from its checkpoint for `epochs` more epochs. Every setting the checkpoint
   * records must be the same, but a schedule function is recorded only as 'custom': resuming
   * with a different function is not detected, so pass the same one.
   */
  resume?: Checkpoint;
}

/** One model of a batch. Rows index the shared data set. */
export interface BatchModel {
  /** Indices of the data rows this model trains on (at least one). */
  trainRows: Uint32Array;
  /** Rows evaluated after every epoch (the history's valLoss, valAccuracy). */
  validationRows?: Uint32Array;
  /** Rows evaluated once after the last epoch (the model's `test`). */
  testRows?: Uint32Array;
  /** As train()'s `standardize`: x·scale + shift per feature, for every row this model sees. */
  standardize?: { scale: Float32Array; shift: Float32Array };
  /** This model's penalty (default none); every model of a batch must share `mode`. */
  penalty?: PenaltyConfig;
  /** Seed of this model's shuffles, random schedule and default init: [0, 2³² − 1], default 0. */
  seed?: number;
  /** Default `{ seed }` with this model's seed; not beside `resume`. */
  init?: InitConfig;
  /** A label for progress and reports. */
  name?: string;
  /**
   * Continue this model from its checkpoint (same model shape, data set and settings). A
   * schedule function is recorded only as 'custom': a different function is not detected.
   */
  resume?: Checkpoint;
}

/**
 * Options of trainBatch(): one data set and model shape, the shared training settings
 * (CommonOptions) and the models, each with its own rows, penalty and seed. Checked as train()'s
 * options are (TrainOptionsError), each model's fields named `models[i].…`.
 */
export interface BatchOptions extends CommonOptions {
  /** The data set every model's rows index. */
  data: TrainData;
  /** 1 to 65,535 models, sharing penalty.mode, with at most 2²⁸ parameters together. */
  models: BatchModel[];
  /** As train()'s onEpoch, with the records of every model: a returned promise is awaited. */
  onEpoch?: EpochListener;
}

/** The result of trainBatch(): where it ran, the model's layout, and every model's result. */
export interface BatchRun {
  /** Where it trained: 'gpu', or 'cpu' (the CPU reference trainer). */
  device: 'gpu' | 'cpu';
  /** The GPU adapter; null on the CPU. */
  adapter: AdapterDescription | null;
  /** Where every tensor lives in each model's `params`. */
  layout: MlpLayout;
  /** One per entry of `models`, in order: params, history, test evaluation, checkpoint(). */
  models: BatchModelRun[];
}

export interface BatchModelRun extends ModelResult {
  name: string;
  /** Names of the targeted tensors, in the order of each history record's mask. */
  targets: string[];
  /** History including the epochs of a resumed checkpoint. */
  fullHistory: EpochRecord[];
  /** Everything needed to continue this model exactly (see checkpoint.ts to save it). */
  checkpoint(): Checkpoint;
}

/** Parameters of all models of one call together: each of 4 float32 copies stays within 1 GiB. */
export const MAX_PARAMETERS = 2 ** 28;

/** Adam's defaults, Keras': lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7. */
export const DEFAULT_OPTIMIZER: AdamHyper = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

// The valid keys of every options object; `satisfies Record<keyof …>` makes the compiler keep
// each list and its interface in step.
type UnionKeys<T> = T extends unknown ? keyof T : never;
const COMMON = { model: 1, epochs: 1, batchSize: 1, shuffle: 1, optimizer: 1, device: 1, gpu: 1, signal: 1, onStep: 1 } satisfies Record<keyof CommonOptions, 1>;
const TRAIN_KEYS = Object.keys({ ...COMMON, data: 1, validation: 1, init: 1, seed: 1, penalty: 1, standardize: 1, onEpoch: 1, resume: 1 } satisfies Record<keyof TrainOptions, 1>);
const BATCH_KEYS = Object.keys({ ...COMMON, data: 1, models: 1, onEpoch: 1 } satisfies Record<keyof BatchOptions, 1>);
const ENTRY_KEYS = Object.keys({ trainRows: 1, validationRows: 1, testRows: 1, standardize: 1, penalty: 1, seed: 1, init: 1, name: 1, resume: 1 } satisfies Record<keyof BatchModel, 1>);
const MODEL_KEYS = Object.keys({ hidden: 1, activation: 1 } satisfies Record<keyof ModelConfig, 1>);
const OPTIMIZER_KEYS = Object.keys({ kind: 1, lr: 1, beta1: 1, beta2: 1, epsilon: 1 } satisfies Record<keyof OptimizerConfig, 1>);
const INIT_KEYS = Object.keys({ seed: 1, weights: 1 } satisfies Record<UnionKeys<InitConfig>, 1>);
// A Standardizer (fitStandardizer) is taken as it is: its mean and std are accepted and unused.
const STANDARDIZE_KEYS = [...Object.keys({ scale: 1, shift: 1 } satisfies Record<keyof NonNullable<TrainOptions['standardize']>, 1>), 'mean', 'std'];
// Data may be a Dataset (loadDataset, parseCsv), which carries its names and row count too.
const DATA_KEYS = Object.keys({ x: 1, y: 1, features: 1, classes: 1, name: 1, rows: 1, featureNames: 1, classNames: 1 } satisfies Record<keyof TrainData | keyof Dataset, 1>);

function fail(message: string): never {
  throw new TrainOptionsError(message);
}


/**
 * Refuses keys that are not options (see unknownKeyMessage): a misspelt one would otherwise be
 * ignored silently. `elsewhere` names the objects where a key belongs instead, for the hint.
 */
export function checkKeys(value: object, field: string, valid: readonly string[], elsewhere: Record<string, readonly string[]> = {}): void {
  const message = unknownKeyMessage(value, field, valid, elsewhere);
  if (message !== null) fail(message);
}

/** Checks an optional nested options object: an object holding only `valid` keys. */
function checkObject(value: unknown, field: string, valid: readonly string[]): void {
  if (value === undefined) return;
  const problem = optionsProblem(value, valid, {}, field);
  if (problem !== null) fail(problem);
}

export function checkCallback(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') fail(`${field} must be a function, got ${describe(value)}`);
}

function requireInteger(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${field} must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], got ${JSON.stringify(value)}`);
  }
  return value as number;
}

/**
 * Checks a data set: keys, shapes, finite features, labels below `classes`. `context` prefixes
 * every message (`evaluate(x, y): `), for data given as arguments rather than a named option.
 */
export function validateData(d: TrainData, field: string, features?: number, classes?: number, context = ''): void {
  const name = (key: string) => (field ? `${field}.${key}` : key);
  const bad = (message: string): never => fail(context + message);
  if (!d || typeof d !== 'object') bad(`${field} must be { x, y, features, classes }`);
  checkKeys(d, field, DATA_KEYS);
  requireInteger(name('features'), d.features, 1);
  requireInteger(name('classes'), d.classes, 2);
  if (features !== undefined && d.features !== features) bad(`${name('features')} is ${d.features}, the training data has ${features}`);
  if (classes !== undefined && d.classes !== classes) bad(`${name('classes')} is ${d.classes}, the training data has ${classes}`);
  if (!(d.x instanceof Float32Array)) bad(`${name('x')} must be a Float32Array (rows × features, row-major), got ${describe(d.x)}`);
  if (!(d.y instanceof Uint32Array)) bad(`${name('y')} must be a Uint32Array of class ids, got ${describe(d.y)}`);
  if (d.y.length < 1) bad(`${name('y')} is empty: the data has no rows`);
  const rows = d.x.length / d.features;
  if (!Number.isInteger(rows)) {
    bad(`${name('x')} has ${plural(d.x.length, 'value')}, not a whole number of rows of ${plural(d.features, 'feature')} (the ${plural(d.y.length, 'label')} of ${name('y')} need ${d.y.length * d.features})`);
  }
  if (rows !== d.y.length) {
    bad(`${name('y')} has ${plural(d.y.length, 'label')} but ${name('x')} holds ${plural(rows, 'row')} (${d.x.length} values ÷ ${plural(d.features, 'feature')}); every row needs one label`);
  }
  checkFinite(d.x, d.features, name('x'), context);
  for (let i = 0; i < d.y.length; i++) {
    if (d.y[i] >= d.classes) bad(`${name('y')} row ${i} is ${d.y[i]}; labels must be in [0, ${d.classes - 1}] (classes ${d.classes})`);
  }
}

function checkFinite(x: Float32Array, features: number, name: string, context: string): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) fail(`${context}${name} row ${Math.floor(i / features)}, feature ${i % features} is ${x[i]}; features must be finite`);
  }
}

function resolveOptimizer(o: OptimizerConfig | undefined): AdamHyper {
  checkObject(o, 'optimizer', OPTIMIZER_KEYS);
  if (o?.kind !== undefined && o.kind !== 'adam') fail(`optimizer.kind must be 'adam', got ${JSON.stringify(o.kind)}`);
  const h: AdamHyper = {
    lr: o?.lr ?? DEFAULT_OPTIMIZER.lr,
    beta1: o?.beta1 ?? DEFAULT_OPTIMIZER.beta1,
    beta2: o?.beta2 ?? DEFAULT_OPTIMIZER.beta2,
    epsilon: o?.epsilon ?? DEFAULT_OPTIMIZER.epsilon,
  };
  try {
    requireHyper('optimizer', h);
  } catch (error) {
    fail((error as Error).message.replace(/^optimizer: /, 'optimizer.'));
  }
  return h;
}

/** Rethrows configuration errors of other modules as TrainOptionsError, their message after `prefix`. */
export function asOptionsError<T>(fn: () => T, prefix = ''): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ModelConfigError || error instanceof PenaltyConfigError || error instanceof ScheduleError || error instanceof KernelInputError) {
      throw new TrainOptionsError(prefix + error.message);
    }
    throw error;
  }
}

function checkRows(field: string, rows: Uint32Array | undefined, dataRows: number, required: boolean): void {
  if (rows === undefined) {
    if (required) fail(`${field} is missing`);
    return;
  }
  if (!(rows instanceof Uint32Array)) fail(`${field} must be a Uint32Array of row indices`);
  if (required && rows.length < 1) fail(`${field} is empty`);
  for (let i = 0; i < rows.length; i++) if (rows[i] >= dataRows) fail(`${field}[${i}] is ${rows[i]}; the data has ${dataRows} rows`);
}

function initParams(layout: MlpLayout, init: InitConfig | undefined, seed: number, field: string): Float32Array {
  checkObject(init, field, INIT_KEYS);
  if (init && 'seed' in init && 'weights' in init) fail(`${field} takes seed or weights, not both`);
  if (init && 'weights' in init) return asOptionsError(() => fromNamedTensors(layout, init.weights, `${field}.weights`));
  const s = init && 'seed' in init ? init.seed : seed;
  requireInteger(`${field}.seed`, s, 0, 2 ** 32 - 1);
  return glorotInit(layout, Random.derive(s, STREAM_INIT));
}

interface Resolved {
  plan: BatchPlan;
  /** The batchSize option, which checkpoints record (plan.batchSize may be capped from it). */
  batchSize: number;
  device: DeviceChoice;
  names: string[];
  targets: string[][];
  model: ModelConfig;
  resumes: (Checkpoint | undefined)[];
}

type RunConfig = CheckpointManifest['config'];

/** A short fingerprint of a model's standardization (FNV-1a over its float32 bytes), or 'none'. */
function standardizeTag(s: { scale: Float32Array; shift: Float32Array } | undefined): string {
  if (!s) return 'none';
  return `fnv1a:${fnv1a(s.scale, s.shift)}`;
}

/** The configuration a checkpoint records, for its manifest and for comparing on resume. */
function runConfig(
  data: TrainData,
  model: ModelConfig,
  optimizer: AdamHyper,
  p: ResolvedPenalty,
  batchSize: number,
  shuffle: boolean,
  seed: number,
  standardize: { scale: Float32Array; shift: Float32Array } | undefined,
): RunConfig {
  return {
    features: data.features,
    classes: data.classes,
    model,
    optimizer,
    penalty: { lambda: p.lambda, mode: p.mode, convention: p.convention, targets: p.targets, schedule: scheduleLabel(p.schedule) },
    batchSize,
    shuffle,
    seed,
    standardize: standardizeTag(standardize),
  };
}

/** Leaf values by path (`penalty.lambda`); arrays are leaves. */
function flatten(value: unknown, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) flatten(v, path ? `${path}.${key}` : key, out);
  } else out.set(path, value);
  return out;
}

/**
 * A resumed run continues its checkpoint's run exactly, so every setting the checkpoint records
 * must be the same: otherwise a new λ or schedule would take over in the middle of the run and a
 * new seed would change nothing (the generators continue from their saved states), while the new
 * checkpoint recorded either as the whole run's setting.
 */
function checkResume(field: string, c: Checkpoint, now: RunConfig, layout: MlpLayout): void {
  if (!c || typeof c !== 'object' || !c.manifest?.config || !(c.params instanceof Float32Array) || !c.optimizer || !c.planner) {
    fail(`${field} must be a checkpoint (run.checkpoint() or loadCheckpoint(dir)), got ${describe(c)}`);
  }
  // As saving and loading check it: a run resumed from a manifest they refuse could not be saved.
  const manifest = manifestProblem(c.manifest, `${field}.manifest`);
  if (manifest) fail(manifest);
  const saved = flatten(c.manifest.config);
  // Without a penalty then and now (schedule 'none' or λ 0; the default), λ, mode, convention and
  // schedule change nothing; the targets still fix the length of the history's masks.
  const unpenalized = noPenalty(now.penalty.lambda, now.penalty.schedule) && noPenalty(saved.get('penalty.lambda'), saved.get('penalty.schedule'));
  for (const [path, value] of flatten(now)) {
    const before = saved.get(path);
    // Checkpoints saved before the standardization was recorded do not say which they had.
    if (path === 'standardize' && before === undefined) continue;
    if (unpenalized && path.startsWith('penalty.') && path !== 'penalty.targets') continue;
    if (JSON.stringify(before) !== JSON.stringify(value)) {
      fail(
        `${field}: the checkpoint was trained with ${path} ${JSON.stringify(before)}, these options give ${JSON.stringify(value)}; ` +
          `a resumed run keeps its checkpoint's settings (only epochs, validation data, callbacks, device and signal may change; ` +
          `the data's values are not recorded, so pass the same). ` +
          `For other settings, start a new run from its weights with init: { weights: checkpointWeights(checkpoint) } (` +
          `Adam's moments, the epoch count and the history start afresh)`,
      );
    }
  }
  // The settings match; what the checkpoint holds must fit this model and be usable, as
  // init.weights must: a short block would train from zero padding, a NaN end in NaN weights.
  const problem = checkpointBlocksProblem(layout, c, field);
  if (problem) fail(problem);
  if (!Number.isSafeInteger(c.optimizer.step) || c.optimizer.step < 0) fail(`${field}.optimizer.step must be an integer ≥ 0 (Adam steps taken), got ${describe(c.optimizer.step)}`);
  const p = c.planner;
  if (p.epoch !== c.manifest.epoch || !isGeneratorState(p.shuffle) || !isGeneratorState(p.schedule)) {
    fail(`${field}.planner must hold the manifest's epoch (${c.manifest.epoch}) and two generator states of 4 u32 words (shuffle, schedule)`);
  }
}

/** Validates batch options and builds the plan (no GPU work). `entry(i)` names model i in messages. */
function resolveBatch(o: BatchOptions, entry: (i: number) => string): Resolved {
  validateData(o.data, 'data');
  checkObject(o.model, 'model', MODEL_KEYS);
  asOptionsError(() => validateModel(o.model));
  const epochs = requireInteger('epochs', o.epochs, 1, 1_000_000);
  const batchSize = requireInteger('batchSize', o.batchSize ?? 32, 1, 1 << 20);
  if (o.shuffle !== undefined && typeof o.shuffle !== 'boolean') fail(`shuffle must be true or false, got ${JSON.stringify(o.shuffle)}`);
  const shuffle = o.shuffle ?? true;
  const device = o.device ?? 'auto';
  if (!['auto', 'gpu', 'cpu'].includes(device)) fail(`device must be 'auto', 'gpu' or 'cpu', got ${JSON.stringify(device)}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) fail(`signal must be an AbortSignal (new AbortController().signal), got ${describe(o.signal)}`);
  const optimizer = resolveOptimizer(o.optimizer);
  if (!Array.isArray(o.models) || o.models.length < 1) fail('models must list at least one model');
  if (o.models.length > 65535) fail(`at most 65535 models train together, got ${o.models.length}`);
  const layout = asOptionsError(() => mlpLayout(o.data.features, o.data.classes, o.model));
  if (o.models.length * layout.perModel > MAX_PARAMETERS) {
    fail(
      `model: ${plural(o.models.length, 'model')} × ${layout.perModel.toLocaleString('en-US')} parameters is more than ` +
        `${MAX_PARAMETERS.toLocaleString('en-US')} (1 GiB of float32 for each of the weights, the gradients and Adam's two moments)`,
    );
  }
  const rows = o.data.y.length;
  const models: ModelPlan[] = [];
  o.models.forEach((m, i) => {
    const at = entry(i);
    const field = at ? `${at}.` : '';
    if (!m || typeof m !== 'object') fail(`${at} must be an object { trainRows, … }, got ${describe(m)}`);
    checkKeys(m, at, ENTRY_KEYS, { [`${field}penalty`]: PENALTY_KEYS });
    checkRows(`${field}trainRows`, m.trainRows, rows, true);
    checkRows(`${field}validationRows`, m.validationRows, rows, false);
    checkRows(`${field}testRows`, m.testRows, rows, false);
    checkObject(m.standardize, `${field}standardize`, STANDARDIZE_KEYS);
    if (m.standardize) {
      for (const key of ['scale', 'shift'] as const) {
        const v = m.standardize[key];
        if (!(v instanceof Float32Array) || v.length !== o.data.features || !v.every(Number.isFinite)) {
          fail(`${field}standardize.${key} must be a Float32Array of ${o.data.features} finite values`);
        }
      }
    }
    checkObject(m.penalty, `${field}penalty`, PENALTY_KEYS);
    const penalty = asOptionsError(() => resolvePenalty(m.penalty, `${field}penalty`));
    if (i > 0 && penalty.mode !== models[0].penalty.mode) {
      fail(`${field}penalty.mode is '${penalty.mode}' but ${entry(0)}.penalty.mode is '${models[0].penalty.mode}': all models of a batch must share penalty.mode (it selects the update kernel)`);
    }
    const seed = requireInteger(`${field}seed`, m.seed ?? 0, 0, 2 ** 32 - 1);
    const resume = m.resume;
    if (resume !== undefined) {
      if (m.init !== undefined) fail(`${field}init and ${field}resume exclude each other: a resumed run continues from the checkpoint's weights`);
      checkResume(`${field}resume`, resume, runConfig(o.data, o.model, optimizer, penalty, batchSize, shuffle, seed, m.standardize), layout);
    }
    if (typeof penalty.schedule === 'function') {
      // The trainers first call a schedule function at the start of its epoch, after the GPU
      // buffers are made: one call now, for this run's first epoch, refuses a mask of the wrong
      // length before any GPU work (the function should be pure: it is called twice for it).
      const schedule = penalty.schedule;
      asOptionsError(() => functionMask(schedule, resume?.planner.epoch ?? 0, targetedTensors(layout, penalty.targets)), `${field}penalty.schedule: `);
    }
    const init = resume ? resume.params : initParams(layout, m.init, seed, `${field}init`);
    models.push({
      trainRows: m.trainRows,
      ...(m.validationRows ? { validationRows: m.validationRows } : {}),
      ...(m.testRows ? { testRows: m.testRows } : {}),
      ...(m.standardize ? { standardize: { scale: m.standardize.scale, shift: m.standardize.shift } } : {}),
      penalty,
      seed,
      init,
      ...(resume ? { resume: { optimizer: resume.optimizer, planner: resume.planner } } : {}),
    });
  });
  // A batchSize above the largest training set makes each model's whole set one batch, as a
  // batchSize of that set's rows does: the plan takes the latter (same steps, same results) and
  // sizes no buffers for rows that do not exist.
  const largestSet = Math.max(...models.map((m) => m.trainRows.length));
  return {
    plan: { data: o.data, layout, models, epochs, batchSize: Math.min(batchSize, largestSet), shuffle, optimizer, mode: models[0].penalty.mode },
    batchSize,
    device,
    names: o.models.map((m, i) => m.name ?? `model ${i}`),
    targets: models.map((m) => targetedTensors(layout, m.penalty.targets)),
    model: o.model,
    resumes: o.models.map((m) => m.resume),
  };
}

/** The configuration part of model i's checkpoint manifest. */
function manifestBase(r: Resolved, i: number): Omit<CheckpointManifest, 'epoch' | 'step' | 'planner' | 'history'> {
  const { plan } = r;
  const m = plan.models[i];
  return {
    format: 'altreg-checkpoint',
    version: 1,
    config: runConfig(plan.data, r.model, plan.optimizer, m.penalty, r.batchSize, plan.shuffle, m.seed, m.standardize),
  };
}

function makeCheckpoint(base: ReturnType<typeof manifestBase>, m: ModelResult, history: EpochRecord[]): Checkpoint {
  return {
    manifest: { ...base, epoch: m.planner.epoch, step: m.optimizer.step, planner: m.planner, history },
    params: m.params,
    optimizer: m.optimizer,
    planner: m.planner,
  };
}

/**
 * Refuses a `gpu` option that is not altreg's Gpu (a plain object, a GPUDevice), also with device
 * 'cpu'. Only the members the trainer reaches for first are looked at, not the class: a Gpu
 * from another copy of the package still passes.
 */
function checkGivenGpu(given: unknown): void {
  if (given === undefined) return;
  const g = given as Partial<Gpu> | null;
  if (g === null || typeof g !== 'object' || typeof g.build !== 'function' || typeof g.createBuffer !== 'function' || !g.device) {
    fail(`gpu must be a device from requestGpu() or sharedGpu(), got ${describe(given)}`);
  }
}

async function pickGpu(choice: DeviceChoice, given?: Gpu): Promise<Gpu | null> {
  if (choice === 'cpu') return null;
  if (given) return given;
  try {
    return await sharedGpu();
  } catch (error) {
    if (choice === 'gpu') throw error;
    return null;
  }
}

/**
 * Trains many models together (same shapes and data set; own rows, seeds and penalties).
 *
 * @throws TrainOptionsError for a bad option, before any GPU work.
 * @throws DivergenceError when a model's loss, weights, validation loss or test logits become non-finite (named by its `name`).
 * @throws GpuError when `device: 'gpu'` finds no GPU, or the GPU fails.
 */
export async function trainBatch(options: BatchOptions): Promise<BatchRun> {
  return prepareBatch(options)();
}

/**
 * Checks every option of a trainBatch call (throwing TrainOptionsError) and returns the call
 * that trains it: runExperiment checks all its batches (one per penalty mode) before the first
 * trains, naming model i in messages by `entry(i)` (its arm and fold).
 */
export function prepareBatch(options: BatchOptions, entry = (i: number) => `models[${i}]`): () => Promise<BatchRun> {
  const problem = optionsProblem(options, BATCH_KEYS, { optimizer: OPTIMIZER_KEYS, model: MODEL_KEYS, 'models[i]': ENTRY_KEYS, 'models[i].penalty': PENALTY_KEYS });
  if (problem !== null) fail(`trainBatch: ${problem}`);
  checkCallback('onEpoch', options.onEpoch);
  checkCallback('onStep', options.onStep);
  const r = resolveBatch(options, entry);
  return () => runBatch(r, options);
}

async function runBatch(r: Resolved, options: BatchOptions): Promise<BatchRun> {
  let ran: Awaited<ReturnType<typeof runPlan>>;
  try {
    ran = await runPlan(r, options, options.onEpoch);
  } catch (error) {
    // A named model (runExperiment's "alternate fold 3") is named in the message too.
    const name = error instanceof DivergenceError ? options.models[error.model]?.name : undefined;
    if (error instanceof DivergenceError && name) throw error.named(name);
    throw error;
  }
  const { result, gpu } = ran;
  return {
    device: gpu ? 'gpu' : 'cpu',
    adapter: gpu ? gpu.adapter : null,
    layout: r.plan.layout,
    models: result.models.map((m, i) => {
      const fullHistory = [...(r.resumes[i]?.manifest.history ?? []), ...m.history];
      const base = manifestBase(r, i);
      return { ...m, name: r.names[i], targets: r.targets[i], fullHistory, checkpoint: () => makeCheckpoint(base, m, fullHistory) };
    }),
  };
}

async function runPlan(r: Resolved, options: CommonOptions, onEpoch?: EpochListener) {
  checkGivenGpu(options.gpu);
  // An aborted signal stops the run before a device is opened or a trainer built.
  options.signal?.throwIfAborted();
  const gpu = await pickGpu(r.device, options.gpu);
  // On a CPU adapter, shapes whose kernels would outrun its loop limit, named as options.
  if (gpu) {
    const { plan } = r;
    const problem = cpuAdapterProblem(gpu, plan.layout, { asked: r.batchSize, largestSet: epochShape(plan).maxRows });
    if (problem) fail(problem);
  }
  const hooks = { ...(onEpoch ? { onEpoch } : {}), ...(options.onStep ? { onStep: options.onStep } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const result = gpu ? await trainOnGpu(gpu, r.plan, hooks) : await trainOnCpu(r.plan, hooks);
  return { result, gpu };
}

/** What a checkpoint holds: the configuration and everything needed to continue exactly. */
export interface CheckpointManifest {
  format: 'altreg-checkpoint';
  version: 1;
  config: {
    features: number;
    classes: number;
    model: ModelConfig;
    optimizer: AdamHyper;
    penalty: { lambda: number; mode: string; convention: string; targets: string; schedule: string };
    batchSize: number;
    shuffle: boolean;
    seed: number;
    /** The standardization's fingerprint ('none', or 'fnv1a:…'); absent in older checkpoints. */
    standardize?: string;
  };
  /** Epochs trained so far. */
  epoch: number;
  /** Adam steps taken so far. */
  step: number;
  planner: PlannerState;
  history: EpochRecord[];
}

/**
 * Everything needed to continue a run exactly, from run.checkpoint() or loadCheckpoint(dir): pass
 * it as `resume` with the same settings, or start a new run from its weights with
 * `init: { weights: checkpointWeights(checkpoint) }`.
 */
export interface Checkpoint {
  /** The run's configuration, epoch, step, generator states and history (manifest.json). */
  manifest: CheckpointManifest;
  /** The model's parameters as one block of layout.perModel floats (see MlpLayout). */
  params: Float32Array;
  /** Adam's moments m and v (laid out as params) and its step count. */
  optimizer: OptimizerState;
  /** The next epoch and the shuffle and schedule generators' states. */
  planner: PlannerState;
}

/** The result of train(): weights, history, and prediction with the trained model. */
export class Run {
  constructor(
    readonly layout: MlpLayout,
    /** Parameters as one block (see model/mlp.ts for the layout). */
    readonly params: Float32Array,
    readonly history: EpochRecord[],
    /** Names of the targeted tensors, in the order of each history record's mask. */
    readonly targets: string[],
    readonly device: 'gpu' | 'cpu',
    readonly adapter: AdapterDescription | null,
    private readonly makeCheckpoint: () => Checkpoint,
    private readonly gpu: Gpu | null,
    /** The affine applied to rows before the first layer (train's `standardize`). */
    readonly standardize?: { scale: Float32Array; shift: Float32Array },
  ) {}

  /** [scale, shift] for the evaluation kernels: the run's standardization, or the identity. */
  private affine(): Float32Array {
    const F = this.layout.features;
    const a = new Float32Array(2 * F);
    if (this.standardize) {
      a.set(this.standardize.scale);
      a.set(this.standardize.shift, F);
    } else a.fill(1, 0, F);
    return a;
  }

  /** Refuses a model the run's device cannot evaluate (its matmul strategy changed since training). */
  private checkGpu(context: string): void {
    const problem = this.gpu && cpuAdapterProblem(this.gpu, this.layout);
    if (problem) fail(context + problem);
  }

  /** Trained tensors by name: `dense_0/kernel` [in, out] row-major, `dense_0/bias`, ... */
  get weights(): Record<string, Float32Array> {
    return toNamedTensors(this.layout, this.params);
  }

  /**
   * Class probabilities (rows × classes) and predicted classes for rows of x. Throws a
   * TrainOptionsError, rather than return NaN, when the model's logits for a row are not finite.
   */
  async predict(x: Float32Array): Promise<Prediction> {
    const F = this.layout.features;
    if (!(x instanceof Float32Array)) fail(`predict(x): x must be a Float32Array (rows × ${plural(F, 'feature')}, row-major), got ${describe(x)}`);
    if (x.length === 0 || x.length % F !== 0) fail(`predict(x): x has ${plural(x.length, 'value')}, not a whole number (≥ 1) of rows of ${plural(F, 'feature')}`);
    checkFinite(x, F, 'x', 'predict(x): ');
    this.checkGpu('predict(x): ');
    const affine = this.affine();
    // Logits that overflow float32 give NaN probabilities: refused, not returned.
    return predictModel(this.gpu, this.layout, this.params, x, affine, (logits) => {
      const problem = logitsProblem(this.layout, this.params, x, affine, logits, 'predict(x): ');
      if (problem) fail(problem);
    });
  }

  /** Loss, accuracy, predictions and confusion matrix on labelled rows; refuses non-finite logits as predict does. */
  async evaluate(x: Float32Array, y: Uint32Array): Promise<Evaluation> {
    const data = { x, y, features: this.layout.features, classes: this.layout.classes };
    validateData(data, '', undefined, undefined, 'evaluate(x, y): ');
    this.checkGpu('evaluate(x, y): ');
    const affine = this.affine();
    const [evaluation] = await evaluateModels(this.gpu, this.layout, [this.params], data, [Uint32Array.from({ length: y.length }, (_, i) => i)], affine);
    // Logits that overflow float32 give a NaN loss: refused, not returned.
    const problem = logitsProblem(this.layout, this.params, x, affine, evaluation.logits, 'evaluate(x, y): ');
    if (problem) fail(problem);
    return evaluation;
  }

  /** Everything needed to continue training exactly (see checkpoint.ts to save it). */
  checkpoint(): Checkpoint {
    return this.makeCheckpoint();
  }
}

/**
 * Trains one model; see README for the options.
 *
 * @throws TrainOptionsError for a bad option, before any GPU work.
 * @throws DivergenceError when the loss, the weights or the validation loss become non-finite.
 * @throws GpuError when `device: 'gpu'` finds no GPU, or the GPU fails.
 * @example
 * const iris = await loadDataset('iris');
 * const run = await train({ data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 50, penalty: { lambda: 0.01, schedule: 'alternate' } });
 * console.log(run.history.at(-1)?.loss, (await run.evaluate(iris.x, iris.y)).accuracy);
 */
export async function train(options: TrainOptions): Promise<Run> {
  const problem = optionsProblem(options, TRAIN_KEYS, { optimizer: OPTIMIZER_KEYS, penalty: PENALTY_KEYS, model: MODEL_KEYS });
  if (problem !== null) fail(`train: ${problem}`);
  checkCallback('onEpoch', options.onEpoch);
  checkCallback('onStep', options.onStep);
  validateData(options.data, 'data');
  if (options.validation !== undefined) validateData(options.validation, 'validation', options.data.features, options.data.classes);
  const seed = requireInteger('seed', options.seed ?? 0, 0, 2 ** 32 - 1);
  const resume = options.resume;
  // One data set holds the training rows, then the validation rows.
  const n = options.data.y.length;
  const v = options.validation;
  const data: TrainData = v
    ? {
        x: concatArrays([options.data.x, v.x], (n) => new Float32Array(n)),
        y: Uint32Array.from([...options.data.y, ...v.y]),
        features: options.data.features,
        classes: options.data.classes,
      }
    : options.data;
  const model: BatchModel = {
    trainRows: Uint32Array.from({ length: n }, (_, i) => i),
    ...(v ? { validationRows: Uint32Array.from({ length: v.y.length }, (_, i) => n + i) } : {}),
    ...(options.penalty !== undefined ? { penalty: options.penalty } : {}),
    ...(options.standardize !== undefined ? { standardize: options.standardize } : {}),
    seed,
    ...(options.init !== undefined ? { init: options.init } : {}),
    ...(resume !== undefined ? { resume } : {}),
  };
  const resolved = resolveBatch({ ...options, data, models: [model], onEpoch: undefined }, () => '');
  const onEpoch = options.onEpoch;
  const { result, gpu } = await runPlan(resolved, options, onEpoch ? (_, records) => onEpoch(records[0]) : undefined);
  const m = result.models[0];
  const history = [...(resume?.manifest.history ?? []), ...m.history];
  const base = manifestBase(resolved, 0);
  return new Run(resolved.plan.layout, m.params, history, resolved.targets[0], gpu ? 'gpu' : 'cpu', gpu?.adapter ?? null, () => makeCheckpoint(base, m, history), gpu, resolved.plan.models[0].standardize);
}


export { GpuError };
