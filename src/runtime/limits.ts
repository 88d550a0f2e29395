// Model and batch shapes a CPU adapter cannot train or evaluate: llvmpipe ends an invocation's
// loops after 65,535 iterations (see CPU_LOOP_BUDGET), which bounds the inner dimension of the
// matmuls (a layer's inputs and outputs, a batch's rows: maxMatmulK), the classes of a row of the
// loss's softmax (maxSoftmaxClasses) and the length of a tensor whose Σw² one workgroup sums
// (maxSumSqSegment). The kernels refuse such shapes when they are
// built; these checks name the option to change instead, before any GPU work.

import { denseForwardDims, denseInputGradDims, denseWeightGradDims, maxMatmulK, type DenseShape } from '../kernels/matmul.js';
import { maxSoftmaxClasses } from '../kernels/softmax-xent.js';
import { maxSumSqSegment } from '../kernels/sumsq.js';
import type { MlpLayout } from '../model/mlp.js';
import type { Gpu } from './gpu.js';

const count = (n: number) => n.toLocaleString('en-US');

/** The library's remedy for a shape a device cannot run; the CLI says it in its flags (cliMessage). */
export const CPU_TRAINER_REMEDY = "train with device: 'cpu' (the CPU reference trainer has no such limit)";

/** How the messages name the options: the library's by default; the CLI passes its flags. */
export interface LimitNames {
  /** Width l of layout.widths (0: the features, last: the classes). */
  width(layout: MlpLayout, l: number): string;
  /** The features, where a first layer's kernel is too large. */
  features: string;
  batchSize: string;
  /** The option that trains on the CPU reference trainer. */
  cpu: string;
}

const LIBRARY_NAMES: LimitNames = {
  width: (layout, l) => (l === 0 ? `data.features = ${layout.features}` : l === layout.widths.length - 1 ? `data.classes = ${layout.classes}` : `model.hidden[${l - 1}] = ${layout.widths[l]}`),
  features: 'data.features',
  batchSize: 'batchSize',
  cpu: "device: 'cpu'",
};

/**
 * Why `gpu` cannot run this model, or null. When training, `batch` gives the batchSize option
 * and the largest training set: a batch has the smaller of the two rows (train() caps it so).
 */
export function cpuAdapterProblem(gpu: Gpu, layout: MlpLayout, batch?: { asked: number; largestSet: number }, names: LimitNames = LIBRARY_NAMES): string | null {
  const maxK = maxMatmulK(gpu);
  const cpuTrains = CPU_TRAINER_REMEDY.replace("device: 'cpu'", names.cpu);
  const remedy = `or ${cpuTrains}`;
  const on = `${gpu.name}, which ends an invocation's loops after 65,535 iterations`;
  // The inner dimension K of each layer's products, as the kernels take them (dense*Dims): the
  // forward product (also evaluation's) sums over the layer's inputs; when training, the input
  // gradient of each layer above the first over its outputs, the weight gradient over the rows.
  const rows = batch ? Math.min(batch.asked, batch.largestSet) : 1;
  const shapes: DenseShape[] = layout.layers.map(({ inputs, outputs }) => ({ batch: 1, rows, inputs, outputs }));
  const tooWide = (width: number, role: string) =>
    `${names.width(layout, width)}: ${role} are the inner dimension of a matrix product, at most ${count(maxK)} on ${on}; it must be at most ${count(maxK)} here, ${remedy}`;
  for (const [l, s] of shapes.entries()) if (denseForwardDims(s).k > maxK) return tooWide(l, `the inputs of layer ${l}`);
  if (!batch) return null;
  // Training only: the loss's softmax over each row of classes (before the input gradients,
  // whose limit on the classes is the larger where both apply).
  const maxClasses = maxSoftmaxClasses(gpu);
  if (layout.classes > maxClasses) {
    return `${names.width(layout, layout.widths.length - 1)}: the loss's softmax takes rows of at most ${count(maxClasses)} classes on ${on}; ${cpuTrains}`;
  }
  for (const [l, s] of shapes.entries()) if (l >= 1 && denseInputGradDims(s).k > maxK) return tooWide(l + 1, `the outputs of layer ${l}`);
  if (shapes.some((s) => denseWeightGradDims(s).k > maxK)) {
    const capped = rows === batch.asked ? '' : ` (capped to the ${count(batch.largestSet)} rows of the largest training set)`;
    return `${names.batchSize} ${batch.asked}${capped}: the weight gradients sum over a batch's rows, at most ${count(maxK)} on ${on}; use ${names.batchSize} ≤ ${maxK}, ${remedy}`;
  }
  // Training only: the epochs' weight norms.
  const maxTensor = maxSumSqSegment(gpu);
  for (let l = 0; l < layout.layers.length; l++) {
    const { inputs, outputs } = layout.layers[l];
    if (inputs * outputs > maxTensor) {
      const from = l === 0 ? `${count(inputs)} inputs (${names.features})` : `${count(inputs)} inputs`;
      return `${names.width(layout, l + 1)} with ${from}: a kernel of ${count(inputs * outputs)} weights, more than the ${count(maxTensor)} whose Σw² one workgroup sums on ${on}; use a narrower layer, ${remedy}`;
    }
  }
  return null;
}
