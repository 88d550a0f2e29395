// The kernels compute in float32; their CPU twins must overflow (and round) where the shaders do,
// or the GPU and CPU trainers part ways at extreme magnitudes (λ ≳ 1e19, weights past 1.8e19).
// Each check runs the GPU kernel and its twin on the same inputs at magnitudes where a float32
// square or sum overflows, with shapes that are not vec4 or workgroup multiples and outputs
// poisoned (NaN) beforehand: an Infinity must be an Infinity on both, and finite values agree.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { train, TrainOptionsError } from '../runtime/train.js';
import { testGpu } from '../testing/gpu.js';
import { poisoned, relativeError } from '../testing/random.js';
import { adamCpu, createAdam, requireHyper, type AdamHyper, type AdamMode } from './adam.js';
import { KernelInputError, type Segments } from './common.js';
import { COUNTER_WORDS } from './gather.js';
import { coefSlotBytes } from './l2-grad.js';
import { encodeSlotCall, statsSlotBytes } from './softmax-xent.js';
import { createSumSq, sumSqCpu } from './sumsq.js';

/** A seeded uniform [0, 1) (mulberry32): the magnitudes are chosen, not left to chance. */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random sign, magnitude log-uniform in [lo, hi]. */
function logUniform(length: number, lo: number, hi: number, rand: () => number): Float32Array {
  return Float32Array.from({ length }, () => (rand() < 0.5 ? -1 : 1) * lo * (hi / lo) ** rand());
}

/**
 * Where `got` and `ref` disagree: a non-finite value on one side and not the same one on the
 * other (NaN matches NaN), or finite values more than `tol` apart relative to the larger of |ref|
 * and `floor`. Returns the first few disagreements as text (empty: they agree).
 */
function disagreements(got: ArrayLike<number>, ref: ArrayLike<number>, tol: number, floor: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < ref.length && out.length < 5; i++) {
    const a = got[i];
    const b = ref[i];
    const ok = Number.isFinite(a) && Number.isFinite(b) ? Math.abs(a - b) <= tol * Math.max(Math.abs(b), floor) : Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    if (!ok) out.push(`[${i}] GPU ${a} vs CPU ${b}`);
  }
  return out;
}

function count(values: ArrayLike<number>, which: (v: number) => boolean): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (which(values[i])) n++;
  return n;
}

describe('Adam at magnitudes where float32 overflows: GPU kernel = CPU twin', () => {
  // 3 models of 61 parameters (183 in all, not a vec4 multiple), tensors of 16, 1, 28 and 16.
  const segments: Segments = { perModel: 61, starts: [0, 16, 17, 45] };
  const models = 3;
  const count_ = models * segments.perModel;
  const padded = Math.ceil(count_ / 4) * 4;
  const hyper: AdamHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
  const steps = 4;

  /**
   * mode none: gradients up to 1e22, so (1 − β₂)·g² (past 3.4e38 from |g| ≈ 5.8e20) and
   * v/(1 − β₂ᵗ) (from |g| ≈ 1.8e19 at t = 1) overflow in float32 for some of them.
   * coupled: g + 2λ·w with λ = 1e20, the Adam side of `--l2 1e20`.
   * decoupled: w − lr·λ·w with λ up to 1e20: weights grow past float32 and become ±Infinity.
   */
  const cases: { mode: AdamMode; grads: [number, number]; coef: number }[] = [
    { mode: 'none', grads: [1e15, 1e22], coef: 0 },
    { mode: 'coupled', grads: [1e-3, 1], coef: 2e20 },
    { mode: 'decoupled', grads: [1e-3, 1], coef: 1e20 },
  ];
  for (const run of [1, 4]) {
    for (const { mode, grads: [lo, hi], coef: c } of cases) {
      it(`${mode}, runs of ${run} vec4: overflowing g², v̂ and weights agree after every step`, async () => {
        const gpu = await testGpu();
        const rand = uniform(17 + run);
        const buffers: GPUBuffer[] = [];
        const storage = (label: string, data: Float32Array | Uint32Array | number) => {
          const b = gpu.createStorage(label, data);
          buffers.push(b);
          return b;
        };
        const withPadding = (values: Float32Array) => {
          const out = poisoned(padded);
          out.set(values);
          return out;
        };
        const nSeg = segments.starts.length;
        const coef = new Float32Array(coefSlotBytes(gpu, models, nSeg) / 4);
        // Tensor 1 (a single parameter) of every model unpenalized; model 2's last tensor too.
        for (let m = 0; m < models; m++) for (let s = 0; s < nSeg; s++) coef[m * nSeg + s] = s === 1 || (m === 2 && s === 3) ? 0 : c * (0.5 + rand());
        const ref: { weights: Float32Array; m: Float32Array; v: Float32Array; grads: Float32Array } = {
          weights: logUniform(count_, 1e-3, 10, rand),
          m: new Float32Array(count_),
          v: new Float32Array(count_),
          grads: new Float32Array(count_),
        };
        const b = {
          weights: storage('weights', withPadding(ref.weights)),
          grads: storage('grads', padded * 4),
          m: storage('m', withPadding(ref.m)),
          v: storage('v', withPadding(ref.v)),
          coef: storage('coef', coef),
          counters: storage('counters', models * COUNTER_WORDS * 4),
        };
        const call = createAdam(gpu, { models, segments, mode, hyper, slots: 1, run, ...b });
        try {
          const counters = new Uint32Array(models * COUNTER_WORDS);
          let overflowed = 0;
          for (let step = 0; step < steps; step++) {
            for (let m = 0; m < models; m++) {
              const skip = m === 1 && step === 2; // a model without rows this step is left alone
              counters[m * COUNTER_WORDS + 1] = skip ? 0 : 5;
              if (!skip) counters[m * COUNTER_WORDS + 2] += 1;
            }
            ref.grads = logUniform(count_, lo, hi, rand);
            gpu.write(b.grads, withPadding(ref.grads));
            gpu.write(b.counters, counters);
            gpu.submit('float32 limits adam', (pass) => encodeSlotCall(pass, call, 0));
            adamCpu(models, segments, mode, hyper, coef, counters, ref);
            const got = {
              weights: await gpu.readFloat32(b.weights, 0, padded),
              m: await gpu.readFloat32(b.m, 0, padded),
              v: await gpu.readFloat32(b.v, 0, padded),
            };
            for (const key of ['weights', 'm', 'v'] as const) {
              expect(count(got[key].subarray(count_), Number.isNaN), `${key}: the padding stays NaN`).toBe(padded - count_);
              // Weights: relative to their scale (an update of ±lr can nearly cancel a weight).
              const floor = key === 'weights' ? 1e-2 : 1e-30;
              expect(disagreements(got[key].subarray(0, count_), ref[key], 2e-5, floor), `${mode} step ${step + 1} ${key}`).toEqual([]);
            }
            overflowed += count(ref.v, (x) => x === Infinity) + count(ref.weights, (x) => !Number.isFinite(x));
            // Then from the same state on both sides: differences stay one step's.
            ref.weights.set(got.weights.subarray(0, count_));
            ref.m.set(got.m.subarray(0, count_));
            ref.v.set(got.v.subarray(0, count_));
          }
          // The magnitudes did reach float32's limits: the check is not vacuous.
          expect(overflowed, 'second moments or weights that overflowed').toBeGreaterThan(0);
        } finally {
          call.destroy();
          for (const buffer of buffers) gpu.destroyBuffer(buffer);
        }
      });
    }
  }
});

describe('sum of squares at magnitudes where float32 overflows: GPU kernel = CPU twin', () => {
  // 3 models of 4 tensors: 100, 3, 97 and 3 parameters (none a vec4 or workgroup multiple).
  const segments: Segments = { perModel: 203, starts: [0, 100, 103, 200] };
  const models = 3;
  for (const lanes of [false, true]) {
    it(`${lanes ? 'lanes' : 'workgroups'}: a square past 3.4e38, a sum past it, sums below it`, async () => {
      const gpu = await testGpu();
      const rand = uniform(5);
      const weights = new Float32Array(models * segments.perModel);
      for (let m = 0; m < models; m++) {
        const base = m * segments.perModel;
        // Tensor 0: squares of about 2.5e37 each (finite), 100 of them sum to about 2.5e39.
        // Model 1 keeps it small: 100 × 1e36 = 1e38, just finite.
        for (let j = 0; j < 100; j++) weights[base + j] = (j % 2 ? -1 : 1) * (m === 1 ? 1e18 : 5e18) * (0.95 + 0.1 * rand());
        // Tensor 1: one weight of 2e19, whose square (4e38) is Infinity in float32.
        for (let j = 100; j < 103; j++) weights[base + j] = j === 101 && m !== 2 ? -2e19 : rand();
        // Tensor 2: 97 squares of about 1e36: 9.7e37, finite.
        for (let j = 103; j < 200; j++) weights[base + j] = 1e18 * (0.95 + 0.1 * rand());
        // Tensor 3: ordinary weights.
        for (let j = 200; j < 203; j++) weights[base + j] = rand() - 0.5;
      }
      const nSeg = segments.starts.length;
      const recordWords = nSeg + 3;
      const field = 3;
      const slotBytes = statsSlotBytes(gpu, models, recordWords);
      const stats = gpu.createStorage('stats', poisoned((2 * slotBytes) / 4));
      const w = gpu.createStorage('weights', weights);
      const call = createSumSq(gpu, { models, segments, weights: w, stats: { buffer: stats, recordWords, field, slots: 2 }, lanes });
      try {
        gpu.submit('float32 limits sumsq', (pass) => encodeSlotCall(pass, call, 1));
        const words = await gpu.readFloat32(stats);
        const got = new Float64Array(models * nSeg);
        for (let m = 0; m < models; m++) for (let t = 0; t < nSeg; t++) got[m * nSeg + t] = words[slotBytes / 4 + m * recordWords + field + t];
        const ref = sumSqCpu(models, segments, weights);
        expect(disagreements(got, ref, 1e-5, 0), 'GPU vs CPU twin').toEqual([]);
        // The overflows are where float32 puts them: tensors 0 and 1 of models 0 and 2 but
        // model 1's tensor 0 and model 2's tensor 1 (no huge weight) finite.
        expect(Array.from(ref, Number.isFinite)).toEqual([false, false, true, true, true, false, true, true, false, true, true, true]);
      } finally {
        call.destroy();
        gpu.destroyBuffer(stats);
        gpu.destroyBuffer(w);
      }
    });
  }
});

describe('GPU trainer = CPU trainer at λ = 1e20 (the Adam second moment overflows in float32)', () => {
  it('Iris 4-10-3, coupled keras λ 1e20, 4 epochs: same losses and weights', async () => {
    const iris = await loadDataset('iris');
    const options = { data: iris, model: { hidden: [10], activation: 'relu' as const }, epochs: 4, batchSize: 16, seed: 2, penalty: { lambda: 1e20 } };
    const g = await train({ ...options, device: 'gpu', gpu: await testGpu() });
    const c = await train({ ...options, device: 'cpu' });
    g.history.forEach((h, e) => expect(Math.abs(h.loss - c.history[e].loss) / c.history[e].loss, `epoch ${e} loss ${h.loss} vs ${c.history[e].loss}`).toBeLessThanOrEqual(1e-4));
    for (const [name, w] of Object.entries(g.weights)) expect(relativeError(w, c.weights[name]), name).toBeLessThanOrEqual(1e-3);
  });
});

describe('Adam hyper-parameters that float32 cannot hold are refused, naming the field, the value and the range', () => {
  const ok: AdamHyper = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
  // lr as epsilon: a subnormal lr may be flushed to 0 on a GPU (no step there, a step on the CPU).
  const LR = 'valid: about 1.18e-38 to 3.4e38 (a normal float32: the GPU computes in float32 and may flush smaller numbers to 0)';
  const EPSILON = LR;
  const SUBNORMAL = 'which float32 holds only as a subnormal number, which GPUs may flush to 0';
  const BETA = 'valid: from 0 to 0.99999994 (the largest float32 below 1: the GPU computes in float32)';
  const cases: [Partial<AdamHyper>, string][] = [
    // Valid in float64, not in float32.
    [{ lr: 1e-50 }, `lr must be a finite number > 0, got 1e-50, which is 0 in float32; ${LR}`],
    [{ lr: 7e-46 }, `lr must be a finite number > 0, got 7e-46, which is 0 in float32; ${LR}`],
    [{ lr: 1e39 }, `lr must be a finite number > 0, got 1e+39, which is Infinity in float32; ${LR}`],
    [{ lr: 1e-45 }, `lr must be a finite number > 0, got 1e-45, ${SUBNORMAL}; ${LR}`],
    [{ lr: 1e-40 }, `lr must be a finite number > 0, got 1e-40, ${SUBNORMAL}; ${LR}`],
    [{ lr: 1.1754942e-38 }, `lr must be a finite number > 0, got 1.1754942e-38, ${SUBNORMAL}; ${LR}`],
    [{ beta1: 0.99999999 }, `beta1 must be in [0, 1), got 0.99999999, which is 1 in float32; ${BETA}`],
    [{ beta2: 1 - 2 ** -25 }, `beta2 must be in [0, 1), got 0.9999999701976776, which is 1 in float32; ${BETA}`],
    [{ epsilon: 1e-46 }, `epsilon must be a finite number > 0, got 1e-46, which is 0 in float32; ${EPSILON}`],
    [{ epsilon: 1e-39 }, `epsilon must be a finite number > 0, got 1e-39, ${SUBNORMAL}; ${EPSILON}`],
    [{ epsilon: 1e39 }, `epsilon must be a finite number > 0, got 1e+39, which is Infinity in float32; ${EPSILON}`],
    // Invalid anywhere.
    [{ lr: 0 }, `lr must be a finite number > 0, got 0; ${LR}`],
    [{ lr: Number.NaN }, `lr must be a finite number > 0, got NaN; ${LR}`],
    [{ beta1: -0.1 }, `beta1 must be in [0, 1), got -0.1; ${BETA}`],
    [{ beta2: '0.999' as never }, `beta2 must be in [0, 1), got "0.999"; ${BETA}`],
    [{ epsilon: Number.POSITIVE_INFINITY }, `epsilon must be a finite number > 0, got Infinity; ${EPSILON}`],
  ];
  it('requireHyper (the kernel\'s check)', () => {
    for (const [change, message] of cases) {
      const call = () => requireHyper('adam', { ...ok, ...change });
      expect(call).toThrow(KernelInputError);
      expect(call).toThrow(`adam: ${message}`);
    }
  });
  it('the edges of the ranges are accepted', () => {
    for (const change of [{ lr: 1.18e-38 }, { lr: 2 ** -126 }, { lr: 3.4e38 }, { beta1: 0, beta2: 0 }, { beta1: 0.99999994, beta2: 0.99999997 }, { epsilon: 1.18e-38 }, { epsilon: 3.4028234e38 }]) {
      expect(() => requireHyper('adam', { ...ok, ...change }), JSON.stringify(change)).not.toThrow();
    }
  });
  it('train (either device): a TrainOptionsError before any GPU work, the field named optimizer.*', async () => {
    const iris = await loadDataset('iris');
    // A device that fails the test if anything touches it.
    const untouchable = new Proxy({}, { get: (_, key) => { throw new Error(`GPU touched (${String(key)})`); } }) as never;
    for (const [change, message] of cases) {
      for (const device of ['gpu', 'cpu'] as const) {
        const error = await train({ data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 1, optimizer: change, device, ...(device === 'gpu' ? { gpu: untouchable } : {}) }).catch((e) => e);
        expect(error, `${device} ${JSON.stringify(change)}`).toBeInstanceOf(TrainOptionsError);
        expect(error.message).toBe(`optimizer.${message}`);
      }
    }
  });
});
