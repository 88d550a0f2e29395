// The matmul rows: square products and the three products of an MLP training step
// (128×784 → 256), each as altreg's kernel and as the equivalent TF.js / jax-js op on the same
// device. Throughput counts 2·M·N·K flops of the plain product for every contender, so the
// ratio of two GFLOP/s figures is the inverse ratio of their times. Browser-safe: the
// benchmark page (web/bench.ts) uses squareCases, timeAltregMatmul and gflops.

import { checkSampled, encodeCall, type KernelCall } from '../src/kernels/common.js';
import {
  createDenseForward,
  createDenseInputGrad,
  createDenseWeightGrad,
  createMatmul,
  strategyTiles,
  type MatmulStrategy,
  type MatmulTiles,
} from '../src/kernels/matmul.js';
import type { Gpu } from '../src/runtime/gpu.js';
import { gpuContender, measureInterleaved, randomData, type Contender } from './timing.js';

/**
 * `square`: C = A·B. The MLP products of a dense layer with `rows` inputs of width `inputs`
 * and `outputs` units: `forward` y = relu(x·W + b) [m = rows, n = outputs, k = inputs];
 * `inputGrad` dx = dz·Wᵀ (altreg fuses relu'(x)) [m = rows, n = inputs, k = outputs];
 * `weightGrad` dW = xᵀ·dz (altreg adds the bias gradient row) [m = inputs, n = outputs, k = rows].
 */
export type MatmulKind = 'square' | 'forward' | 'inputGrad' | 'weightGrad';

export interface MatmulCase {
  kind: MatmulKind;
  /** Row label, e.g. `square 1024` or `dW (128×784)ᵀ · 128×256`. */
  name: string;
  m: number;
  n: number;
  k: number;
}

export function squareCases(sizes: number[]): MatmulCase[] {
  return sizes.map((s) => ({ kind: 'square', name: `square ${s}`, m: s, n: s, k: s }));
}

/** The MLP step's products for a batch of `rows` through `inputs → outputs`. */
export function mlpCases(rows = 128, inputs = 784, outputs = 256): MatmulCase[] {
  return [
    { kind: 'forward', name: `forward ${rows}×${inputs} · ${inputs}×${outputs} (+bias, relu)`, m: rows, n: outputs, k: inputs },
    { kind: 'inputGrad', name: `dX ${rows}×${outputs} · (${inputs}×${outputs})ᵀ`, m: rows, n: inputs, k: outputs },
    { kind: 'weightGrad', name: `dW (${rows}×${inputs})ᵀ · ${rows}×${outputs}`, m: inputs, n: outputs, k: rows },
  ];
}

/** Dense-layer shape of an MLP case (its `rows`, `inputs`, `outputs`). */
export function denseShape(c: MatmulCase): { rows: number; inputs: number; outputs: number } {
  if (c.kind === 'forward') return { rows: c.m, inputs: c.k, outputs: c.n };
  if (c.kind === 'inputGrad') return { rows: c.m, inputs: c.n, outputs: c.k };
  return { rows: c.k, inputs: c.m, outputs: c.n };
}

/**
 * altreg's kernel for a case, named `name`. `strategy` forces one (e.g. the tiled strategy with
 * given tiles); by default createMatmul picks matmulStrategy(gpu), as the trainer does.
 */
export function altregMatmul(gpu: Gpu, c: MatmulCase, strategy?: MatmulStrategy, name = 'altreg'): Contender {
  const tiles: MatmulTiles | undefined = strategy ? strategyTiles(strategy, { batch: 1, m: c.m, n: c.n, k: c.k }) : undefined;
  const buffers: GPUBuffer[] = [];
  const host = new Map<GPUBuffer, Float32Array>();
  const storage = (label: string, elements: number) => {
    const data = randomData(elements);
    const b = gpu.createStorage(label, data);
    buffers.push(b);
    host.set(b, data);
    return { buffer: b };
  };
  const data = (o: { buffer: GPUBuffer }) => host.get(o.buffer)!;
  // The output operand, and its float64 reference per entry (value and the magnitudes summed).
  let call: KernelCall;
  let out: { buffer: GPUBuffer };
  let ref: (e: number) => { value: number; scale: number };
  const dot = (n: number, term: (t: number) => number) => {
    let value = 0;
    let scale = 0;
    for (let t = 0; t < n; t++) {
      const p = term(t);
      value += p;
      scale += Math.abs(p);
    }
    return { value, scale };
  };
  if (c.kind === 'square') {
    const [a, b] = [storage('a', c.m * c.k), storage('b', c.k * c.n)];
    out = storage('c', c.m * c.n);
    call = createMatmul(gpu, {}, { batch: 1, m: c.m, n: c.n, k: c.k }, { a, b, c: out }, tiles);
    const [A, B] = [data(a), data(b)];
    ref = (e) => dot(c.k, (t) => A[Math.floor(e / c.n) * c.k + t] * B[t * c.n + (e % c.n)]);
  } else {
    const s = { batch: 1, ...denseShape(c) };
    const params = storage('params', (s.inputs + 1) * s.outputs);
    const W = data(params);
    if (c.kind === 'forward') {
      const x = storage('x', s.rows * s.inputs);
      out = storage('y', s.rows * s.outputs);
      call = createDenseForward(gpu, s, 'relu', { x, params, y: out }, tiles);
      const X = data(x);
      ref = (e) => {
        const [i, j] = [Math.floor(e / s.outputs), e % s.outputs];
        const r = dot(s.inputs + 1, (t) => (t < s.inputs ? X[i * s.inputs + t] * W[t * s.outputs + j] : W[s.inputs * s.outputs + j]));
        return { value: Math.max(0, r.value), scale: r.scale };
      };
    } else if (c.kind === 'inputGrad') {
      const [dz, input] = [storage('dz', s.rows * s.outputs), storage('input', s.rows * s.inputs)];
      out = storage('dx', s.rows * s.inputs);
      call = createDenseInputGrad(gpu, s, 'relu', { dz, params, input, dx: out }, tiles);
      const [DZ, IN] = [data(dz), data(input)];
      ref = (e) => {
        const [i, j] = [Math.floor(e / s.inputs), e % s.inputs];
        const r = dot(s.outputs, (t) => DZ[i * s.outputs + t] * W[j * s.outputs + t]);
        return { value: IN[e] > 0 ? r.value : 0, scale: r.scale };
      };
    } else {
      const [x, dz] = [storage('x', s.rows * s.inputs), storage('dz', s.rows * s.outputs)];
      out = params;
      call = createDenseWeightGrad(gpu, s, { x, dz, grad: params }, tiles);
      const [X, DZ] = [data(x), data(dz)];
      ref = (e) => {
        const [i, j] = [Math.floor(e / s.outputs), e % s.outputs];
        return dot(s.rows, (r) => (i < s.inputs ? X[r * s.inputs + i] : 1) * DZ[r * s.outputs + j]);
      };
    }
  }
  const output = out;
  return gpuContender(
    gpu,
    name,
    (pass) => encodeCall(pass, call),
    () => {
      call.destroy();
      for (const b of buffers) gpu.destroyBuffer(b);
    },
    async () => checkSampled(await gpu.readFloat32(output.buffer, 0, data(output).length), ref, c.name),
  );
}

/**
 * Seconds per product of altreg's kernel for one case, median of 5 runs (the benchmark page):
 * wall clock, and by GPU timestamps where the device has them.
 */
export async function timeAltregMatmul(gpu: Gpu, c: MatmulCase): Promise<{ seconds: number; gpuSeconds?: number }> {
  const contender = altregMatmul(gpu, c);
  try {
    const [r] = await measureInterleaved([contender], { runs: 5, targetSeconds: 0.2, maxReps: 1000 });
    if (r.error) throw new Error(r.error);
    return { seconds: r.seconds, ...(r.gpuSeconds !== undefined ? { gpuSeconds: r.gpuSeconds } : {}) };
  } finally {
    contender.dispose();
  }
}

export function gflops(c: { m: number; n: number; k: number }, seconds: number): number {
  return (2 * c.m * c.n * c.k) / seconds / 1e9;
}
