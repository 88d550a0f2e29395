// Every kernel other than matmul (see matmul.test.ts) against its CPU twin on a real adapter.
import { describe, expect, it } from 'vitest';
import { testGpu } from '../testing/gpu.js';
import { checkAdam, checkGather, checkL2Grad, checkMetrics, checkSoftmaxXent, checkSumSq } from './selfcheck.js';

const SIZES = [1, 3, 17, 64, 127, 129, 257];

describe('gather', () => {
  for (const models of [1, 3]) {
    it(`models ${models}: batches, padding past the end and step counters`, async () => {
      const gpu = await testGpu();
      for (const size of SIZES) {
        const r = await checkGather(gpu, models, Math.max(1, size % 20), Math.max(1, size % 9), size + 11);
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
  }
  it('a data set split over shards', async () => {
    const gpu = await testGpu();
    const r = await checkGather(gpu, 3, 16, 7, 101, 3);
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
});

describe('softmax cross-entropy', () => {
  for (const models of [1, 3]) {
    it(`models ${models}, every size, classes 2..10`, async () => {
      const gpu = await testGpu();
      for (const size of SIZES) {
        const r = await checkSoftmaxXent(gpu, models, size, 2 + (size % 9));
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
  }
  it('finite and correct for logits of ±1e4', async () => {
    const gpu = await testGpu();
    for (const size of [3, 129]) {
      const r = await checkSoftmaxXent(gpu, 3, size, 10, 1e4);
      expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
    }
  });
  it('a label ≥ classes sets the flag instead of reading out of bounds', async () => {
    const gpu = await testGpu();
    const r = await checkSoftmaxXent(gpu, 2, 17, 3, 5, true);
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
});

describe('metrics', () => {
  for (const models of [1, 3]) {
    it(`models ${models}: predictions, confusion counts, sums`, async () => {
      const gpu = await testGpu();
      for (const size of SIZES) {
        const r = await checkMetrics(gpu, models, size, 2 + (size % 9));
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
  }
});

describe('fused L2-gradient add', () => {
  for (const models of [1, 3]) {
    it(`models ${models}, 10 steps within 1e-6`, async () => {
      const gpu = await testGpu();
      for (const size of SIZES) {
        const r = await checkL2Grad(gpu, models, [size, (size * 7) % 31 + 1, 3]);
        expect(r.error, r.name).toBeLessThanOrEqual(1e-6);
      }
    });
  }
});

describe('Adam', () => {
  for (const mode of ['none', 'coupled', 'decoupled'] as const) {
    for (const models of [1, 3]) {
      it(`${mode}, models ${models}, 10 steps within 1e-6`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          const r = await checkAdam(gpu, models, [size, (size * 5) % 29 + 1, 4], mode);
          expect(r.error, r.name).toBeLessThanOrEqual(1e-6);
        }
      });
    }
  }
});

describe('sum of squares per tensor', () => {
  for (const models of [1, 3]) {
    it(`models ${models}`, async () => {
      const gpu = await testGpu();
      for (const size of SIZES) {
        const r = await checkSumSq(gpu, models, [size, 257, 3]);
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
  }
});
