// Checks of the matmul kernel against its CPU twin (float64), shared by the Node tests, the
// browser self-check page and the demo: fresh random inputs, outputs poisoned with NaN.

import type { Gpu } from '../runtime/gpu.js';
import { poisoned, randomFloats, relativeError } from '../testing/random.js';
import { encodeCall } from './common.js';
import {
  activate,
  createDenseForward,
  createDenseInputGrad,
  createDenseWeightGrad,
  denseForwardCpu,
  denseInputGradCpu,
  denseWeightGradCpu,
  type Activation,
  type DenseShape,
} from './matmul.js';

/** One kernel's check against its CPU twin (runSelfCheck). */
export interface CheckResult {
  /** The kernel and its shape, e.g. `sumsq models 3, layers 17-33-5`. */
  name: string;
  /** ‖gpu − ref‖ / ‖ref‖ or the check's own error measure. */
  error: number;
  /** The largest error that passes. */
  limit: number;
  /** error ≤ limit. */
  ok: boolean;
}

export type DenseProduct = 'forward' | 'inputGrad' | 'weightGrad';

/** Runs one dense-layer product on the GPU and on the CPU twin; `pad` offsets every operand. */
export async function checkDenseProduct(
  gpu: Gpu,
  product: DenseProduct,
  shape: DenseShape,
  activation: Activation = 'relu',
  pad = 0,
): Promise<CheckResult> {
  const { batch, rows, inputs, outputs } = shape;
  const blockSize = (inputs + 1) * outputs;
  const params = randomFloats(batch * blockSize);
  const buffers: GPUBuffer[] = [];
  const upload = (label: string, data: Float32Array) => {
    const padded = new Float32Array(pad + data.length);
    padded.set(data, pad);
    const b = gpu.createStorage(label, padded);
    buffers.push(b);
    return { buffer: b, offset: pad };
  };
  let ref: Float64Array;
  let out: { buffer: GPUBuffer; offset: number };
  let call;
  try {
    if (product === 'forward') {
      const x = randomFloats(batch * rows * inputs);
      ref = new Float64Array(batch * rows * outputs);
      denseForwardCpu(shape, activation, x, params, ref);
      out = upload('y', poisoned(batch * rows * outputs));
      call = createDenseForward(gpu, shape, activation, { x: upload('x', x), params: upload('params', params), y: out });
    } else if (product === 'inputGrad') {
      const dz = randomFloats(batch * rows * outputs);
      // An activation output as the layer below would produce it (relu zeros included).
      const input = randomFloats(batch * rows * inputs, -2, 2).map((v) => activate(activation, v));
      ref = new Float64Array(batch * rows * inputs);
      denseInputGradCpu(shape, activation, dz, params, input, ref);
      out = upload('dx', poisoned(batch * rows * inputs));
      call = createDenseInputGrad(gpu, shape, activation, {
        dz: upload('dz', dz),
        params: upload('params', params),
        input: upload('input', input),
        dx: out,
      });
    } else {
      const x = randomFloats(batch * rows * inputs);
      const dz = randomFloats(batch * rows * outputs);
      ref = new Float64Array(batch * blockSize);
      denseWeightGradCpu(shape, x, dz, ref);
      out = upload('grad', poisoned(batch * blockSize));
      call = createDenseWeightGrad(gpu, shape, { x: upload('x', x), dz: upload('dz', dz), grad: out });
    }
    gpu.submit('check matmul', (pass) => encodeCall(pass, call!));
    const got = await gpu.readFloat32(out.buffer, out.offset, ref.length);
    const error = relativeError(got, ref);
    const limit = 1e-5;
    return { name: `${product} ${activation} ${JSON.stringify(shape)}${pad ? ` offset ${pad}` : ''}`, error, limit, ok: error <= limit };
  } finally {
    call?.destroy();
    for (const b of buffers) gpu.destroyBuffer(b);
  }
}
