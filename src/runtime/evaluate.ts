// Evaluation and prediction with trained parameters, on the GPU (temporary buffers, all freed
// before returning) or with the CPU twins. Probabilities are a stable softmax of the logits.

import { LOSS_GROUP_WORDS, readLossGroup, statsSlotBytes } from '../kernels/softmax-xent.js';
import type { MlpLayout } from '../model/mlp.js';
import { evaluateCpu, rowsOverflow } from './cpu-trainer.js';
import type { Gpu } from './gpu.js';
import { bindingBytes, concatArrays, GpuDataset, GpuRowSet, rowChunks, rowsPerBinding } from './gpu-trainer.js';
import { nonFiniteLogits, overflowText, type Evaluation, type TrainData } from './plan.js';

/** What Run.predict returns for rows of x. */
export interface Prediction {
  /** rows × classes, each row summing to 1. */
  probabilities: Float32Array;
  /** The most probable class of each row. */
  classes: Uint32Array;
}

/** Row-wise softmax of rows × classes logits, in float64 then rounded to float32. */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  return softmaxInto(new Float32Array(logits.length), logits, classes);
}

/**
 * The same softmax kept in float64, for a log-loss as scikit-learn computes it from float64
 * probabilities: float32 ones would be clipped at 2⁻²³ (a wrong row counted at most 15.9 nats
 * instead of up to 36.0), which understates the loss of the most confident, least penalized models.
 */
export function softmaxRows64(logits: Float32Array, classes: number): Float64Array {
  return softmaxInto(new Float64Array(logits.length), logits, classes);
}

function softmaxInto<T extends Float32Array | Float64Array>(out: T, logits: Float32Array, classes: number): T {
  for (let r = 0; r < logits.length / classes; r++) {
    const base = r * classes;
    let top = -Infinity;
    for (let j = 0; j < classes; j++) top = Math.max(top, logits[base + j]);
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(logits[base + j] - top);
    for (let j = 0; j < classes; j++) out[base + j] = Math.exp(logits[base + j] - top) / sum;
  }
  return out;
}

function identityAffine(models: number, features: number): Float32Array {
  const a = new Float32Array(models * 2 * features);
  for (let m = 0; m < models; m++) a.fill(1, m * 2 * features, m * 2 * features + features);
  return a;
}

/** Without a GPU, rows are evaluated in chunks whose per-row arrays take about this many bytes. */
const CPU_CHUNK_BYTES = 64 << 20;

/**
 * Evaluates model i (parameters params[i]) on rows rowsPerModel[i] of `data`, each row
 * transformed by the model's affine ([scale, shift] per feature; identity by default). Rows are
 * evaluated in chunks small enough that every per-row buffer (the gathered rows, each layer's
 * activations) fits one storage binding of `binding` (the device's limit by default; on the CPU,
 * 64 MiB: gathering every row at once would copy the data several times over).
 */
export async function evaluateModels(
  gpu: Gpu | null,
  layout: MlpLayout,
  params: Float32Array[],
  data: TrainData,
  rowsPerModel: Uint32Array[],
  affine = identityAffine(params.length, data.features),
  binding = gpu ? bindingBytes(gpu) : CPU_CHUNK_BYTES,
): Promise<Evaluation[]> {
  const models = params.length;
  const block = new Float32Array(models * layout.perModel);
  params.forEach((p, i) => block.set(p, i * layout.perModel));
  // One chunk at a time (a GpuRowSet would hold every part at once): memory for one chunk only.
  const chunks = rowChunks(rowsPerModel, rowsPerBinding(gpu, layout, models, binding));
  const join = (parts: Evaluation[][]) => (parts.length === 1 ? parts[0] : rowsPerModel.map((_, m) => joinEvaluations(parts.map((p) => p[m]))));
  if (!gpu) return join(chunks.map((rows) => evaluateCpu(layout, data, block, rows, affine).evaluations));
  const { dataset, paramBuffer, affineBuffer } = await gpu.build('building the evaluation', () => ({
    dataset: new GpuDataset(gpu, data),
    paramBuffer: gpu.createStorage('eval params', block),
    affineBuffer: gpu.createStorage('eval affine', affine),
  }));
  const parts: Evaluation[][] = [];
  try {
    for (const rows of chunks) {
      // Each chunk's sums start from a new (zeroed) stats buffer.
      const stats = gpu.createStorage('eval stats', statsSlotBytes(gpu, models, LOSS_GROUP_WORDS));
      let set: GpuRowSet | null = null;
      try {
        set = await gpu.build('building the evaluation', () => new GpuRowSet(gpu, layout, { dataset, affine: affineBuffer, params: paramBuffer, stats: { buffer: stats, recordWords: LOSS_GROUP_WORDS, field: 0, slots: 1 } }, rows, true));
        const built = set;
        gpu.submit('evaluate', (pass) => {
          built.encodeGather(pass);
          built.encodeEvaluate(pass, 0);
        });
        const words = await gpu.readUint32(stats);
        parts.push(await built.read(rows.map((_, m) => readLossGroup(words, m * LOSS_GROUP_WORDS))));
      } finally {
        set?.destroy();
        gpu.destroyBuffer(stats);
      }
    }
  } finally {
    gpu.destroyBuffer(paramBuffer);
    gpu.destroyBuffer(affineBuffer);
    dataset.destroy();
  }
  return join(parts);
}

/** One evaluation of the rows of several chunks: arrays joined, counts added, means weighted by rows. */
function joinEvaluations(chunks: Evaluation[]): Evaluation {
  const rows = chunks.reduce((n, e) => n + e.rows, 0);
  const join = <T extends Float32Array | Uint32Array>(make: (n: number) => T, pick: (e: Evaluation) => T): T => concatArrays(chunks.map(pick), make);
  const confusion = new Uint32Array(chunks[0].confusion.length);
  for (const e of chunks) e.confusion.forEach((v, i) => (confusion[i] += v));
  const mean = (pick: (e: Evaluation) => number) => chunks.reduce((s, e) => s + pick(e) * e.rows, 0) / Math.max(1, rows);
  return {
    rows,
    logits: join((n) => new Float32Array(n), (e) => e.logits),
    predictions: join((n) => new Uint32Array(n), (e) => e.predictions),
    labels: join((n) => new Uint32Array(n), (e) => e.labels),
    confusion,
    loss: mean((e) => e.loss),
    accuracy: mean((e) => e.accuracy),
  };
}

/** Probabilities and classes for rows of x (labels unused); `check` sees the logits first and may throw. */
export async function predictModel(gpu: Gpu | null, layout: MlpLayout, params: Float32Array, x: Float32Array, affine?: Float32Array, check?: (logits: Float32Array) => void): Promise<Prediction> {
  const rows = x.length / layout.features;
  const data = { x, y: new Uint32Array(rows), features: layout.features, classes: layout.classes };
  const [e] = await evaluateModels(gpu, layout, [params], data, [Uint32Array.from({ length: rows }, (_, i) => i)], affine);
  check?.(e.logits);
  return { probabilities: softmaxRows(e.logits, layout.classes), classes: e.predictions };
}

/**
 * Why logits of a model on rows of x cannot be returned, or null: the first row whose logits are
 * not finite (float32 overflow in the forward pass; probabilities, predictions and the loss would
 * be NaN or meaningless), with how large the rows' features reach as the first layer sees them
 * (x·scale + shift, per `affine`: [scale, shift] per feature) and the weights, and which to make
 * smaller (rowsOverflow, as for the trainers' test rows).
 * `context` prefixes the message (`predict(x): `).
 */
export function logitsProblem(layout: MlpLayout, params: Float32Array, x: Float32Array, affine: Float32Array, logits: Float32Array, context: string): string | null {
  const bad = nonFiniteLogits(logits, layout.classes);
  if (!bad) return null;
  const rows = x.length / layout.features;
  const data = { x, y: new Uint32Array(rows), features: layout.features, classes: layout.classes };
  const overflow = overflowText(rowsOverflow(data, Uint32Array.from({ length: rows }, (_, i) => i), affine, params), {
    features: 'scale the features down as the training data was',
    weights: 'the weights are too large: train again with a lower learning rate or λ',
  });
  return `${context}the model's logits for row ${bad.row} are not finite (${bad.value}): ${overflow}`;
}
