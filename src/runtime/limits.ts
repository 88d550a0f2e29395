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

/** What width l of layout.widths is, as an option: `data.features = 5000`, `model.hidden[0] = 64`. */
function widthName(layout: MlpLayout, l: number): string {
  if (l === 0) return `data.features = ${layout.features}`;
  if (l === layout.widths.length - 1) return `data.classes = ${layout.classes}`;
  return `model.hidden[${l - 1}] = ${layout.widths[l]}`;
}

const REMEDY = "or train with device: 'cpu' (the CPU reference trainer has no such limit)";

/**
 * Why `gpu` cannot run this model (with batches of `batch.rows` rows, when training), or null.
 * `batch.asked` is the batchSize option, which the rows may be capped from.
 */
export function cpuAdapterProblem(gpu: Gpu, layout: MlpLayout, batch?: { rows: number; asked: number; largestSet: number }): string | null {
  const maxK = maxMatmulK(gpu);
  const on = `${gpu.name}, which ends an invocation's loops after 65,535 iterations`;
  // A layer's product sums over its inputs (forward, evaluation) and, when training, the input
  // gradient of each layer above the first over that layer's outputs.
  const widths = layout.widths;
  for (let l = 0; l < widths.length; l++) {
    const asInputs = l < widths.length - 1;
    const asOutputs = batch !== undefined && l >= 2;
    if ((asInputs || asOutputs) && widths[l] > maxK) {
      const role = asInputs ? `the inputs of layer ${l}` : `the outputs of layer ${l - 1}`;
      return `${widthName(layout, l)}: ${role} are the inner dimension of a matrix product, at most ${count(maxK)} on ${on}; it must be at most ${count(maxK)} here, ${REMEDY}`;
    }
  }
  if (batch && batch.rows > maxK) {
    const capped = batch.rows === batch.asked ? '' : ` (capped to the ${count(batch.largestSet)} rows of the largest training set)`;
    return `batchSize ${batch.asked}${capped}: the weight gradients sum over a batch's rows, at most ${count(maxK)} on ${on}; use batchSize ≤ ${maxK}, ${REMEDY}`;
  }
  // Training only: the epochs' weight norms.
  const maxTensor = batch ? maxSumSqSegment(gpu) : Number.POSITIVE_INFINITY;
  for (let l = 0; l < layout.layers.length; l++) {
    const { inputs, outputs } = layout.layers[l];
    if (inputs * outputs > maxTensor) {
      const from = l === 0 ? `${count(inputs)} inputs (data.features)` : `${count(inputs)} inputs`;
      return `${widthName(layout, l + 1)} with ${from}: a kernel of ${count(inputs * outputs)} weights, more than the ${count(maxTensor)} whose Σw² one workgroup sums on ${on}; use a narrower layer, ${REMEDY}`;
    }
  }
  return null;
}
