// Bad input is refused before any GPU work, with an error naming the field and what is valid;
// a diverging run stops with an error naming the epoch; 200 runs leak no GPU buffer.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { cachedObjectCount } from '../kernels/common.js';
import type { Gpu } from './gpu.js';
import { testGpu } from '../testing/gpu.js';
import { DivergenceError } from './plan.js';
import { train, trainBatch, TrainOptionsError, type TrainOptions } from './train.js';

/** A device that fails the test if anything touches it. */
const untouchable = new Proxy({}, {
  get(_, key) {
    throw new Error(`GPU touched (${String(key)}) before the options were checked`);
  },
}) as Gpu;

async function base(): Promise<TrainOptions> {
  const iris = await loadDataset('iris');
  return { data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 3, batchSize: 16, device: 'gpu', gpu: untouchable };
}

describe('bad options are refused before any GPU work', () => {
  const cases: [string, (o: TrainOptions) => TrainOptions, RegExp][] = [
    ['NaN in x', (o) => ({ ...o, data: { ...o.data, x: o.data.x.map((v, i) => (i === 13 ? NaN : v)) } }), /data.x row 3, feature 1 is NaN; features must be finite/],
    ['Infinity in x', (o) => ({ ...o, data: { ...o.data, x: o.data.x.map((v, i) => (i === 4 ? Infinity : v)) } }), /data.x row 1, feature 0 is Infinity/],
    ['a label ≥ classes', (o) => ({ ...o, data: { ...o.data, y: o.data.y.map((v, i) => (i === 42 ? 3 : v)) } }), /data.y row 42 is 3; labels must be in \[0, 2\] \(classes 3\)/],
    ['x and y lengths that do not match', (o) => ({ ...o, data: { ...o.data, x: o.data.x.subarray(0, 596) } }), /data.x has 596 values; 150 rows \(y\) × 4 features needs 600/],
    ['validation with other features', (o) => ({ ...o, validation: { ...o.data, features: 2, x: new Float32Array(300) } }), /validation.features is 2, the training data has 4/],
    ['λ < 0', (o) => ({ ...o, penalty: { lambda: -0.1 } }), /penalty.lambda must be a finite number ≥ 0, got -0.1/],
    ['lr ≤ 0', (o) => ({ ...o, optimizer: { lr: 0 } }), /optimizer.lr must be a finite number > 0, got 0/],
    ['beta1 = 1', (o) => ({ ...o, optimizer: { beta1: 1 } }), /optimizer.beta1 must be in \[0, 1\), got 1/],
    ['batchSize < 1', (o) => ({ ...o, batchSize: 0 }), /batchSize must be an integer in \[1, 1048576\], got 0/],
    ['epochs < 1', (o) => ({ ...o, epochs: 0 }), /epochs must be an integer in \[1, 1000000\], got 0/],
    ['a fractional epoch count', (o) => ({ ...o, epochs: 2.5 }), /epochs must be an integer/],
    ['an unknown schedule', (o) => ({ ...o, penalty: { lambda: 0.1, schedule: 'sometimes' as never } }), /penalty.schedule: unknown schedule 'sometimes'; valid: constant, none, alternate, rotate, parity, random:P/],
    ['an unknown activation', (o) => ({ ...o, model: { hidden: [10], activation: 'gelu' as never } }), /model.activation must be one of identity, relu, tanh, sigmoid; got "gelu"/],
    ['a hidden width of 0', (o) => ({ ...o, model: { hidden: [0], activation: 'relu' } }), /model.hidden\[0\] must be an integer in \[1, 65536\], got 0/],
    ['an unknown penalty mode', (o) => ({ ...o, penalty: { lambda: 0.1, mode: 'both' as never } }), /penalty.mode must be 'coupled' or 'decoupled', got "both"/],
    ['an unknown device', (o) => ({ ...o, device: 'tpu' as never }), /device must be 'auto', 'gpu' or 'cpu', got "tpu"/],
    ['init weights of the wrong shape', (o) => ({ ...o, init: { weights: { 'dense_0/kernel': new Float32Array(3) } } }), /init.weights: unexpected tensor|init.weights: tensor 'dense_0\/kernel' has 3 values, shape \[4, 10\] needs 40/],
  ];
  for (const [what, change, message] of cases) {
    it(what, async () => {
      const o = change(await base());
      await expect(train(o)).rejects.toThrow(TrainOptionsError);
      await expect(train(o)).rejects.toThrow(message);
    });
  }

  it('batches name the model whose rows are wrong', async () => {
    const { onEpoch: _, ...o } = await base();
    await expect(
      trainBatch({ ...o, models: [{ trainRows: Uint32Array.of(0, 1) }, { trainRows: Uint32Array.of(5, 150) }] }),
    ).rejects.toThrow(/models\[1\].trainRows\[1\] is 150; the data has 150 rows/);
    await expect(
      trainBatch({ ...o, models: [{ trainRows: Uint32Array.of(0), penalty: { mode: 'coupled' } }, { trainRows: Uint32Array.of(1), penalty: { mode: 'decoupled' } }] }),
    ).rejects.toThrow(/all models of a batch must share penalty.mode/);
  });
});

describe('divergence', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    it(`${device}: a run whose loss becomes non-finite stops with the epoch named`, async () => {
      const iris = await loadDataset('iris');
      const o: TrainOptions = {
        data: { ...iris, x: iris.x.map((v) => v * 1e18) },
        model: { hidden: [10], activation: 'identity' },
        epochs: 30,
        optimizer: { lr: 1e19 },
        device,
        ...(device === 'gpu' ? { gpu: await testGpu() } : {}),
      };
      const error = await train(o).catch((e) => e);
      expect(error).toBeInstanceOf(DivergenceError);
      expect(error.message).toMatch(/training diverged at epoch \d+ \(model 0\): the training loss is (NaN|Infinity)/);
    });
  }
});

describe('GPU hygiene', () => {
  it('200 consecutive train() calls leave the count of live GPU buffers flat', async () => {
    const gpu = await testGpu();
    const iris = await loadDataset('iris');
    const o: TrainOptions = { data: iris, validation: iris, model: { hidden: [4], activation: 'tanh' }, epochs: 2, batchSize: 64, device: 'gpu', gpu, penalty: { lambda: 0.01, schedule: 'alternate' } };
    await train(o); // warm-up: shared placeholders and pipelines are created once
    await (await train(o)).evaluate(iris.x, iris.y);
    const pipelines = cachedObjectCount(gpu);
    const before = gpu.liveBuffers;
    const created = gpu.createdBuffers;
    for (let i = 0; i < 200; i++) {
      const run = await train({ ...o, seed: i });
      if (i % 50 === 0) await run.evaluate(iris.x, iris.y);
    }
    expect(gpu.liveBuffers).toBe(before);
    expect(cachedObjectCount(gpu), 'no pipeline, layout or module is built again').toBe(pipelines);
    expect(gpu.createdBuffers - created).toBeGreaterThan(200 * 10); // buffers really were made and freed
  });
});

describe('cancellation and standardization', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    it(`${device}: an aborted signal stops training with its reason and frees GPU memory`, async () => {
      const gpu = await testGpu();
      const iris = await loadDataset('iris');
      const before = gpu.liveBuffers;
      const controller = new AbortController();
      const seen: number[] = [];
      const error = await train({
        data: iris,
        model: { hidden: [10], activation: 'relu' },
        epochs: 5000,
        device,
        gpu,
        signal: controller.signal,
        onEpoch: (h) => {
          seen.push(h.epoch);
          if (h.epoch === 2) controller.abort(new Error('stop here'));
        },
      }).catch((e) => e);
      expect(error.message).toBe('stop here');
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(seen.length).toBeLessThan(5000);
      expect(gpu.liveBuffers).toBe(before);
    });
  }

  // On the GPU, training with `standardize` gathers through the affine and training on rows
  // standardized beforehand copies them as they are: the two must agree.
  for (const device of ['cpu', 'gpu'] as const) {
    it(`${device}: standardize applies to training, predict and evaluate alike`, async () => {
      const { fitStandardizer, applyStandardizer } = await import('../data/standardize.js');
      const iris = await loadDataset('iris');
      const s = fitStandardizer(iris.x, 4, Uint32Array.from({ length: 150 }, (_, i) => i));
      const common = {
        model: { hidden: [6], activation: 'tanh' as const },
        epochs: 15,
        batchSize: 16,
        seed: 2,
        device,
        ...(device === 'gpu' ? { gpu: await testGpu() } : {}),
        optimizer: { lr: 0.01 },
      };
      const a = await train({ ...common, data: iris, standardize: { scale: s.scale, shift: s.shift } });
      const b = await train({ ...common, data: { ...iris, x: applyStandardizer(iris.x, 4, s) } });
      a.history.forEach((h, e) => expect(Math.abs(h.loss - b.history[e].loss)).toBeLessThan(1e-5));
      const pa = await a.predict(iris.x);
      const pb = await b.predict(applyStandardizer(iris.x, 4, s));
      expect(Array.from(pa.classes)).toEqual(Array.from(pb.classes));
      expect((await a.evaluate(iris.x, iris.y)).accuracy).toBeGreaterThan(0.85);
    });
  }
});
