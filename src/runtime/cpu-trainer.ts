// The CPU reference trainer: the GPU trainer's step list run with every kernel's CPU twin on
// float32 arrays in the same layouts (gather, forward, loss, backward, update). It is the
// independent check of the GPU path and the `device: 'cpu'` fallback.

import { adamCpu } from '../kernels/adam.js';
import { COUNTER_WORDS, gatherCpu } from '../kernels/gather.js';
import { l2GradCpu } from '../kernels/l2-grad.js';
import { DENSE_WEIGHT_GRAD_VARIANT, denseForwardVariant, denseInputGradVariant, matmulCpu } from '../kernels/matmul.js';
import { metricsCpu } from '../kernels/metrics.js';
import { FLAG_NOT_FINITE, softmaxXentCpu, type LossSums } from '../kernels/softmax-xent.js';
import { sumSqCpu } from '../kernels/sumsq.js';
import type { MlpLayout } from '../model/mlp.js';
import {
  EpochPlanner,
  affineTable,
  batchResult,
  epochRecord,
  initialState,
  epochShape,
  checkTests,
  featuresRemedy,
  forwardOverflow,
  peakMagnitude,
  overflowText,
  shortNumber,
  lowerRateAdvice,
  type BatchPlan,
  type BatchResult,
  type DivergenceKind,
  type EpochPlan,
  type TrainerHooks,
  type EpochRecord,
  type ForwardOverflow,
  type Evaluation,
  type TrainData,
} from './plan.js';

type Vec = Float32Array | Float64Array;
const packed = (rows: number, cols: number) => ({ offset: 0, ld: cols, batchStride: rows * cols });
const none = { offset: 0, ld: 0, batchStride: 0 };

/** Activations of every layer for `models` models of `rows` rows each (the last are logits). */
export function forwardCpu(layout: MlpLayout, models: number, rows: number, params: Vec, x: Vec, acts?: Vec[]): Vec[] {
  const out = acts ?? layout.layers.map((l) => new (params instanceof Float64Array ? Float64Array : Float32Array)(models * rows * l.outputs));
  layout.layers.forEach((layer, l) => {
    matmulCpu(
      denseForwardVariant(layer.activation),
      { batch: models, m: rows, n: layer.outputs, k: layer.inputs },
      {
        a: packed(rows, layer.inputs),
        b: { offset: layer.offset, ld: layer.outputs, batchStride: layout.perModel },
        c: packed(rows, layer.outputs),
        aux: none,
        bias: { offset: layer.offset + layer.inputs * layer.outputs, batchStride: layout.perModel },
      },
      { a: l === 0 ? x : out[l - 1], b: params, c: out[l] },
    );
  });
  return out;
}

/** Gradients of every parameter into `grads` from the loss gradient dz of the last layer. */
function backwardCpu(layout: MlpLayout, models: number, rows: number, params: Vec, x: Vec, acts: Vec[], dz: Vec[], grads: Vec): void {
  for (let l = layout.layers.length - 1; l >= 0; l--) {
    const layer = layout.layers[l];
    const input = l === 0 ? x : acts[l - 1];
    matmulCpu(
      DENSE_WEIGHT_GRAD_VARIANT,
      { batch: models, m: layer.inputs + 1, n: layer.outputs, k: rows },
      { a: packed(rows, layer.inputs), b: packed(rows, layer.outputs), c: { offset: layer.offset, ld: layer.outputs, batchStride: layout.perModel }, aux: none, bias: none },
      { a: input, b: dz[l], c: grads },
    );
    if (l > 0) {
      matmulCpu(
        denseInputGradVariant(layout.layers[l - 1].activation),
        { batch: models, m: rows, n: layer.inputs, k: layer.outputs },
        {
          a: packed(rows, layer.outputs),
          b: { offset: layer.offset, ld: layer.outputs, batchStride: layout.perModel },
          c: packed(rows, layer.inputs),
          aux: packed(rows, layer.inputs),
          bias: none,
        },
        { a: dz[l], b: params, c: dz[l - 1], aux: acts[l - 1] },
      );
    }
  }
}

/**
 * Full-batch mean cross-entropy of one model on (x, y) and its gradient with respect to every
 * parameter, plus coef[segment]·w (the coupled L2 gradient) when coef is given. Computed in the
 * precision of `params`: a Float64Array gives the float64 reference used by gradient checks.
 */
export function lossAndGradientCpu(layout: MlpLayout, params: Vec, x: Vec, y: Uint32Array, coef?: ArrayLike<number>): { loss: number; grads: Vec } {
  const rows = y.length;
  const make = (n: number) => (params instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const acts = forwardCpu(layout, 1, rows, params, x);
  const dz = layout.layers.map((l) => make(rows * l.outputs));
  const [sums] = softmaxXentCpu(1, rows, layout.classes, acts[acts.length - 1], y, [rows], dz[dz.length - 1]);
  const grads = make(layout.perModel);
  backwardCpu(layout, 1, rows, params, x, acts, dz, grads);
  if (coef) l2GradCpu(1, layout.segments, coef, params, grads);
  return { loss: sums.loss / rows, grads };
}

/** Rows of the data set gathered and standardized for each model, padded to the longest. */
function gatherRows(data: TrainData, rowsPerModel: Uint32Array[], affine: Float32Array) {
  const models = rowsPerModel.length;
  const width = Math.max(1, ...rowsPerModel.map((r) => r.length));
  const perm = new Uint32Array(models * width);
  const counters = new Uint32Array(models * COUNTER_WORDS);
  rowsPerModel.forEach((r, m) => {
    perm.set(r, m * width);
    counters[m * COUNTER_WORDS] = r.length;
  });
  const xb = new Float32Array(models * width * data.features);
  const yb = new Uint32Array(models * width);
  gatherCpu({ models, batchRows: width, features: data.features, indexStride: width, countSteps: false, x: data.x, y: data.y, perm, affine, counters, xb, yb }, 0);
  const real = rowsPerModel.map((r) => r.length);
  return { width, xb, yb, real };
}

/**
 * Evaluates every model on its rows: logits, predictions, confusion matrix, loss, accuracy. The
 * loss sums are float64, or rounded to float32 as the GPU trainer's are (`float32Sums`).
 */
export function evaluateCpu(
  layout: MlpLayout,
  data: TrainData,
  params: Float32Array,
  rowsPerModel: Uint32Array[],
  affine: Float32Array,
  float32Sums = false,
): { evaluations: Evaluation[]; sums: LossSums[] } {
  const models = rowsPerModel.length;
  const g = gatherRows(data, rowsPerModel, affine);
  const acts = forwardCpu(layout, models, g.width, params, g.xb);
  const logits = acts[acts.length - 1] as Float32Array;
  const C = layout.classes;
  const predictions = new Uint32Array(models * g.width);
  const confusion = new Uint32Array(models * C * C);
  const sums = metricsCpu(models, g.width, C, logits, g.yb, g.real, predictions, confusion);
  // The trainers' evaluations: the GPU adds the rows' losses into a float32, so that a sum past
  // 3.4e38 is Infinity there, and here. (evaluateModels keeps the float64 sums, which a chunked
  // evaluation then joins into the one-pass result.)
  if (float32Sums) for (const s of sums) s.loss = Math.fround(s.loss);
  const evaluations = rowsPerModel.map((r, m) => ({
    rows: r.length,
    logits: logits.slice(m * g.width * C, (m * g.width + r.length) * C),
    predictions: predictions.slice(m * g.width, m * g.width + r.length),
    labels: g.yb.slice(m * g.width, m * g.width + r.length),
    confusion: confusion.slice(m * C * C, (m + 1) * C * C),
    loss: sums[m].loss / Math.max(1, sums[m].count),
    accuracy: sums[m].correct / Math.max(1, sums[m].count),
  }));
  return { evaluations, sums };
}

/** Whether a model's rows reach the first layer standardized, for messages. */
function standardizedText(m: BatchPlan['models'][number]): string {
  return m.standardize ? 'standardized as given' : 'not standardized';
}

/**
 * Which of `rows` of `data` (as the first layer sees them: gathered through `affine`, [scale,
 * shift] per feature) and `params` a forward pass that overflowed float32 has to blame
 * (forwardOverflow): the test rows' DivergenceError and Run.predict's refusal.
 */
export function rowsOverflow(data: TrainData, rows: Uint32Array, affine: Float32Array, params: Float32Array): ForwardOverflow {
  return forwardOverflow(gatherRows(data, [rows], affine).xb, params);
}

/**
 * Advice for a divergence of `plan.models[model]` in `epoch` (a DivergenceAdvisor; both trainers
 * use it, so that both say the same) when the cause is not the learning rate or λ, undefined
 * otherwise:
 * - the training loss of a run's first epoch, when the first batch's loss with the initial
 *   weights, before any update, is already not finite in float32 (its rows gathered and
 *   standardized as the trainers do): the features (or the initial weights, when those are the
 *   larger: forwardOverflow) overflow float32;
 * - the validation loss, when the validation rows' features (as the first layer sees them) reach
 *   more than any weight can: √(Σw²) of the largest tensor after the epoch (`sumSquares`) bounds
 *   every |w|, so forwardOverflow would blame the features whatever the weights are.
 */
export function divergenceAdvice(plan: BatchPlan, model: number, epoch: EpochPlan, kind: DivergenceKind, sumSquares?: ArrayLike<number>): string | undefined {
  const m = plan.models[model];
  const { layout, data } = plan;
  const affine = () => affineTable({ ...plan, models: [m] });
  const standardized = standardizedText(m);
  if (kind === 'validation' && sumSquares) {
    const rows = m.validationRows ?? new Uint32Array(0);
    const features = peakMagnitude(gatherRows(data, [rows], affine()).xb);
    let bound = 0;
    for (let i = 0; i < sumSquares.length; i++) bound = Math.max(bound, Math.sqrt(sumSquares[i]));
    if (!(features > bound)) return undefined;
    return `its validation rows' features reach ${shortNumber(features)} as the first layer sees them (${standardized}), more than any weight (at most ${shortNumber(bound)}), and overflow float32 in the forward pass; ${featuresRemedy(!!m.standardize)}`;
  }
  if (kind !== 'loss' || epoch.epoch !== 0 || m.resume) return undefined;
  const rows = epoch.perm.subarray(0, Math.min(plan.batchSize, epoch.perm.length));
  if (rows.length === 0) return undefined;
  const g = gatherRows(data, [rows], affine());
  const acts = forwardCpu(layout, 1, g.width, m.init, g.xb);
  const [sums] = softmaxXentCpu(1, g.width, layout.classes, acts[acts.length - 1], g.yb, g.real, new Float32Array(g.width * layout.classes));
  // The GPU adds the losses into a float32.
  const loss = Math.fround(sums.loss);
  if (!(sums.flags & FLAG_NOT_FINITE) && Number.isFinite(loss)) return undefined;
  const o = forwardOverflow(g.xb, m.init);
  const first = `the first batch's loss is already ${Math.fround(loss / sums.count)} before any update`;
  if (o.cause === 'weights') return `${first}: the initial weights reach ${shortNumber(o.weights)} and overflow float32; start from smaller weights`;
  return `${first}: its features reach ${shortNumber(o.features)} (${standardized}) and overflow float32 in the forward pass; ${featuresRemedy(!!m.standardize)}`;
}

/**
 * Advice for test logits that are not finite (a TestAdvisor, for both trainers): which of the
 * features of the model's test row `row` (its index in the model's test rows), as the first layer
 * sees them (gathered and standardized as the trainers do), and `params` (the model's trained
 * parameters) overflow float32 (forwardOverflow), and what to do: standardize or scale the
 * features down, or lower the learning rate or λ.
 */
export function testDivergenceAdvice(plan: BatchPlan, model: number, row: number, params: Float32Array): string {
  const m = plan.models[model];
  return overflowText(rowsOverflow(plan.data, m.testRows!.subarray(row, row + 1), affineTable({ ...plan, models: [m] }), params), {
    features: `the test rows are ${standardizedText(m)}: ${featuresRemedy(!!m.standardize)}`,
    weights: lowerRateAdvice(m.penalty),
  });
}

/** Trains every model of the plan on the CPU; same batches, masks and math as the GPU trainer. */
export async function trainOnCpu(plan: BatchPlan, { onEpoch, onStep, signal }: TrainerHooks = {}): Promise<BatchResult> {
  const { layout, data } = plan;
  const B = plan.models.length;
  const P = layout.perModel;
  const F = data.features;
  const C = layout.classes;
  const bs = plan.batchSize;
  const { maxRows, steps } = epochShape(plan);
  const planners = plan.models.map((m) => new EpochPlanner(layout, m, plan.shuffle));
  const affine = affineTable(plan);

  const { params, m, v, counters } = initialState(plan);
  const grads = new Float32Array(B * P);
  const xb = new Float32Array(B * bs * F);
  const yb = new Uint32Array(B * bs);
  const acts = layout.layers.map((l) => new Float32Array(B * bs * l.outputs));
  const dz = layout.layers.map((l) => new Float32Array(B * bs * l.outputs));
  const permSlot = new Uint32Array(B * maxRows);
  const coefSlot = new Float32Array(B * layout.tensors.length);
  const realRows = new Uint32Array(B);
  const validation = plan.models.some((x) => x.validationRows && x.validationRows.length > 0)
    ? plan.models.map((x) => x.validationRows ?? new Uint32Array(0))
    : null;
  const histories: EpochRecord[][] = plan.models.map(() => []);
  // Let a page (or other work) breathe: yield to the event loop every ~25 ms of training.
  let lastYield = performance.now();
  const breathe = async (epoch: number, step: number) => {
    if (performance.now() - lastYield < 25) return;
    onStep?.(epoch, step, steps);
    await new Promise((resolve) => setTimeout(resolve, 0));
    lastYield = performance.now();
    signal?.throwIfAborted();
  };

  for (let e = 0; e < plan.epochs; e++) {
    signal?.throwIfAborted();
    const epochs = planners.map((p) => p.next());
    epochs.forEach((ep, i) => {
      permSlot.set(ep.perm, i * maxRows);
      coefSlot.set(ep.coef, i * layout.tensors.length);
    });
    const sums: LossSums[] = plan.models.map(() => ({ loss: 0, correct: 0, count: 0, flags: 0 }));
    for (let step = 0; step < steps; step++) {
      // gather → forward → loss → backward → update (penalty fused), as on the GPU
      gatherCpu({ models: B, batchRows: bs, features: F, indexStride: maxRows, countSteps: true, x: data.x, y: data.y, perm: permSlot, affine, counters, xb, yb }, step);
      forwardCpu(layout, B, bs, params, xb, acts);
      for (let i = 0; i < B; i++) realRows[i] = counters[i * COUNTER_WORDS + 1];
      const stepSums = softmaxXentCpu(B, bs, C, acts[acts.length - 1], yb, realRows, dz[dz.length - 1]);
      stepSums.forEach((s, i) => {
        // The GPU adds each step's sum into a float32.
        sums[i].loss = Math.fround(sums[i].loss + s.loss);
        sums[i].correct += s.correct;
        sums[i].count += s.count;
        sums[i].flags |= s.flags;
      });
      backwardCpu(layout, B, bs, params, xb, acts, dz, grads);
      adamCpu(B, layout.segments, plan.mode, plan.optimizer, coefSlot, counters, { weights: params, grads, m, v });
      await breathe(epochs[0].epoch, step + 1);
    }
    const sq = sumSqCpu(B, layout.segments, params);
    const val = validation ? evaluateCpu(layout, data, params, validation, affine, true).sums : null;
    const records = epochs.map((ep, i) => {
      const S = layout.tensors.length;
      return epochRecord(layout, planners[i], ep, i, sums[i], val ? val[i] : null, sq.subarray(i * S, (i + 1) * S), (m, p, kind, sq) => divergenceAdvice(plan, m, p, kind, sq));
    });
    records.forEach((r, i) => histories[i].push(r));
    await onEpoch?.(records[0].epoch, records);
  }

  let tests: Evaluation[] | null = null;
  if (plan.models.some((x) => x.testRows && x.testRows.length > 0)) {
    const evaluated = evaluateCpu(layout, data, params, plan.models.map((x) => x.testRows ?? new Uint32Array(0)), affine, true);
    // After the last update: weights that overflow only there make NaN predictions.
    checkTests(evaluated.evaluations, planners.map((p) => p.state().epoch - 1), C, 0, (i, row) => testDivergenceAdvice(plan, i, row, params.subarray(i * P, (i + 1) * P)));
    tests = evaluated.evaluations;
  }
  return batchResult(plan, { params, m, v, counters }, planners, histories, tests);
}
