// Evaluation and prediction with trained parameters, on the GPU (temporary buffers, all freed
// before returning) or with the CPU twins. Probabilities are a stable softmax of the logits.

import { LOSS_GROUP_WORDS, readLossGroup, statsSlotBytes } from '../kernels/softmax-xent.js';
import type { MlpLayout } from '../model/mlp.js';
import { evaluateCpu } from './cpu-trainer.js';
import type { Gpu } from './gpu.js';
import { GpuDataset, GpuRowSet } from './gpu-trainer.js';
import type { Evaluation, TrainData } from './plan.js';

export interface Prediction {
  /** rows × classes, each row summing to 1. */
  probabilities: Float32Array;
  /** The most probable class of each row. */
  classes: Uint32Array;
}

/** Row-wise softmax of rows × classes logits, in float64 then rounded. */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
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

/**
 * Evaluates model i (parameters params[i]) on rows rowsPerModel[i] of `data`, each row
 * transformed by the model's affine ([scale, shift] per feature; identity by default).
 */
export async function evaluateModels(
  gpu: Gpu | null,
  layout: MlpLayout,
  params: Float32Array[],
  data: TrainData,
  rowsPerModel: Uint32Array[],
  affine = identityAffine(params.length, data.features),
): Promise<Evaluation[]> {
  const models = params.length;
  const block = new Float32Array(models * layout.perModel);
  params.forEach((p, i) => block.set(p, i * layout.perModel));
  if (!gpu) return evaluateCpu(layout, data, block, rowsPerModel, affine).evaluations;
  const build = () => {
    const dataset = new GpuDataset(gpu, data);
    const buffers = [
      gpu.createStorage('eval params', block),
      gpu.createStorage('eval affine', affine),
      gpu.createStorage('eval stats', statsSlotBytes(gpu, models, LOSS_GROUP_WORDS)),
    ];
    const [paramBuffer, affineBuffer, stats] = buffers;
    const set = new GpuRowSet(gpu, layout, dataset, rowsPerModel, affineBuffer, paramBuffer, { buffer: stats, recordWords: LOSS_GROUP_WORDS, field: 0, slots: 1 }, true);
    return { dataset, buffers, set, stats };
  };
  const free = (built: ReturnType<typeof build>) => {
    built.set.destroy();
    for (const b of built.buffers) gpu.destroyBuffer(b);
    built.dataset.destroy();
  };
  const built = await gpu.build('building the evaluation', build, free);
  try {
    const rows = built.set;
    gpu.submit('evaluate', (pass) => {
      rows.encodeGather(pass);
      rows.encodeEvaluate(pass, 0);
    });
    const words = await gpu.readUint32(built.stats);
    return await rows.read(rowsPerModel.map((_, m) => readLossGroup(words, m * LOSS_GROUP_WORDS)));
  } finally {
    free(built);
  }
}

/** Probabilities and classes for rows of x (labels unused). */
export async function predictModel(gpu: Gpu | null, layout: MlpLayout, params: Float32Array, x: Float32Array, affine?: Float32Array): Promise<Prediction> {
  const rows = x.length / layout.features;
  const data = { x, y: new Uint32Array(rows), features: layout.features, classes: layout.classes };
  const [e] = await evaluateModels(gpu, layout, [params], data, [Uint32Array.from({ length: rows }, (_, i) => i)], affine);
  return { probabilities: softmaxRows(e.logits, layout.classes), classes: e.predictions };
}
