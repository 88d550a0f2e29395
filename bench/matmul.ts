// matmul throughput on the chosen adapter: GFLOP/s of altreg's kernel for square sizes and the
// products of an MLP training step. Peers (TF.js, jax-js) join these rows in the benchmark issue.

import { encodeCall } from '../src/kernels/common.js';
import { createMatmul, type MatmulVariant } from '../src/kernels/matmul.js';
import type { Gpu } from '../src/runtime/gpu.js';
import { calibrate, timeGpu } from './timing.js';

export interface MatmulCase {
  name: string;
  m: number;
  n: number;
  k: number;
  variant: MatmulVariant;
}

export function squareCases(sizes: number[]): MatmulCase[] {
  return sizes.map((s) => ({ name: `${s}×${s}·${s}×${s}`, m: s, n: s, k: s, variant: {} }));
}

/** Seconds per product for one case (buffers created and freed here, not timed). */
export async function timeAltregMatmul(gpu: Gpu, c: MatmulCase): Promise<number> {
  const aSize = c.m * c.k;
  const bSize = c.k * c.n;
  const a = gpu.createStorage('bench a', new Float32Array(aSize).map(() => Math.random() - 0.5));
  const b = gpu.createStorage('bench b', new Float32Array(bSize).map(() => Math.random() - 0.5));
  const out = gpu.createStorage('bench c', c.m * c.n * 4);
  const call = createMatmul(gpu, c.variant, { batch: 1, m: c.m, n: c.n, k: c.k }, { a: { buffer: a }, b: { buffer: b }, c: { buffer: out } });
  try {
    const encode = (pass: GPUComputePassEncoder) => encodeCall(pass, call);
    const repeats = await calibrate(gpu, encode);
    return await timeGpu(gpu, encode, repeats);
  } finally {
    call.destroy();
    for (const buf of [a, b, out]) gpu.destroyBuffer(buf);
  }
}

export function gflops(c: { m: number; n: number; k: number }, seconds: number): number {
  return (2 * c.m * c.n * c.k) / seconds / 1e9;
}
