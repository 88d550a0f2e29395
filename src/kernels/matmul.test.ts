import { describe, expect, it } from 'vitest';
import { testGpu } from '../testing/gpu.js';
import { checkDenseProduct, type DenseProduct } from './selfcheck-matmul.js';
import { KernelInputError } from './common.js';
import { createDenseForward, createMatmul } from './matmul.js';

const SIZES = [1, 3, 17, 64, 127, 129, 257];
const PRODUCTS: DenseProduct[] = ['forward', 'inputGrad', 'weightGrad'];

describe('matmul against the float64 CPU twin', () => {
  for (const product of PRODUCTS) {
    for (const batch of [1, 3]) {
      it(`${product}, batch ${batch}, every size`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          // Square-ish and lopsided shapes: rows, inputs and outputs differ.
          const shapes = [
            { batch, rows: size, inputs: size, outputs: size },
            { batch, rows: size, inputs: Math.max(1, (size * 3) % 67), outputs: Math.max(1, (size * 5) % 31) },
          ];
          for (const shape of shapes) {
            const r = await checkDenseProduct(gpu, product, shape, 'relu');
            expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
          }
        }
      });
    }
  }

  it('every activation, forward and input gradient', async () => {
    const gpu = await testGpu();
    for (const activation of ['identity', 'relu', 'tanh', 'sigmoid'] as const) {
      for (const product of ['forward', 'inputGrad'] as const) {
        const r = await checkDenseProduct(gpu, product, { batch: 2, rows: 33, inputs: 19, outputs: 70 }, activation);
        expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('operands at an element offset', async () => {
    const gpu = await testGpu();
    for (const product of PRODUCTS) {
      const r = await checkDenseProduct(gpu, product, { batch: 3, rows: 20, inputs: 9, outputs: 5 }, 'tanh', 7);
      expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('matmul input checks, before any dispatch', () => {
  it('names the kernel and the shapes', async () => {
    const gpu = await testGpu();
    const small = gpu.createStorage('small', 4 * 4);
    const big = gpu.createStorage('big', 4096 * 4);
    try {
      const shape = { batch: 1, rows: 4, inputs: 3, outputs: 2 };
      expect(() => createDenseForward(gpu, shape, 'relu', { x: { buffer: big }, params: { buffer: small }, y: { buffer: big } })).toThrow(
        /matmul\(bias-activation; batch 1, M 4, N 2, K 3\): 'b' needs 6 floats for batch 1 × \[3, 2\] \(offset 0, batch stride 8\), but its buffer holds 4/,
      );
      expect(() => createDenseForward(gpu, { ...shape, batch: 0 }, 'relu', { x: { buffer: big }, params: { buffer: big }, y: { buffer: big } })).toThrow(
        KernelInputError,
      );
      expect(() => createDenseForward(gpu, { ...shape, batch: 0 }, 'relu', { x: { buffer: big }, params: { buffer: big }, y: { buffer: big } })).toThrow(
        /batch must be an integer ≥ 1, got 0/,
      );
      expect(() => createMatmul(gpu, {}, { batch: 1, m: 0, n: 2, k: 2 }, { a: { buffer: big }, b: { buffer: big }, c: { buffer: big } })).toThrow(
        /M must be an integer ≥ 1, got 0/,
      );
      expect(() => createMatmul(gpu, {}, { batch: 2, m: 30, n: 30, k: 30 }, { a: { buffer: big }, b: { buffer: big }, c: { buffer: small } })).toThrow(
        /'c' needs 1800 floats for batch 2 × \[30, 30\] .* holds 4/,
      );
      expect(gpu.liveBuffers).toBeGreaterThan(0);
    } finally {
      gpu.destroyBuffer(small);
      gpu.destroyBuffer(big);
    }
  });
});
