// The public training API: `train(options)` for one model and `trainBatch(options)` for many
// models trained together (folds × seeds × schedules). Every option is checked before any GPU
// work, with errors naming the field and what is valid; then the batch runs on the GPU trainer
// or the CPU reference trainer.

import { requireHyper, type AdamHyper } from '../kernels/adam.js';
import { KernelInputError } from '../kernels/common.js';
import { fromNamedTensors, glorotInit, mlpLayout, toNamedTensors, validateModel, ModelConfigError, type MlpLayout, type ModelConfig } from '../model/mlp.js';
import { trainOnCpu } from './cpu-trainer.js';
import { evaluateModels, predictModel, type Prediction } from './evaluate.js';
import { GpuError, sharedGpu, type AdapterDescription, type Gpu } from './gpu.js';
import { trainOnGpu } from './gpu-trainer.js';
import { PenaltyConfigError, resolvePenalty, type PenaltyConfig } from './penalty.js';
import {
  STREAM_INIT,
  type BatchPlan,
  type EpochRecord,
  type Evaluation,
  type ModelPlan,
  type ModelResult,
  type OptimizerState,
  type PlannerState,
  type TrainData,
} from './plan.js';
import { Random } from './random.js';
import { ScheduleError, scheduleLabel, targetedTensors } from './schedule.js';

/** A bad option of train() or trainBatch(); thrown before any GPU work. */
export class TrainOptionsError extends Error {
  override name = 'TrainOptionsError';
}

export type DeviceChoice = 'auto' | 'gpu' | 'cpu';

export interface OptimizerConfig {
  kind?: 'adam';
  /** Default 0.001 (Keras). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  /** Default 1e-7 (Keras). */
  epsilon?: number;
}

export type InitConfig = { seed: number } | { weights: Record<string, Float32Array> };

/** Shared settings of train() and trainBatch(). */
export interface CommonOptions {
  model: ModelConfig;
  epochs: number;
  /** Default 32 (Keras). The last partial batch of an epoch is trained too. */
  batchSize?: number;
  /** Default true: a new seeded permutation of the training rows every epoch. */
  shuffle?: boolean;
  optimizer?: OptimizerConfig;
  /** Default 'auto': the GPU when one is found, else the CPU reference trainer. */
  device?: DeviceChoice;
  /** A device to use instead of the shared one (e.g. the page's). */
  gpu?: Gpu;
  /** Aborting stops training between epochs (CPU) or chunks of epochs (GPU); GPU memory is freed. */
  signal?: AbortSignal;
}

export interface TrainOptions extends CommonOptions {
  data: TrainData;
  validation?: TrainData;
  /** Default { seed } (Glorot-uniform kernels, zero biases). */
  init?: InitConfig;
  /** Seed of the shuffles, random schedules and default init. Default 0. */
  seed?: number;
  penalty?: PenaltyConfig;
  /**
   * Per-feature affine x·scale + shift applied to every row the model sees (training,
   * validation, predict, evaluate), e.g. from fitStandardizer on the training rows.
   */
  standardize?: { scale: Float32Array; shift: Float32Array };
  /** Called in epoch order, a few epochs at a time on the GPU. */
  onEpoch?: (record: EpochRecord) => void;
  /** Continue a run from its checkpoint for `epochs` more epochs. */
  resume?: Checkpoint;
}

/** One model of a batch. Rows index the shared data set. */
export interface BatchModel {
  trainRows: Uint32Array;
  validationRows?: Uint32Array;
  testRows?: Uint32Array;
  standardize?: { scale: Float32Array; shift: Float32Array };
  penalty?: PenaltyConfig;
  seed?: number;
  init?: InitConfig;
  /** A label for progress and reports. */
  name?: string;
  /** Continue this model from its checkpoint (same model shape and data set). */
  resume?: Checkpoint;
}

export interface BatchOptions extends CommonOptions {
  data: TrainData;
  models: BatchModel[];
  onEpoch?: (epoch: number, records: EpochRecord[]) => void;
}

export interface BatchRun {
  device: 'gpu' | 'cpu';
  adapter: AdapterDescription | null;
  layout: MlpLayout;
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

export const DEFAULT_OPTIMIZER: AdamHyper = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

function fail(message: string): never {
  throw new TrainOptionsError(message);
}

function requireInteger(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${field} must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], got ${JSON.stringify(value)}`);
  }
  return value as number;
}

/** Checks a data set: shapes, finite features, labels below `classes`. */
export function validateData(d: TrainData, field: string, features?: number, classes?: number): void {
  if (!d || typeof d !== 'object') fail(`${field} must be { x, y, features, classes }`);
  requireInteger(`${field}.features`, d.features, 1);
  requireInteger(`${field}.classes`, d.classes, 2);
  if (features !== undefined && d.features !== features) fail(`${field}.features is ${d.features}, the training data has ${features}`);
  if (classes !== undefined && d.classes !== classes) fail(`${field}.classes is ${d.classes}, the training data has ${classes}`);
  if (!(d.x instanceof Float32Array)) fail(`${field}.x must be a Float32Array (rows × features, row-major)`);
  if (!(d.y instanceof Uint32Array)) fail(`${field}.y must be a Uint32Array of class ids`);
  if (d.y.length < 1) fail(`${field} has no rows`);
  if (d.x.length !== d.y.length * d.features) {
    fail(`${field}.x has ${d.x.length} values; ${d.y.length} rows (y) × ${d.features} features needs ${d.y.length * d.features}`);
  }
  for (let i = 0; i < d.x.length; i++) {
    if (!Number.isFinite(d.x[i])) fail(`${field}.x row ${Math.floor(i / d.features)}, feature ${i % d.features} is ${d.x[i]}; features must be finite`);
  }
  for (let i = 0; i < d.y.length; i++) {
    if (d.y[i] >= d.classes) fail(`${field}.y row ${i} is ${d.y[i]}; labels must be in [0, ${d.classes - 1}] (classes ${d.classes})`);
  }
}

function resolveOptimizer(o: OptimizerConfig | undefined): AdamHyper {
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

/** Rethrows configuration errors of other modules as TrainOptionsError. */
function asOptionsError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ModelConfigError || error instanceof PenaltyConfigError || error instanceof ScheduleError || error instanceof KernelInputError) {
      throw new TrainOptionsError(error.message);
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
  if (init && 'weights' in init) return asOptionsError(() => fromNamedTensors(layout, init.weights, `${field}.weights`));
  const s = init && 'seed' in init ? init.seed : seed;
  requireInteger(`${field}.seed`, s, 0, 2 ** 32 - 1);
  return glorotInit(layout, Random.derive(s, STREAM_INIT));
}

interface Resolved {
  plan: BatchPlan;
  device: DeviceChoice;
  names: string[];
  targets: string[][];
  model: ModelConfig;
  resumes: (Checkpoint | undefined)[];
}

/** Validates batch options and builds the plan (no GPU work). */
function checkResume(field: string, c: Checkpoint, data: TrainData, model: ModelConfig): void {
  const k = c.manifest.config;
  if (k.features !== data.features || k.classes !== data.classes) {
    fail(`${field}: the checkpoint is for ${k.features} features and ${k.classes} classes, the data has ${data.features} and ${data.classes}`);
  }
  if (JSON.stringify(k.model) !== JSON.stringify(model)) fail(`${field}: the checkpoint's model is ${JSON.stringify(k.model)}, options.model is ${JSON.stringify(model)}`);
}

function resolveBatch(o: BatchOptions): Resolved {
  if (!o || typeof o !== 'object') fail('options must be an object');
  validateData(o.data, 'data');
  asOptionsError(() => validateModel(o.model));
  const epochs = requireInteger('epochs', o.epochs, 1, 1_000_000);
  const batchSize = requireInteger('batchSize', o.batchSize ?? 32, 1, 1 << 20);
  if (o.shuffle !== undefined && typeof o.shuffle !== 'boolean') fail(`shuffle must be true or false, got ${JSON.stringify(o.shuffle)}`);
  const device = o.device ?? 'auto';
  if (!['auto', 'gpu', 'cpu'].includes(device)) fail(`device must be 'auto', 'gpu' or 'cpu', got ${JSON.stringify(device)}`);
  const optimizer = resolveOptimizer(o.optimizer);
  if (!Array.isArray(o.models) || o.models.length < 1) fail('models must list at least one model');
  if (o.models.length > 65535) fail(`at most 65535 models train together, got ${o.models.length}`);
  const layout = asOptionsError(() => mlpLayout(o.data.features, o.data.classes, o.model));
  const rows = o.data.y.length;
  const models: ModelPlan[] = [];
  const modes = new Set<string>();
  o.models.forEach((m, i) => {
    const field = o.models.length === 1 ? '' : `models[${i}].`;
    checkRows(`${field}trainRows`, m.trainRows, rows, true);
    checkRows(`${field}validationRows`, m.validationRows, rows, false);
    checkRows(`${field}testRows`, m.testRows, rows, false);
    if (m.standardize) {
      for (const key of ['scale', 'shift'] as const) {
        const v = m.standardize[key];
        if (!(v instanceof Float32Array) || v.length !== o.data.features || !v.every(Number.isFinite)) {
          fail(`${field}standardize.${key} must be a Float32Array of ${o.data.features} finite values`);
        }
      }
    }
    const penalty = asOptionsError(() => resolvePenalty(m.penalty, `${field}penalty`));
    modes.add(penalty.mode);
    const seed = requireInteger(`${field}seed`, m.seed ?? 0, 0, 2 ** 32 - 1);
    const resume = m.resume;
    if (resume) checkResume(`${field}resume`, resume, o.data, o.model);
    const init = resume ? resume.params : initParams(layout, m.init, seed, `${field}init`);
    models.push({
      trainRows: m.trainRows,
      ...(m.validationRows ? { validationRows: m.validationRows } : {}),
      ...(m.testRows ? { testRows: m.testRows } : {}),
      ...(m.standardize ? { standardize: m.standardize } : {}),
      penalty,
      seed,
      init,
      ...(resume ? { resume: { optimizer: resume.optimizer, planner: resume.planner } } : {}),
    });
  });
  if (modes.size > 1) fail('all models of a batch must share penalty.mode (coupled or decoupled): it selects the update kernel');
  const mode = [...modes][0] as 'coupled' | 'decoupled';
  return {
    plan: { data: o.data, layout, models, epochs, batchSize, shuffle: o.shuffle ?? true, optimizer, mode },
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
  const p = plan.models[i].penalty;
  return {
    format: 'altreg-checkpoint',
    version: 1,
    config: {
      features: plan.data.features,
      classes: plan.data.classes,
      model: r.model,
      optimizer: plan.optimizer,
      penalty: { lambda: p.lambda, mode: p.mode, convention: p.convention, targets: p.targets, schedule: scheduleLabel(p.schedule) },
      batchSize: plan.batchSize,
      shuffle: plan.shuffle,
      seed: plan.models[i].seed,
    },
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

/** Trains many models together (same shapes and data set; own rows, seeds and penalties). */
export async function trainBatch(options: BatchOptions): Promise<BatchRun> {
  const r = resolveBatch(options);
  const { result, gpu } = await runPlan(r, options, options.onEpoch);
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

async function runPlan(r: Resolved, options: CommonOptions, onEpoch?: (epoch: number, records: EpochRecord[]) => void) {
  const gpu = await pickGpu(r.device, options.gpu);
  const result = gpu ? await trainOnGpu(gpu, r.plan, onEpoch, options.signal) : await trainOnCpu(r.plan, onEpoch, options.signal);
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
  };
  /** Epochs trained so far. */
  epoch: number;
  /** Adam steps taken so far. */
  step: number;
  planner: PlannerState;
  history: EpochRecord[];
}

export interface Checkpoint {
  manifest: CheckpointManifest;
  params: Float32Array;
  optimizer: OptimizerState;
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

  /** Trained tensors by name: `dense_0/kernel` [in, out] row-major, `dense_0/bias`, ... */
  get weights(): Record<string, Float32Array> {
    return toNamedTensors(this.layout, this.params);
  }

  /** Class probabilities (rows × classes) and predicted classes for rows of x. */
  async predict(x: Float32Array): Promise<Prediction> {
    if (!(x instanceof Float32Array) || x.length % this.layout.features !== 0 || x.length === 0) {
      fail(`predict(x): x must be a non-empty Float32Array of rows × ${this.layout.features} features, got ${x?.length} values`);
    }
    validateData({ x, y: new Uint32Array(x.length / this.layout.features), features: this.layout.features, classes: this.layout.classes }, 'x');
    return predictModel(this.gpu, this.layout, this.params, x, this.affine());
  }

  /** Loss, accuracy, predictions and confusion matrix on labelled rows. */
  async evaluate(x: Float32Array, y: Uint32Array): Promise<Evaluation> {
    const data = { x, y, features: this.layout.features, classes: this.layout.classes };
    validateData(data, 'evaluate(x, y)');
    const [evaluation] = await evaluateModels(this.gpu, this.layout, [this.params], data, [Uint32Array.from({ length: y.length }, (_, i) => i)], this.affine());
    return evaluation;
  }

  /** Everything needed to continue training exactly (see checkpoint.ts to save it). */
  checkpoint(): Checkpoint {
    return this.makeCheckpoint();
  }
}

/** Trains one model; see README for the options. */
export async function train(options: TrainOptions): Promise<Run> {
  if (!options || typeof options !== 'object') fail('train(options): options must be an object');
  validateData(options.data, 'data');
  if (options.validation) validateData(options.validation, 'validation', options.data.features, options.data.classes);
  const seed = requireInteger('seed', options.seed ?? 0, 0, 2 ** 32 - 1);
  const resume = options.resume;
  // One data set holds the training rows, then the validation rows.
  const n = options.data.y.length;
  const v = options.validation;
  const data: TrainData = v
    ? {
        x: concat(options.data.x, v.x),
        y: Uint32Array.from([...options.data.y, ...v.y]),
        features: options.data.features,
        classes: options.data.classes,
      }
    : options.data;
  const model: BatchModel = {
    trainRows: Uint32Array.from({ length: n }, (_, i) => i),
    ...(v ? { validationRows: Uint32Array.from({ length: v.y.length }, (_, i) => n + i) } : {}),
    ...(options.penalty ? { penalty: options.penalty } : {}),
    ...(options.standardize ? { standardize: options.standardize } : {}),
    seed,
    init: options.init ?? { seed },
    ...(resume ? { resume } : {}),
  };
  const resolved = resolveBatch({ ...options, data, models: [model], onEpoch: undefined });
  const onEpoch = options.onEpoch;
  const { result, gpu } = await runPlan(resolved, options, onEpoch ? (_, records) => onEpoch(records[0]) : undefined);
  const m = result.models[0];
  const history = [...(resume?.manifest.history ?? []), ...m.history];
  const base = manifestBase(resolved, 0);
  return new Run(resolved.plan.layout, m.params, history, resolved.targets[0], gpu ? 'gpu' : 'cpu', gpu?.adapter ?? null, () => makeCheckpoint(base, m, history), gpu, options.standardize);
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export { GpuError };
