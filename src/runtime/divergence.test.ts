// Non-finite numbers that training used to pass on silently: weights that overflow (or go NaN)
// in an epoch's last update, test logits that overflow after it, features that overflow the
// first forward pass. Both devices must refuse them alike: the same DivergenceError (epoch,
// model, kind, message), and a Run must not return NaN predictions.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { testGpu, withBindingLimit } from '../testing/gpu.js';
import { relativeError } from '../testing/random.js';
import { glorotInit, mlpLayout } from '../model/mlp.js';
import { trainOnCpu } from './cpu-trainer.js';
import type { Gpu } from './gpu.js';
import { modelGroups, trainOnGpu } from './gpu-trainer.js';
import { resolvePenalty } from './penalty.js';
import { DivergenceError, type BatchPlan } from './plan.js';
import { DEFAULT_OPTIMIZER, TrainOptionsError, train, trainBatch, type BatchOptions, type TrainOptions } from './train.js';

const DEVICES = ['gpu', 'cpu'] as const;

/** What each device threw (or null when it returned), as { epoch, model, kind, message }. */
async function divergence(run: (device: 'gpu' | 'cpu') => Promise<unknown>) {
  const out: Record<string, { name: string; epoch?: number; model?: number; kind?: string; message: string } | null> = {};
  for (const device of DEVICES) {
    try {
      await run(device);
      out[device] = null;
    } catch (error) {
      const e = error as DivergenceError;
      // Where a value went non-finite the devices may differ in which (NaN or ±Infinity).
      out[device] = { name: e.name, epoch: e.epoch, model: e.model, kind: e.kind, message: e.message.replace(/-?Infinity|NaN/g, '<non-finite>') };
      expect(error, e.message).toBeInstanceOf(DivergenceError);
    }
  }
  // The CPU reference trainer says exactly what the GPU trainer says.
  expect(out.cpu).toEqual(out.gpu);
  return out.gpu!;
}


/**
 * Iris (rows 0…149, `all`) with 16 rows appended (`huge`, rows 150…165; labels 0, 1, 2, …) whose
 * features are ±3e38: alternating signs (`alternating`: row r, feature f is -3e38 when r + f is
 * odd), or every sign pattern of the 4 features once (`signs`: row r, feature f is -3e38 when bit f
 * of r is set), so that some row has the signs of a hidden unit's weights: that unit's sum passes
 * float32 when its 4 weights' |w| add up past 1.13 (Glorot weights over 4 inputs and 10 units
 * average 1.3).
 */
async function withHugeRows(pattern: 'alternating' | 'signs') {
  const iris = await loadDataset('iris');
  const F = 4;
  const extra = 16;
  const x = new Float32Array((iris.rows + extra) * F);
  x.set(iris.x);
  for (let r = 0; r < extra; r++) {
    for (let f = 0; f < F; f++) x[(iris.rows + r) * F + f] = (pattern === 'alternating' ? (r + f) % 2 : (r >> f) & 1) ? -3e38 : 3e38;
  }
  const y = new Uint32Array(iris.rows + extra);
  y.set(iris.y);
  for (let r = 0; r < extra; r++) y[iris.rows + r] = r % 3;
  const all = Uint32Array.from({ length: iris.rows }, (_, i) => i);
  const huge = Uint32Array.from({ length: extra }, (_, i) => iris.rows + i);
  return { data: { x, y, features: F, classes: 3 }, all, huge };
}

async function trainOn(device: 'gpu' | 'cpu', options: TrainOptions) {
  return train({ ...options, device, ...(device === 'gpu' ? { gpu: await testGpu() } : {}) });
}

/** 40 rows of 3 features whose middle one is 0 in every row; the class is the sign of the first. */
function zeroFeature() {
  const rows = 40;
  const F = 3;
  const x = new Float32Array(rows * F);
  const y = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    x[r * F] = Math.sin(r);
    x[r * F + 2] = Math.cos(r * 1.3);
    y[r] = x[r * F] > 0 ? 1 : 0;
  }
  return { x, y, features: F, classes: 2 };
}

describe('divergence after the last step is reported, the same on both devices', () => {
  it('weights past float32 after the only update: λ 0 and λ 0.01 both throw for the weights, not a run with NaN predictions', async () => {
    const iris = await loadDataset('iris');
    for (const lambda of [0, 0.01]) {
      // One step of Adam moves every weight by about lr (m̂/√v̂ = ±1 at t = 1): |w| ≈ 1e30, so
      // w² ≈ 1e60, past float32's 3.4e38: no tensor's norm is representable any more.
      const e = await divergence((device) =>
        trainOn(device, { data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 1, batchSize: 1000, optimizer: { lr: 1e30 }, penalty: { lambda } }),
      );
      expect(e).toMatchObject({ epoch: 0, model: 0, kind: 'weights' });
      // Without a penalty λ changes nothing: the advice says the learning rate alone.
      const advice = lambda === 0 ? 'lower the learning rate' : 'lower the learning rate or λ';
      expect(e.message).toBe(`training diverged at epoch 0 (model 0): the weights of dense_0/kernel are not finite after the epoch (Σw² is <non-finite>); ${advice}`);
    }
  });

  it('test logits that overflow after the last update throw for the test rows (trainBatch), the weights being finite', async () => {
    const iris = await loadDataset('iris');
    const all = Uint32Array.from({ length: iris.rows }, (_, i) => i);
    const options: BatchOptions = {
      data: iris,
      // Three layers: one step of about 1e17 leaves each tensor's Σw² below 1e37 (finite), but
      // features of up to 7.9 through three such layers reach about 1e17³ · 10² ≫ 3.4e38.
      model: { hidden: [10, 10], activation: 'relu' },
      models: [{ name: 'only', trainRows: all, testRows: all, seed: 1 }],
      epochs: 1,
      batchSize: 1000,
      optimizer: { lr: 1e17 },
    };
    const e = await divergence(async (device) => trainBatch({ ...options, ...(device === 'gpu' ? { gpu: await testGpu() } : {}), device }));
    expect(e).toMatchObject({ epoch: 0, model: 0, kind: 'test' });
    // The weights (1e17) are larger than the features (7.9): the learning rate is the cause.
    expect(e.message).toMatch(
      /^training diverged at epoch 0 \(model 0, only\): the logits of test row 0 are not finite \(<non-finite>\) after the last epoch; its forward pass overflows float32, with features up to 5\.1 as the first layer sees them and weights up to 1e\+17; lower the learning rate$/,
    );
  });

  it("predict and evaluate refuse a model whose logits overflow instead of returning NaN (train() has no test rows)", async () => {
    const iris = await loadDataset('iris');
    for (const device of DEVICES) {
      const run = await trainOn(device, { data: iris, model: { hidden: [10, 10], activation: 'relu' }, epochs: 1, batchSize: 1000, optimizer: { lr: 1e17 } });
      // The history is finite: the loss was taken before the update, the norms are representable.
      const h = run.history[0];
      expect(Number.isFinite(h.loss) && Object.values(h.weightNorms).every(Number.isFinite), JSON.stringify(h)).toBe(true);
      const problem = /^(predict\(x\)|evaluate\(x, y\)): the model's logits for row \d+ are not finite \((NaN|-?Infinity)\): its forward pass overflows float32, with features up to 7\.9 as the first layer sees them and weights up to 1e\+17; the weights are too large: train again with a lower learning rate or λ$/;
      await expect(run.predict(iris.x), device).rejects.toThrow(problem);
      await expect(run.predict(iris.x), device).rejects.toBeInstanceOf(TrainOptionsError);
      await expect(run.evaluate(iris.x, iris.y), device).rejects.toThrow(problem);
    }
  });

  it('predict refuses rows whose features overflow a sane model, naming them as the cause', async () => {
    const iris = await loadDataset('iris');
    for (const device of DEVICES) {
      const run = await trainOn(device, { data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 1 });
      // Row 5: ±3e38 with the signs of the first-layer weights of the unit whose |w| sum most (about
      // 1.3 on average for Glorot weights over 4 inputs): that unit's sum passes 3.4e38.
      const kernel = run.weights['dense_0/kernel'];
      const column = (j: number) => [0, 1, 2, 3].map((i) => kernel[i * 10 + j]);
      const unit = [...Array(10).keys()].reduce((a, b) => (column(b).reduce((s, w) => s + Math.abs(w), 0) > column(a).reduce((s, w) => s + Math.abs(w), 0) ? b : a));
      expect(column(unit).reduce((s, w) => s + Math.abs(w), 0) * 3e38).toBeGreaterThan(3.5e38);
      const x = iris.x.slice(0, 8 * 4);
      column(unit).forEach((w, i) => (x[5 * 4 + i] = Math.sign(w) * 3e38));
      await expect(run.predict(x), device).rejects.toThrow(
        /^predict\(x\): the model's logits for row 5 are not finite \((NaN|-?Infinity)\): its forward pass overflows float32, with features up to 3e\+38 as the first layer sees them and weights up to 0\.\d+; scale the features down as the training data was$/,
      );
      // The rows before it are fine: those alone are predicted, each row's probabilities summing to 1.
      const p = await run.predict(iris.x.slice(0, 5 * 4));
      for (let r = 0; r < 5; r++) expect(p.probabilities[r * 3] + p.probabilities[r * 3 + 1] + p.probabilities[r * 3 + 2]).toBeCloseTo(1, 6);
    }
  });
});

describe('test and validation rows: the logits decide, the same on both devices', () => {
  it('finite test logits whose cross-entropy sum passes float32 are no divergence: both devices return the run, its test loss Infinity on both', async () => {
    // The reviewer's case: the GPU adds the 16 rows' losses (each about 5e37) into a float32,
    // which overflows; the CPU's float64 sum (7.7e38) did not. The GPU threw ("the test loss
    // after the last epoch is Infinity; lower the learning rate or λ"), the CPU returned, though
    // the largest logit is about 1.2e38 and the predictions are fine on both.
    const { data, all, huge } = await withHugeRows('alternating');
    const options: BatchOptions = {
      data,
      model: { hidden: [64, 64], activation: 'relu' },
      models: [{ trainRows: all, testRows: all.subarray(0, 30) }, { trainRows: all, testRows: huge }],
      epochs: 2,
    };
    const gpu = await trainBatch({ ...options, device: 'gpu', gpu: await testGpu() });
    const cpu = await trainBatch({ ...options, device: 'cpu' });
    for (const [device, run] of [['gpu', gpu], ['cpu', cpu]] as const) {
      const t = run.models[1].test!;
      expect(t.logits.every(Number.isFinite), device).toBe(true);
      expect(Math.max(...t.logits.map(Math.abs)), device).toBeGreaterThan(1e37);
      expect(t.loss, device).toBe(Number.POSITIVE_INFINITY);
      expect(Number.isFinite(run.models[0].test!.loss), device).toBe(true);
    }
    expect(relativeError(gpu.models[1].test!.logits, cpu.models[1].test!.logits)).toBeLessThanOrEqual(1e-4);
    expect(Array.from(gpu.models[1].test!.predictions)).toEqual(Array.from(cpu.models[1].test!.predictions));
    expect(gpu.models[1].test!.accuracy).toBe(cpu.models[1].test!.accuracy);
  });

  it('the same rows as validation rows: no divergence either, the history says Infinity on both devices', async () => {
    // They were refused as a validation divergence whose message said the forward pass overflowed
    // float32, though every logit was finite and only the float32 sum of the rows' losses passed 3.4e38.
    const { data, all, huge } = await withHugeRows('alternating');
    const options: BatchOptions = {
      data,
      model: { hidden: [64, 64], activation: 'relu' },
      models: [{ trainRows: all, validationRows: all.subarray(0, 30) }, { trainRows: all, validationRows: huge }],
      epochs: 2,
    };
    const gpu = await trainBatch({ ...options, device: 'gpu', gpu: await testGpu() });
    const cpu = await trainBatch({ ...options, device: 'cpu' });
    for (const [device, run] of [['gpu', gpu], ['cpu', cpu]] as const) {
      expect(run.models[1].history.map((h) => h.valLoss), device).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
      expect(run.models[0].history.every((h) => Number.isFinite(h.valLoss)), device).toBe(true);
    }
    gpu.models[1].history.forEach((h, e) => expect(h.valAccuracy, `epoch ${e}`).toBe(cpu.models[1].history[e].valAccuracy));
  });

  it('test logits that overflow from their features: the model of a later group is named, the features blamed, with models without test rows in the batch', async () => {
    // Model 2's test rows from its 6th on hold every sign pattern of ±3e38: its first layer
    // overflows. Model 1 has no test rows, model 0 ordinary ones. With a binding of 1300 bytes (a
    // batch of 32 rows × 10 values fills one) every model is its own group on the GPU (model 2 is
    // model 0 of the third): the same error as in one group and on the CPU, naming the model by
    // its index in the whole batch.
    const { data, all, huge } = await withHugeRows('signs');
    const testRows = Uint32Array.from([...all.subarray(40, 45), ...huge]);
    const options: BatchOptions = {
      data,
      model: { hidden: [10], activation: 'relu' },
      models: [
        { name: 'm0', trainRows: all, testRows: all.subarray(0, 20) },
        { name: 'm1', trainRows: all },
        { name: 'm2', trainRows: all, testRows },
      ],
      epochs: 2,
    };
    const real = await testGpu();
    const small = withBindingLimit(real, 1300);
    const shape = { data, layout: mlpLayout(4, 3, { hidden: [10], activation: 'relu' }), batchSize: 32, models: options.models } as unknown as BatchPlan;
    expect(modelGroups(small, shape)).toHaveLength(3);
    const errors = [];
    for (const gpu of [real, small, null]) {
      const error = await trainBatch({ ...options, ...(gpu ? { device: 'gpu', gpu } : { device: 'cpu' }) }).catch((e) => e);
      expect(error).toBeInstanceOf(DivergenceError);
      errors.push({ epoch: error.epoch, model: error.model, kind: error.kind, message: error.message.replace(/-?Infinity|NaN/g, '<non-finite>') });
    }
    expect(errors[1]).toEqual(errors[0]);
    expect(errors[2]).toEqual(errors[0]);
    expect(errors[0]).toMatchObject({ epoch: 1, model: 2, kind: 'test' });
    // The first row that overflows is one of the huge ones (the 6th test row on).
    expect(Number(/test row (\d+)/.exec(errors[0].message)![1])).toBeGreaterThanOrEqual(5);
    expect(errors[0].message).toMatch(
      /^training diverged at epoch 1 \(model 2, m2\): the logits of test row \d+ are not finite \(<non-finite>\) after the last epoch; its forward pass overflows float32, with features up to 3e\+38 as the first layer sees them and weights up to \d\.\d+; the test rows are not standardized: standardize the features or scale them down$/,
    );
  });

  for (const pattern of ['alternating', 'signs'] as const) {
    it(`validation rows of ${pattern === 'alternating' ? 'alternating ±3e38 (finite logits, a loss sum past float32)' : 'every sign pattern of ±3e38 (logits not finite)'}: the 'validation' kind on both devices, the features blamed`, async () => {
      // Model 1's validation loss is Infinity in float32 on both devices (the CPU twin rounds its
      // sum as the GPU's float32 sum does); model 0 is fine.
      const { data, all, huge } = await withHugeRows(pattern);
      const options: BatchOptions = {
        data,
        model: { hidden: [10], activation: 'relu' },
        models: [
          { trainRows: all.subarray(0, 120), validationRows: all.subarray(120) },
          { trainRows: all.subarray(0, 120), validationRows: Uint32Array.from([...all.subarray(120), ...huge]) },
        ],
        epochs: 2,
      };
      const e = await divergence(async (device) => trainBatch({ ...options, ...(device === 'gpu' ? { gpu: await testGpu() } : {}), device }));
      expect(e).toMatchObject({ epoch: 0, model: 1, kind: 'validation' });
      expect(e.message).toMatch(
        /^training diverged at epoch 0 \(model 1\): the validation loss is <non-finite>; its validation rows' features reach 3e\+38 as the first layer sees them \(not standardized\), more than any weight \(at most \d(\.\d)?\), and overflow float32 in the forward pass; standardize the features or scale them down$/,
      );
    });
  }

  it('a validation loss that diverges with the weights keeps the learning-rate advice', async () => {
    const iris = await loadDataset('iris');
    const all = Uint32Array.from({ length: iris.rows }, (_, i) => i);
    // One step of about 1e17 per weight: Σw² stays finite, the validation logits overflow.
    const e = await divergence(async (device) =>
      trainBatch({
        data: iris,
        model: { hidden: [10, 10], activation: 'relu' },
        models: [{ trainRows: all, validationRows: all.subarray(0, 30) }],
        epochs: 1,
        batchSize: 1000,
        optimizer: { lr: 1e17 },
        device,
        ...(device === 'gpu' ? { gpu: await testGpu() } : {}),
      }),
    );
    expect(e).toMatchObject({ epoch: 0, model: 0, kind: 'validation' });
    expect(e.message).toBe('training diverged at epoch 0 (model 0): the validation loss is <non-finite>; lower the learning rate');
  });
});

describe('NaN weights that ReLU hides from the loss', () => {
  it('a NaN weight on a feature that is always 0 throws for the weights at epoch 0 on both devices', async () => {
    // How Adam's epsilon 1e-46 (0 in float32; the options refuse it now) made them: the always-0
    // feature's kernel row has gradient 0 and steps by 0/(0 + 0). Here the trainers start from
    // such a row. 0·NaN is NaN on the GPU, and ReLU's max(NaN, 0) is 0: every hidden unit is 0,
    // the logits are the output bias, and the loss stays ln 2 (0.693); only the norms show it.
    // The CPU twin used to skip the zero inputs and train on (loss 0.63).
    const data = zeroFeature();
    const layout = mlpLayout(3, 2, { hidden: [4], activation: 'relu' });
    const init = glorotInit(layout, 1);
    init.fill(Number.NaN, 4, 8); // dense_0/kernel row 1: the always-0 feature
    const plan: BatchPlan = {
      data,
      layout,
      models: [{ trainRows: Uint32Array.from({ length: 40 }, (_, i) => i), penalty: resolvePenalty({ lambda: 0 }), seed: 3, init }],
      epochs: 2,
      batchSize: 16,
      shuffle: true,
      optimizer: DEFAULT_OPTIMIZER,
      mode: 'coupled',
    };
    const gpu = await testGpu();
    const e = await divergence((device) => (device === 'gpu' ? trainOnGpu(gpu, plan) : trainOnCpu(plan)));
    expect(e).toMatchObject({ epoch: 0, model: 0, kind: 'weights' });
    expect(e.message).toBe('training diverged at epoch 0 (model 0): the weights of dense_0/kernel are not finite after the epoch (Σw² is <non-finite>); lower the learning rate');
  });
});

describe('features that overflow the first forward pass', () => {
  /** Iris with its first feature replaced by ±3e38 (not standardized). */
  async function huge() {
    const iris = await loadDataset('iris');
    const x = iris.x.slice();
    for (let r = 0; r < iris.rows; r++) x[r * 4] = r % 2 ? 3e38 : -3e38;
    return { x, y: iris.y, features: 4, classes: 3 };
  }

  it('say that the features overflow and to standardize them, not to lower the learning rate', async () => {
    const data = await huge();
    const e = await divergence((device) => trainOn(device, { data, model: { hidden: [10], activation: 'relu' }, epochs: 2 }));
    expect(e).toMatchObject({ epoch: 0, model: 0, kind: 'loss' });
    expect(e.message).toMatch(
      /^training diverged at epoch 0 \(model 0\): the training loss is <non-finite>; the first batch's loss is already <non-finite> before any update: its features reach 3e\+38 \(not standardized\) and overflow float32 in the forward pass; standardize the features or scale them down$/,
    );
  });

  it('a first-epoch divergence of a huge learning rate on small features keeps the learning-rate advice', async () => {
    const iris = await loadDataset('iris');
    const e = await divergence((device) => trainOn(device, { data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 2, batchSize: 16, optimizer: { lr: 1e30 } }));
    expect(e).toMatchObject({ epoch: 0, model: 0 });
    expect(e.message).toMatch(/^training diverged at epoch 0 \(model 0\): .*; lower the learning rate$/);
  });
});
