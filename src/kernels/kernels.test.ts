// Every kernel other than matmul (see matmul.test.ts) against its CPU twin on a real adapter.
import { describe, expect, it } from 'vitest';
import { testGpu } from '../testing/gpu.js';
import { adamRun } from './adam.js';
import { isCpuAdapter } from './common.js';
import { checkAdam, checkGather, checkL2Grad, checkMetrics, checkSoftmaxXent, checkSumSq } from './selfcheck.js';

const SIZES = [1, 3, 17, 64, 127, 129, 257];

describe('gather', () => {
  // A row per invocation (CPU adapters) or a feature, or vec4 of features, per invocation (GPUs).
  for (const rowLoop of [false, true]) {
    const how = rowLoop ? 'rows' : 'features';
    for (const models of [1, 3]) {
      it(`${how}: models ${models}: batches, padding past the end and step counters`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          const r = await checkGather(gpu, models, Math.max(1, size % 20), Math.max(1, size % 9), size + 11, 1, rowLoop);
          expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
        }
      });
    }
    it(`${how}: rows copied as they are when no model standardizes (no affine buffer)`, async () => {
      const gpu = await testGpu();
      for (const [models, features] of [[1, 784], [3, 7], [30, 4]]) {
        const r = await checkGather(gpu, models, 13, features, 61, features === 7 ? 2 : 1, rowLoop, false);
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
    it(`${how}: a data set split over shards`, async () => {
      const gpu = await testGpu();
      for (const features of [7, 8]) {
        const r = await checkGather(gpu, 3, 16, features, 101, 3, rowLoop);
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
    it(`${how}: many small models share workgroups, past one dispatch dimension's 65,535`, async () => {
      const gpu = await testGpu();
      // 30 models of 16 rows × 4 features (one vec4 each): workgroups of 64 straddling models.
      const small = await checkGather(gpu, 30, 16, 4, 150, 1, rowLoop);
      expect(small.error, small.name).toBeLessThanOrEqual(small.limit);
      // More than 65,535 workgroups of 64, over x and y: 16,500 models × 255 features (not a
      // whole number of vec4) a feature per invocation; 1.05M models of 4 rows a row per invocation.
      const wide = rowLoop ? await checkGather(gpu, 1_050_000, 4, 1, 2, 1, true) : await checkGather(gpu, 16_500, 1, 255, 2, 1, false);
      expect(wide.error, wide.name).toBeLessThanOrEqual(wide.limit);
    });
  }
});

describe('softmax cross-entropy', () => {
  // rows: a workgroup reduces its rows' sums (GPUs); lanes: each invocation adds its own with
  // atomics, invocations over every model's rows (CPU adapters).
  for (const layout of ['rows', 'lanes'] as const) {
    for (const models of [1, 3]) {
      it(`${layout}: models ${models}, every size, classes 2..10`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          const r = await checkSoftmaxXent(gpu, models, size, 2 + (size % 9), { layout });
          expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
        }
      });
    }
    it(`${layout}: finite and correct for logits of ±1e4`, async () => {
      const gpu = await testGpu();
      for (const size of [3, 129]) {
        const r = await checkSoftmaxXent(gpu, 3, size, 10, { scale: 1e4, layout });
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
    it(`${layout}: more classes than fit in registers (read in three passes)`, async () => {
      const gpu = await testGpu();
      for (const [rows, classes] of [[17, 33], [129, 100], [5, 1000]]) {
        const r = await checkSoftmaxXent(gpu, 3, rows, classes, { layout });
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    });
    it(`${layout}: several rows per invocation, the last workgroup partly past the rows`, async () => {
      const gpu = await testGpu();
      // rows: 64 invocations per workgroup, so 200 rows at 3 per invocation are one full
      // workgroup of 192 and 8 rows of a second. lanes: 8 invocations per workgroup over 3 models'
      // chunks (67, 40, 200 and 34 chunks per model). Both leave partial chunks and workgroups.
      for (const [per, classes] of [[3, 10], [5, 40], [1, 7], [6, 2]]) {
        const r = await checkSoftmaxXent(gpu, 3, 200, classes, { rowsPerInvocation: per, layout });
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
      const bad = await checkSoftmaxXent(gpu, 2, 130, 12, { rowsPerInvocation: 4, badLabel: true, layout });
      expect(bad.error, bad.name).toBeLessThanOrEqual(bad.limit);
    });
  }
  it("keeps each invocation under llvmpipe's 65,535 loop iterations", async () => {
    const gpu = await testGpu();
    // 4096 rows of 1000 classes: the lanes layout would give each invocation 64 rows (192,000
    // iterations) and on a CPU adapter gets 20 (60,000); 32 would come back partly unwritten
    // there, so it is refused.
    for (const layout of ['rows', 'lanes'] as const) {
      const r = await checkSoftmaxXent(gpu, 1, 4096, 1000, { layout });
      expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
    }
    if (isCpuAdapter(gpu)) {
      await expect(checkSoftmaxXent(gpu, 1, 1024, 1000, { rowsPerInvocation: 32 })).rejects.toThrow(/rowsPerInvocation 32 is more than 20, the most rows of 1000 classes one invocation can take on llvmpipe/);
      await expect(checkSoftmaxXent(gpu, 1, 2, 20_001)).rejects.toThrow(/rows of more than 20000 classes are not supported on llvmpipe/);
    }
  });
  it('lanes: more invocations than one dispatch dimension holds (workgroups over x and y)', async () => {
    const gpu = await testGpu();
    // 600,000 models of one row: 75,000 workgroups of 8.
    const r = await checkSoftmaxXent(gpu, 600_000, 1, 2, { layout: 'lanes' });
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
  it("a confident row's label gradient keeps its digits (no p − 1 cancellation)", async () => {
    const gpu = await testGpu();
    // One row per model, label far ahead: dlogits are all tiny, and the check is relative to them.
    for (const layout of ['rows', 'lanes'] as const) {
      for (const classes of [3, 10, 40]) {
        for (let repeat = 0; repeat < 5; repeat++) {
          const r = await checkSoftmaxXent(gpu, 3, 1, classes, { layout, confident: true });
          expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
        }
      }
    }
  });
  it('lanes: many models of a few rows share workgroups', async () => {
    const gpu = await testGpu();
    const r = await checkSoftmaxXent(gpu, 30, 16, 3, { layout: 'lanes' });
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
  it("layout 'subgroups' (one subgroup per row) where the device has subgroups, else a clear error", async () => {
    const gpu = await testGpu();
    if (gpu.hasSubgroups) {
      for (const [rows, classes] of [[200, 40], [37, 3], [65, 1000]]) {
        const r = await checkSoftmaxXent(gpu, 3, rows, classes, { layout: 'subgroups' });
        expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
      }
    } else {
      // llvmpipe through OpenGL ES has none; the browser test runs this layout on SwiftShader.
      await expect(checkSoftmaxXent(gpu, 1, 8, 40, { layout: 'subgroups' })).rejects.toThrow(/layout 'subgroups' needs the subgroups feature, which llvmpipe.* does not have/);
    }
  });
  it('a label ≥ classes sets the flag instead of reading out of bounds', async () => {
    const gpu = await testGpu();
    const r = await checkSoftmaxXent(gpu, 2, 17, 3, { badLabel: true });
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
});

describe('metrics', () => {
  // A workgroup reduces its rows' sums (GPUs), or each invocation adds its own (CPU adapters).
  for (const lanes of [false, true]) {
    for (const models of [1, 3]) {
      it(`${lanes ? 'lanes' : 'workgroups'}: models ${models}: predictions, confusion counts, sums`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          const r = await checkMetrics(gpu, models, size, 2 + (size % 9), 5, lanes);
          expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
        }
      });
    }
  }
  it('lanes: 30 models; 4000 rows of 1000 classes, at most 30 rows per invocation (the loop limit)', async () => {
    const gpu = await testGpu();
    for (const [models, rows, classes] of [[30, 15, 3], [1, 4000, 1000]]) {
      const r = await checkMetrics(gpu, models, rows, classes, 5, true);
      expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
    }
  });
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
  // One vec4 per invocation (GPUs) and runs of consecutive vec4 (CPU adapters: 4), which look
  // up once when the run stays inside one tensor of one model and per vec4 when it does not.
  for (const run of [1, 3, 4]) {
    for (const mode of ['none', 'coupled', 'decoupled'] as const) {
      for (const models of [1, 3]) {
        it(`${mode}, models ${models}, runs of ${run} vec4, 10 steps within 1e-6`, async () => {
          const gpu = await testGpu();
          for (const size of SIZES) {
            const r = await checkAdam(gpu, models, [size, (size * 5) % 29 + 1, 4], mode, 10, run);
            expect(r.error, r.name).toBeLessThanOrEqual(1e-6);
          }
        });
      }
    }
    it(`runs of ${run} vec4: models smaller than a vec4, one-parameter tensors, vec4s across model boundaries`, async () => {
      const gpu = await testGpu();
      const shapes = [
        { perModel: 1, starts: [0] },
        { perModel: 2, starts: [0, 1] },
        { perModel: 3, starts: [0, 2] },
        { perModel: 5, starts: [0, 1, 4] },
        { perModel: 7, starts: [0, 3, 4, 5] },
        // Tensors longer than a run, with boundaries inside runs and between them.
        { perModel: 61, starts: [0, 16, 17, 45] },
      ];
      for (const mode of ['none', 'coupled', 'decoupled'] as const) {
        for (const segments of shapes) {
          // At least 4 parameters in all: the error is a norm-wise relative one, and a single
          // random m or v can sit near zero.
          for (const models of [4, 7, 13]) {
            const r = await checkAdam(gpu, models, segments, mode, 10, run);
            expect(r.error, r.name).toBeLessThanOrEqual(1e-6);
          }
        }
      }
    });
  }
  it('the default run is 4 vec4 on CPU adapters and 1 on GPUs', async () => {
    const gpu = await testGpu();
    expect(adamRun(gpu)).toBe(isCpuAdapter(gpu) ? 4 : 1);
  });
});

describe('sum of squares per tensor', () => {
  // A workgroup per (tensor, model) (GPUs), or an invocation per pair (CPU adapters).
  for (const lanes of [false, true]) {
    for (const models of [1, 3]) {
      it(`${lanes ? 'lanes' : 'workgroups'}: models ${models}`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          const r = await checkSumSq(gpu, models, [size, 129, 3], { lanes });
          expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
        }
      });
    }
  }
  it('lanes: 30 models of 4 small tensors share two workgroups', async () => {
    const gpu = await testGpu();
    const r = await checkSumSq(gpu, 30, [4, 10, 3], { lanes: true });
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
  it('lanes: more pairs than one dispatch dimension holds (workgroups over x and y)', async () => {
    const gpu = await testGpu();
    // 300,000 models of a 1→1 layer: 600,000 (tensor, model) pairs, 75,000 workgroups of 8.
    const r = await checkSumSq(gpu, 300_000, [1, 1], { lanes: true });
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
  });
  it("a tensor longer than llvmpipe's loop limit allows per invocation gets workgroups there", async () => {
    const gpu = await testGpu();
    // 784×256: 200,704 weights, more than one invocation may loop over on llvmpipe.
    const r = await checkSumSq(gpu, 1, [784, 256, 3]);
    expect(r.error, r.name).toBeLessThanOrEqual(r.limit);
    if (isCpuAdapter(gpu)) {
      await expect(checkSumSq(gpu, 1, [784, 256, 3], { lanes: true })).rejects.toThrow(/a tensor of 200704 parameters needs 200704 loop iterations per invocation with lanes, more than llvmpipe.* runs \(65,535\)/);
    }
  });
});

describe('input checks of every kernel, before any dispatch', () => {
  it('name the kernel, the field and the shapes', async () => {
    const { createAdam } = await import('./adam.js');
    const { createSoftmaxXent } = await import('./softmax-xent.js');
    const { createMetrics } = await import('./metrics.js');
    const { createGather } = await import('./gather.js');
    const { createL2Grad } = await import('./l2-grad.js');
    const { createSumSq } = await import('./sumsq.js');
    const { KernelInputError } = await import('./common.js');
    const gpu = await testGpu();
    const small = gpu.createStorage('small', 16);
    const big = gpu.createStorage('big', 1 << 16);
    const segments = { perModel: 53, starts: [0, 40, 50] };
    const hyper = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    const stats = { buffer: big, recordWords: 8, field: 0, slots: 1 };
    try {
      const cases: [() => unknown, RegExp][] = [
        [() => createAdam(gpu, { models: 3, segments, mode: 'coupled', hyper, slots: 1, weights: small, grads: big, m: big, v: big, coef: big, counters: big }), /adam\(coupled; models 3, parameters 53\): 'weights' needs 160 elements for \[3, 53\] padded to a multiple of 4, but its buffer holds 4/],
        [() => createAdam(gpu, { models: 0, segments, mode: 'coupled', hyper, slots: 1, weights: big, grads: big, m: big, v: big, coef: big, counters: big }), /adam\(coupled; models 0, parameters 53\): models must be an integer ≥ 1, got 0/],
        [() => createAdam(gpu, { models: 2 ** 22 + 1, segments, mode: 'coupled', hyper, slots: 1, weights: big, grads: big, m: big, v: big, coef: big, counters: big }), /at most 4194304 models are supported, got 4194305/],
        [() => createAdam(gpu, { models: 1, segments, mode: 'coupled', hyper: { ...hyper, lr: -1 }, slots: 1, weights: big, grads: big, m: big, v: big, coef: big, counters: big }), /lr must be a finite number > 0, got -1/],
        [() => createAdam(gpu, { models: 1, segments, mode: 'coupled', hyper, slots: 1, weights: big, grads: big, m: big, v: big, coef: big, counters: big, run: 0 }), /adam\(coupled; models 1, parameters 53\): run must be an integer ≥ 1, got 0/],
        [() => createL2Grad(gpu, { models: 1, segments: { perModel: 10, starts: [0, 12] }, slots: 1, weights: big, grads: big, coef: big }), /l2_grad\(models 1, parameters 10, segments 2\): segments.starts must be ascending integers below perModel 10; got 0, 12/],
        [() => createSoftmaxXent(gpu, { models: 2, rows: 16, classes: 1, logits: big, labels: big, counters: big, dlogits: big, stats }), /softmax_xent\(models 2, rows 16, classes 1\): classes must be an integer ≥ 2, got 1/],
        [() => createSoftmaxXent(gpu, { models: 2, rows: 16, classes: 3, logits: big, labels: small, counters: big, dlogits: big, stats }), /softmax_xent\(models 2, rows 16, classes 3\): 'labels' needs 32 elements for \[2, 16\], but its buffer holds 4/],
        [() => createMetrics(gpu, { models: 1, rows: 0, classes: 3, logits: big, labels: big, counters: big, predictions: big, stats }), /metrics\(models 1, rows 0, classes 3\): rows must be an integer ≥ 1, got 0/],
        [() => createSumSq(gpu, { models: 2, segments, weights: big, stats: { ...stats, recordWords: 2 } }), /sumsq\(models 2, parameters 53, segments 3\): stats.recordWords .* must be an integer ≥ 3, got 2/],
        [() => createGather(gpu, { models: 1, batchRows: 4, features: 3, dataRows: 10, indexStride: 10, slots: 1, steps: 3, countSteps: true, x: [{ buffer: small, firstRow: 0, rows: 10 }], y: big, perm: big, affine: big, counters: big, xb: big, yb: big, stepTable: big }), /gather\(models 1, batch rows 4, features 3\): 'x\[0\]' needs 30 elements for \[10, 3\], but its buffer holds 4/],
      ];
      for (const [make, message] of cases) {
        expect(make).toThrow(KernelInputError);
        expect(make).toThrow(message);
      }
    } finally {
      gpu.destroyBuffer(small);
      gpu.destroyBuffer(big);
    }
  });
});
