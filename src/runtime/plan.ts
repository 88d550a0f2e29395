// What a batch of models trains on and how, shared by the GPU trainer and the CPU reference
// trainer so that both see exactly the same batches, masks and initial weights: the batch plan,
// each model's epoch planner (shuffle and schedule streams), and the history record built from
// the sums the kernels (or their twins) accumulate over an epoch.

import type { AdamHyper } from '../kernels/adam.js';
import { COUNTER_WORDS } from '../kernels/gather.js';
import type { LossSums } from '../kernels/softmax-xent.js';
import type { MlpLayout } from '../model/mlp.js';
import { penaltyCoefficients, penaltyValue, targetSegments, type ResolvedPenalty } from './penalty.js';
import { Random, type RandomState } from './random.js';
import { Schedule, ScheduleError, scheduleLabel, targetedTensors, type ScheduleSpec, type Targets } from './schedule.js';

/** A labelled data set: x is rows × features, row-major. */
export interface TrainData {
  x: Float32Array;
  y: Uint32Array;
  features: number;
  classes: number;
}

/** Where a model's epoch stream stands: enough to resume it exactly. */
export interface PlannerState {
  /** Epochs already planned (the next epoch's index). */
  epoch: number;
  shuffle: RandomState;
  schedule: RandomState;
}

/** Optimizer state of one model, for resuming. */
export interface OptimizerState {
  m: Float32Array;
  v: Float32Array;
  /** Adam's t: optimizer steps taken. */
  step: number;
}

/** One model of a batch: its rows of the shared data set and its own settings. */
export interface ModelPlan {
  trainRows: Uint32Array;
  /** Rows evaluated at the end of every epoch (valLoss, valAccuracy). */
  validationRows?: Uint32Array;
  /** Rows evaluated once after the last epoch (predictions, confusion matrix). */
  testRows?: Uint32Array;
  /** Per-feature affine applied when rows are gathered: x·scale + shift. */
  standardize?: { scale: Float32Array; shift: Float32Array };
  penalty: ResolvedPenalty;
  /** Seed of the model's shuffle and schedule streams. */
  seed: number;
  /** Initial parameters (one block of layout.perModel). */
  init: Float32Array;
  /** Resume from a checkpoint: optimizer state and the planner's position. */
  resume?: { optimizer: OptimizerState; planner: PlannerState };
}

export interface BatchPlan {
  data: TrainData;
  layout: MlpLayout;
  models: ModelPlan[];
  /** Epochs to train in this call (after any resumed ones). */
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  optimizer: AdamHyper;
  /** Shared by all models of a batch (it selects the Adam pipeline). */
  mode: 'coupled' | 'decoupled';
}

/** One epoch of one model as the trainers need it. */
export interface EpochPlan {
  epoch: number;
  /** Training rows in the order of this epoch's steps. */
  perm: Uint32Array;
  /** On/off per targeted tensor. */
  mask: boolean[];
  /** Per-segment coefficient for the Adam kernel. */
  coef: Float32Array;
}

/** Stream numbers for Random.derive(seed, stream). */
export const STREAM_INIT = 1;
export const STREAM_SHUFFLE = 2;
export const STREAM_SCHEDULE = 3;

/**
 * The masks a model trained with `seed` will get in its first `epochs` epochs, without training:
 * the same schedule on the same stream as the trainer (for previews and reports).
 */
export function scheduleMasks(layout: MlpLayout, penalty: { targets?: Targets; schedule?: ScheduleSpec }, seed: number, epochs: number): { tensors: string[]; masks: boolean[][] } {
  const { tensors, schedule } = modelSchedule(layout, penalty, seed);
  return { tensors, masks: Array.from({ length: epochs }, (_, e) => schedule.mask(e)) };
}

/** The targeted tensors and the schedule a model trained with `seed` draws its masks from. */
function modelSchedule(layout: MlpLayout, penalty: { targets?: Targets; schedule?: ScheduleSpec }, seed: number): { tensors: string[]; schedule: Schedule } {
  const tensors = targetedTensors(layout, penalty.targets ?? 'kernels', 'penalty.targets');
  return { tensors, schedule: new Schedule(penalty.schedule ?? 'constant', tensors, new Random(Random.derive(seed, STREAM_SCHEDULE))) };
}

/**
 * The share of the first `epochs` epochs in which each targeted term is on, for a model trained
 * with `seed`: 1 for constant, 0 for none, 1 − 1/(2T) for alternate over whole cycles,
 * min(E, epochs)/epochs for early:E. Plain L2 at λ times the mean share is as strong on average as
 * the schedule: the control a schedule has to beat. random:P gives its expectation P for every
 * term (its masks differ from seed to seed). Throws a ScheduleError unless `epochs` is an integer
 * ≥ 1.
 */
export function scheduleShares(layout: MlpLayout, penalty: { targets?: Targets; schedule?: ScheduleSpec }, seed: number, epochs: number): { tensors: string[]; shares: number[] } {
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new ScheduleError(`epochs must be an integer ≥ 1, got ${epochs}`);
  const { tensors, schedule } = modelSchedule(layout, penalty, seed);
  const spec = schedule.spec;
  if (typeof spec === 'object' && 'random' in spec) return { tensors, shares: tensors.map(() => spec.random) };
  // Counted epoch by epoch, as the trainer draws them, without keeping a million masks.
  const on = tensors.map(() => 0);
  for (let e = 0; e < epochs; e++) schedule.mask(e).forEach((m, t) => (on[t] += m ? 1 : 0));
  return { tensors, shares: on.map((n) => n / epochs) };
}

/** Generates a model's epochs in order: each epoch's shuffle and mask. */
export class EpochPlanner {
  readonly targets: string[];
  readonly segments: number[];
  private epoch: number;
  private readonly shuffleRng: Random;
  private readonly scheduleRng: Random;
  private readonly schedule: Schedule;

  constructor(
    private readonly layout: MlpLayout,
    readonly model: ModelPlan,
    private readonly shuffle: boolean,
  ) {
    this.targets = targetedTensors(layout, model.penalty.targets);
    this.segments = targetSegments(layout, this.targets);
    const resume = model.resume?.planner;
    this.epoch = resume?.epoch ?? 0;
    this.shuffleRng = new Random(resume?.shuffle ?? Random.derive(model.seed, STREAM_SHUFFLE));
    this.scheduleRng = new Random(resume?.schedule ?? Random.derive(model.seed, STREAM_SCHEDULE));
    this.schedule = new Schedule(model.penalty.schedule, this.targets, this.scheduleRng);
  }

  /** The position before the next epoch (what a checkpoint after the last planned epoch holds). */
  state(): PlannerState {
    return { epoch: this.epoch, shuffle: this.shuffleRng.state(), schedule: this.scheduleRng.state() };
  }

  next(): EpochPlan {
    const epoch = this.epoch++;
    // Masks first, then the shuffle: the order of draws is part of the reproducible stream.
    const mask = this.schedule.mask(epoch);
    const perm = this.model.trainRows.slice();
    if (this.shuffle) this.shuffleRng.shuffle(perm);
    return { epoch, perm, mask, coef: penaltyCoefficients(this.layout, this.model.penalty, this.segments, mask) };
  }

  penaltyValue(mask: boolean[], sumSquares: ArrayLike<number>): number {
    return penaltyValue(this.model.penalty, this.segments, mask, sumSquares);
  }
}

/** One epoch of one model's history. */
export interface EpochRecord {
  epoch: number;
  /** Mean cross-entropy over the epoch's training rows, each taken when its batch was trained. */
  loss: number;
  /** Value of the active penalty at the end of the epoch (see penalty.ts for the formula). */
  penalty: number;
  /** On/off per targeted tensor (names in the run's `targets`). */
  mask: boolean[];
  /** Fraction of the epoch's training rows predicted right when their batch was trained. */
  trainAccuracy: number;
  /** On the validation rows after the epoch's last step. */
  valLoss?: number;
  valAccuracy?: number;
  /** ‖w‖₂ of every tensor after the epoch, by name. */
  weightNorms: Record<string, number>;
}

/**
 * What went non-finite: the training loss, a tensor's Σw², the validation loss, or the test
 * logits. 'penalty' is no longer produced (the weights are checked first, and finite Σw² with
 * λ ≤ 1.7e38 keep the penalty finite: see epochRecord); it stays in the type so that code naming
 * it still compiles.
 */
export type DivergenceKind = 'loss' | 'weights' | 'penalty' | 'validation' | 'test';

/** The advice a DivergenceError gives unless a cause was found (see divergenceAdvice). */
export const LOWER_RATE_ADVICE = 'lower the learning rate or λ';
/** The same for a model without a penalty (schedule 'none' or λ 0), where λ changes nothing. */
export const LOWER_LR_ADVICE = 'lower the learning rate';

/** Whether a penalty of λ `lambda` and schedule `schedule` (its label) applies none: λ 0 or 'none'. */
export function noPenalty(lambda: unknown, schedule: unknown): boolean {
  return lambda === 0 || schedule === 'none';
}

/** LOWER_RATE_ADVICE, or LOWER_LR_ADVICE where `penalty` applies none. */
export function lowerRateAdvice(penalty: ResolvedPenalty): string {
  return noPenalty(penalty.lambda, scheduleLabel(penalty.schedule)) ? LOWER_LR_ADVICE : LOWER_RATE_ADVICE;
}
/** The end of a DivergenceError's advice when unstandardized features overflow float32. */
export const STANDARDIZE_ADVICE = 'standardize the features or scale them down';
/** The end of a DivergenceError's advice when standardized features still overflow float32. */
export const SCALE_DOWN_ADVICE = 'scale the features down';

/**
 * Thrown when training produces a non-finite number: the training loss, a weight (a tensor's Σw²
 * in float32), the validation loss, or the logits of the test rows; nothing is written after it.
 */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
  /** What went non-finite, as a word (`what` says it in full). */
  readonly kind: DivergenceKind;
  /**
   * What to do about it (the message's last part): LOWER_RATE_ADVICE, or a cause that was found,
   * ending in what to do (STANDARDIZE_ADVICE, SCALE_DOWN_ADVICE, LOWER_RATE_ADVICE, ...).
   */
  readonly advice: string;
  constructor(
    readonly epoch: number,
    readonly model: number,
    /** What went non-finite (`the training loss is NaN`). */
    readonly what: string,
    /** The model's name in trainBatch, when it was given one. */
    readonly modelName?: string,
    details: { kind?: DivergenceKind; advice?: string } = {},
  ) {
    const advice = details.advice ?? LOWER_RATE_ADVICE;
    super(`training diverged at epoch ${epoch} (model ${model}${modelName ? `, ${modelName}` : ''}): ${what}; ${advice}`);
    this.kind = details.kind ?? 'loss';
    this.advice = advice;
  }

  /** The same error, naming the model (trainBatch's `name`). */
  named(modelName: string): DivergenceError {
    return new DivergenceError(this.epoch, this.model, this.what, modelName, { kind: this.kind, advice: this.advice });
  }
}

/**
 * Advice for a divergence of a trainer's model `model` in epoch `plan`, when a cause other than
 * the learning rate or λ is found (cpu-trainer.ts's divergenceAdvice); undefined otherwise.
 * `sumSquares` is the model's Σw² per tensor after the epoch.
 */
export type DivergenceAdvisor = (model: number, plan: EpochPlan, kind: DivergenceKind, sumSquares: ArrayLike<number>) => string | undefined;

/**
 * Builds a history record from an epoch's sums; throws DivergenceError on a non-finite training
 * loss (each taken before its step's update), then on a tensor whose Σw² after the epoch's last
 * update is not finite in float32 (as the GPU sums it: a weight past 1.8e19 or NaN; ReLU hides a
 * NaN weight from the loss), then on the validation loss. `model` is the index in the run (for
 * the message), `local` the index in the trainer's plan (for `advise`).
 *
 * The loss sums are float32 on both devices (the GPU adds the rows' losses into a float32; the
 * CPU twins round their float64 sums to float32), so a loss sum past 3.4e38 is Infinity on both;
 * flag 1 (a row's loss or largest logit not finite: in float32 on the GPU, in float64 on the CPU)
 * differs only for a row whose loss passes 3.4e38, which makes either sum Infinity as well.
 */
export function epochRecord(
  layout: MlpLayout,
  planner: EpochPlanner,
  plan: EpochPlan,
  model: number,
  train: LossSums,
  val: LossSums | null,
  sumSquares: ArrayLike<number>,
  advise?: DivergenceAdvisor,
  local = model,
): EpochRecord {
  if (train.flags & 2) throw new Error(`epoch ${plan.epoch} (model ${model}): a label ≥ classes reached the GPU`);
  const diverged = (kind: DivergenceKind, what: string) => {
    const advice = advise?.(local, plan, kind, sumSquares) ?? lowerRateAdvice(planner.model.penalty);
    return new DivergenceError(plan.epoch, model, what, undefined, { kind, advice });
  };
  const lossSum = Math.fround(train.loss);
  const loss = train.count > 0 ? lossSum / train.count : Number.NaN;
  const norms: Record<string, number> = {};
  layout.tensors.forEach((t, i) => (norms[t.name] = Math.sqrt(sumSquares[i])));
  if (train.flags & 1 || !Number.isFinite(loss)) throw diverged('loss', `the training loss is ${loss}`);
  const bad = layout.tensors.findIndex((_, i) => !Number.isFinite(Math.fround(sumSquares[i])));
  if (bad >= 0) throw diverged('weights', `the weights of ${layout.tensors[bad].name} are not finite after the epoch (Σw² is ${Math.fround(sumSquares[bad])})`);
  const penalty = planner.penaltyValue(plan.mask, sumSquares);
  // An assertion: it cannot fire. Every Σw² is finite in float32 here (≤ 3.4e38, checked just
  // above), λ ≤ 1.7e38 (isLambda) and a model has at most 62 tensors (31 layers' kernels and
  // biases), so the float64 penalty is at most about 3.6e78 (and a term that is off adds
  // nothing). Kept so that a change to those limits cannot pass a non-finite penalty into the
  // history; nothing else produces the 'penalty' kind.
  if (!Number.isFinite(penalty)) throw diverged('penalty', `the penalty is ${penalty}`);
  const record: EpochRecord = { epoch: plan.epoch, loss, penalty, mask: plan.mask, trainAccuracy: train.correct / train.count, weightNorms: norms };
  if (val && val.count > 0) {
    const valLoss = Math.fround(val.loss) / val.count;
    // A row whose loss (or logit) is not finite diverged. A sum of finite row losses past
    // float32's 3.4e38 did not (the model is usable, as for the test rows): the history says
    // Infinity, as the float32 sum is.
    if (val.flags & 1 || Number.isNaN(valLoss)) throw diverged('validation', `the validation loss is ${valLoss}`);
    record.valLoss = valLoss;
    record.valAccuracy = val.correct / val.count;
  }
  return record;
}

/** A magnitude for a message, to 2 significant digits: 7.9, 0.5, 1e+17, 3.4e+38. */
export function shortNumber(v: number): string {
  return v.toPrecision(2).replace(/(\.\d*?)0+(?=e|$)/, '$1').replace(/\.(?=e|$)/, '');
}

/**
 * The first row whose logits are not all finite, with a NaN of it or else its first ±Infinity, or null:
 * `rows` rows of `classes` logits.
 */
export function nonFiniteLogits(logits: ArrayLike<number>, classes: number, rows = logits.length / classes): { row: number; value: number } | null {
  for (let r = 0; r < rows; r++) {
    let value: number | null = null;
    for (let j = 0; j < classes; j++) {
      const z = logits[r * classes + j];
      if (Number.isNaN(z)) return { row: r, value: z };
      if (!Number.isFinite(z)) value ??= z;
    }
    if (value !== null) return { row: r, value };
  }
  return null;
}

/** The largest |value| of `values` (NaN when one is NaN, 0 when there are none). */
export function peakMagnitude(values: ArrayLike<number>): number {
  let top = 0;
  for (let i = 0; i < values.length; i++) top = Math.max(top, Math.abs(values[i]));
  return top;
}

/** How large the inputs of a forward pass that overflowed float32 reach, and which to blame. */
export interface ForwardOverflow {
  /** The largest |feature| as the first layer sees it (x·scale + shift, in float32). */
  features: number;
  /** The largest |weight| (NaN when one is NaN). */
  weights: number;
  /** The larger of the two; NaN weights (an update gone NaN) are the weights'. */
  cause: 'features' | 'weights';
}

/**
 * Which of a forward pass's features (as the first layer sees them) and weights to blame for its
 * overflow: whichever reaches the larger magnitude, the weights on a tie or a NaN (features are
 * checked finite before any training, so a NaN can only be the weights'). The one rule behind every message that names
 * the cause (divergenceAdvice, the test rows' DivergenceError, Run.predict's logitsProblem).
 */
export function forwardOverflow(features: ArrayLike<number>, weights: ArrayLike<number>): ForwardOverflow {
  const f = peakMagnitude(features);
  const w = peakMagnitude(weights);
  return { features: f, weights: w, cause: f > w ? 'features' : 'weights' };
}

/** What to do about features that overflow float32: standardize them, or (already standardized) scale them down. */
export function featuresRemedy(standardized: boolean): string {
  return standardized ? SCALE_DOWN_ADVICE : STANDARDIZE_ADVICE;
}

/**
 * `its forward pass overflows float32, with features up to F as the first layer sees them and
 * weights up to W; ` and the remedy for the cause `o` names.
 */
export function overflowText(o: ForwardOverflow, remedy: { features: string; weights: string }): string {
  return (
    `its forward pass overflows float32, with features up to ${shortNumber(o.features)} as the first layer sees them and weights up to ${shortNumber(o.weights)}; ` +
    (o.cause === 'features' ? remedy.features : remedy.weights)
  );
}

/**
 * Advice for a divergence of the test rows of a trainer's model `model` whose logits for its test
 * row `row` are not finite (see testDivergenceAdvice); undefined keeps LOWER_RATE_ADVICE.
 */
export type TestAdvisor = (model: number, row: number) => string | undefined;

/**
 * Throws DivergenceError (kind 'test') when a model's test logits (after its last epoch,
 * `epochs[m]`) are not all finite: its predictions would be NaN or meaningless. The decision
 * rests on the logits alone, which both devices read back alike: a model whose logits are finite
 * is usable even where its cross-entropy sum passes float32's 3.4e38 (its test loss is then
 * Infinity on both devices; its predictions are fine). `first` is the index of tests[0] in the
 * run; `advise` names the cause (features or weights).
 */
export function checkTests(tests: Evaluation[], epochs: number[], classes: number, first = 0, advise?: TestAdvisor): void {
  tests.forEach((t, m) => {
    const bad = nonFiniteLogits(t.logits, classes, t.rows);
    if (!bad) return;
    const advice = advise?.(m, bad.row);
    throw new DivergenceError(epochs[m], first + m, `the logits of test row ${bad.row} are not finite (${bad.value}) after the last epoch`, undefined, {
      kind: 'test',
      ...(advice ? { advice } : {}),
    });
  });
}

/** What a trainer hands back for each model. */
export interface ModelResult {
  params: Float32Array;
  optimizer: OptimizerState;
  planner: PlannerState;
  history: EpochRecord[];
  test?: Evaluation;
}

/** An evaluation of one model on a set of rows. */
export interface Evaluation {
  rows: number;
  /** rows × classes */
  logits: Float32Array;
  predictions: Uint32Array;
  labels: Uint32Array;
  /** classes × classes, [true][predicted] */
  confusion: Uint32Array;
  loss: number;
  accuracy: number;
}

export interface BatchResult {
  models: ModelResult[];
}

/**
 * Progress: the epochs just finished, one list of records per model. The trainers await a
 * returned promise before the next call, and a throw or rejection stops the run with it.
 */
export type EpochListener = (epoch: number, records: EpochRecord[]) => unknown;

/**
 * Progress inside an epoch: `step` of its `steps` steps are done. Called where a trainer pauses
 * within an epoch (the CPU reference trainer; Dawn on a CPU adapter, between submissions), so only
 * long epochs are reported this way; not awaited.
 */
export type StepListener = (epoch: number, step: number, steps: number) => void;

/** What a trainer reports to and is stopped by. */
export interface TrainerHooks {
  onEpoch?: EpochListener;
  onStep?: StepListener;
  signal?: AbortSignal;
}

/** Per-model [scale, shift] rows as the gather kernel (and its twin) read them. */
export function affineTable(plan: BatchPlan): Float32Array {
  const F = plan.data.features;
  const affine = new Float32Array(plan.models.length * 2 * F);
  plan.models.forEach((m, i) => {
    if (m.standardize) {
      affine.set(m.standardize.scale, i * 2 * F);
      affine.set(m.standardize.shift, i * 2 * F + F);
    } else {
      affine.fill(1, i * 2 * F, i * 2 * F + F);
    }
  });
  return affine;
}

/**
 * The state both trainers start from, packed for all models: parameters, Adam moments, and the
 * counters (training rows, -, Adam's t, -) in the gather kernel's layout.
 */
export function initialState(plan: BatchPlan): { params: Float32Array; m: Float32Array; v: Float32Array; counters: Uint32Array } {
  const P = plan.layout.perModel;
  const B = plan.models.length;
  const params = new Float32Array(B * P);
  const m = new Float32Array(B * P);
  const v = new Float32Array(B * P);
  const counters = new Uint32Array(B * COUNTER_WORDS);
  plan.models.forEach((model, i) => {
    params.set(model.init, i * P);
    counters[i * COUNTER_WORDS] = model.trainRows.length;
    if (model.resume) {
      m.set(model.resume.optimizer.m, i * P);
      v.set(model.resume.optimizer.v, i * P);
      counters[i * COUNTER_WORDS + 2] = model.resume.optimizer.step;
    }
  });
  return { params, m, v, counters };
}

/** Splits the packed final state into each model's result. */
export function batchResult(
  plan: BatchPlan,
  state: { params: Float32Array; m: Float32Array; v: Float32Array; counters: Uint32Array },
  planners: EpochPlanner[],
  histories: EpochRecord[][],
  tests: Evaluation[] | null,
): BatchResult {
  const P = plan.layout.perModel;
  const block = (a: Float32Array, i: number) => a.slice(i * P, (i + 1) * P);
  return {
    models: plan.models.map((model, i) => ({
      params: block(state.params, i),
      optimizer: { m: block(state.m, i), v: block(state.v, i), step: state.counters[i * COUNTER_WORDS + 2] },
      planner: planners[i].state(),
      history: histories[i],
      ...(tests && model.testRows ? { test: tests[i] } : {}),
    })),
  };
}

/** Row count of the largest training set and the steps of one epoch. */
export function epochShape(plan: BatchPlan): { maxRows: number; steps: number } {
  const maxRows = Math.max(...plan.models.map((m) => m.trainRows.length));
  return { maxRows, steps: Math.ceil(maxRows / plan.batchSize) };
}
