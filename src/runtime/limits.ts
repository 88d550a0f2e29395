// Model and batch shapes a CPU adapter cannot train or evaluate: llvmpipe ends an invocation's
// loops after 65,535 iterations (see CPU_LOOP_BUDGET), which bounds the inner dimension of the
// matmuls (a layer's inputs and outputs, a batch's rows: maxMatmulK) and the length of a tensor
// whose Σw² one workgroup sums (maxSumSqSegment). The kernels refuse such shapes when they are
// built; these checks name the option to change instead, before any GPU work.

import { maxMatmulK } from '../kernels/matmul.js';
import { maxSumSqSegment } from '../kernels/sumsq.js';
import type { MlpLayout } from '../model/mlp.js';
import type { Gpu } from './gpu.js';

const count = (n: number) => n.toLocaleString('en-US');

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
  const remedy = `or train with ${names.cpu} (the CPU reference trainer has no such limit)`;
  const on = `${gpu.name}, which ends an invocation's loops after 65,535 iterations`;
  // A layer's product sums over its inputs (forward, evaluation) and, when training, the input
  // gradient of each layer above the first over that layer's outputs.
  const widths = layout.widths;
  for (let l = 0; l < widths.length; l++) {
    const asInputs = l < widths.length - 1;
    const asOutputs = batch !== undefined && l >= 2;
    if ((asInputs || asOutputs) && widths[l] > maxK) {
      const role = asInputs ? `the inputs of layer ${l}` : `the outputs of layer ${l - 1}`;
      return `${names.width(layout, l)}: ${role} are the inner dimension of a matrix product, at most ${count(maxK)} on ${on}; it must be at most ${count(maxK)} here, ${remedy}`;
    }
  }
  const rows = batch ? Math.min(batch.asked, batch.largestSet) : 0;
  if (batch && rows > maxK) {
    const capped = rows === batch.asked ? '' : ` (capped to the ${count(batch.largestSet)} rows of the largest training set)`;
    return `${names.batchSize} ${batch.asked}${capped}: the weight gradients sum over a batch's rows, at most ${count(maxK)} on ${on}; use ${names.batchSize} ≤ ${maxK}, ${remedy}`;
  }
  // Training only: the epochs' weight norms.
  const maxTensor = batch ? maxSumSqSegment(gpu) : Number.POSITIVE_INFINITY;
  for (let l = 0; l < layout.layers.length; l++) {
    const { inputs, outputs } = layout.layers[l];
    if (inputs * outputs > maxTensor) {
      const from = l === 0 ? `${count(inputs)} inputs (${names.features})` : `${count(inputs)} inputs`;
      return `${names.width(layout, l + 1)} with ${from}: a kernel of ${count(inputs * outputs)} weights, more than the ${count(maxTensor)} whose Σw² one workgroup sums on ${on}; use a narrower layer, ${remedy}`;
    }
  }
  return null;
}
