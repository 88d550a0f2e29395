// The GPU trainer against the CPU reference trainer: same seeds, same init, same batches; every
// schedule and both penalty modes trained side by side in one batch.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { testGpu, withBindingLimit } from '../testing/gpu.js';
import { relativeError } from '../testing/random.js';
import { isCpuAdapter } from '../kernels/common.js';
import { mlpLayout } from '../model/mlp.js';
import { modelGroups, pacing } from './gpu-trainer.js';
import { GpuError, type Gpu } from './gpu.js';
import { DivergenceError, type BatchPlan, type EpochRecord } from './plan.js';
import { SCHEDULE_NAMES, type ScheduleSpec } from './schedule.js';
import { train, trainBatch, type BatchOptions } from './train.js';

const SCHEDULES: ScheduleSpec[] = [...SCHEDULE_NAMES, { random: 0.5 }, { early: 7 }];

async function compare(options: BatchOptions) {
  const gpu = await testGpu();
  const onGpu = await trainBatch({ ...options, device: 'gpu', gpu });
  const onCpu = await trainBatch({ ...options, device: 'cpu' });
  expect(onGpu.device).toBe('gpu');
  expect(onCpu.device).toBe('cpu');
  onGpu.models.forEach((g, i) => {
    const c = onCpu.models[i];
    expect(g.history.length).toBe(options.epochs);
    g.history.forEach((h, e) => {
      const r = c.history[e];
      expect(h.mask, `${g.name} epoch ${e} mask`).toEqual(r.mask);
      expect(Math.abs(h.loss - r.loss) / r.loss, `${g.name} epoch ${e} loss ${h.loss} vs ${r.loss}`).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(h.penalty - r.penalty), `${g.name} epoch ${e} penalty`).toBeLessThanOrEqual(1e-4 * Math.max(r.penalty, 1e-3));
      expect(h.trainAccuracy).toBeCloseTo(r.trainAccuracy, 2);
      if (r.valLoss !== undefined) expect(Math.abs(h.valLoss! - r.valLoss) / r.valLoss, `${g.name} epoch ${e} valLoss`).toBeLessThanOrEqual(1e-4);
    });
    expect(relativeError(g.params, c.params), `${g.name} final weights`).toBeLessThanOrEqual(1e-3);
    expect(g.optimizer.step).toBe(c.optimizer.step);
  });
  return { onGpu, onCpu };
}

function models(rows: number, penalty: { lambda: number; mode: 'coupled' | 'decoupled' }, schedules: ScheduleSpec[]) {
  const all = Uint32Array.from({ length: rows }, (_, i) => i);
  // Hold out every 7th row for validation; the rest trains.
  const trainRows = all.filter((i) => i % 7 !== 3);
  const validationRows = all.filter((i) => i % 7 === 3);
  return schedules.map((schedule, i) => ({
    name: `${penalty.mode} ${typeof schedule === 'string' ? schedule : JSON.stringify(schedule)}`,
    trainRows,
    validationRows,
    penalty: { ...penalty, schedule, targets: i % 2 ? ('all' as const) : ('kernels' as const) },
    seed: 11 + i,
  }));
}

describe('GPU trainer = CPU reference trainer', () => {
  for (const mode of ['coupled', 'decoupled'] as const) {
    it(`Iris 4-10-3, 20 epochs, every schedule, ${mode}`, async () => {
      const iris = await loadDataset('iris');
      const { onGpu } = await compare({
        data: iris,
        model: { hidden: [10], activation: 'relu' },
        models: models(iris.rows, { lambda: 0.05, mode }, SCHEDULES),
        epochs: 20,
        batchSize: 16,
        optimizer: { lr: 0.01 },
      });
      // The runs differ from each other (the schedules matter) and learn.
      const finalLoss = onGpu.models.map((m) => m.history[19].loss);
      expect(new Set(finalLoss.map((l) => l.toFixed(6))).size).toBe(SCHEDULES.length);
      expect(Math.max(...finalLoss)).toBeLessThan(onGpu.models[0].history[0].loss);
    });
  }

  it('digits 64-32-10, 20 epochs, every schedule (coupled) and three (decoupled)', async () => {
    const digits = await loadDataset('digits');
    const scaled = { ...digits, x: digits.x.map((v) => v / 16) };
    for (const [mode, schedules] of [['coupled', SCHEDULES], ['decoupled', ['constant', 'alternate', { random: 0.3 }]]] as const) {
      await compare({
        data: scaled,
        model: { hidden: [32], activation: 'tanh' },
        models: models(digits.rows, { lambda: 0.001, mode }, schedules as ScheduleSpec[]),
        epochs: 20,
        batchSize: 64,
        optimizer: { lr: 0.003 },
      });
    }
  });

  it('train() on one model: same history on both devices, sigmoid and two hidden layers', async () => {
    const iris = await loadDataset('iris');
    const options = {
      data: iris,
      model: { hidden: [8, 6], activation: 'sigmoid' as const },
      epochs: 20,
      batchSize: 10,
      seed: 3,
      penalty: { lambda: 0.01, schedule: 'rotate' as const, targets: 'all' as const, convention: 'torch' as const },
    };
    const g = await train({ ...options, device: 'gpu', gpu: await testGpu() });
    const c = await train({ ...options, device: 'cpu' });
    g.history.forEach((h, e) => expect(Math.abs(h.loss - c.history[e].loss) / c.history[e].loss).toBeLessThanOrEqual(1e-4));
    for (const [name, w] of Object.entries(g.weights)) expect(relativeError(w, c.weights[name]), name).toBeLessThanOrEqual(1e-3);
  });
});


describe('a data set larger than one storage binding', () => {
  it('is split into shards that the gather reads in turn: same training as the CPU reference', async () => {
    // A binding limit of 64 Iris rows: x goes up in 3 shards.
    const gpu = withBindingLimit(await testGpu(), 64 * 4 * 4);
    const iris = await loadDataset('iris');
    const options = { data: iris, model: { hidden: [8], activation: 'relu' as const }, epochs: 10, batchSize: 16, seed: 4, penalty: { lambda: 0.01, schedule: 'alternate' as const } };
    const g = await train({ ...options, device: 'gpu', gpu });
    const c = await train({ ...options, device: 'cpu' });
    g.history.forEach((h, e) => expect(Math.abs(h.loss - c.history[e].loss) / c.history[e].loss, `epoch ${e}`).toBeLessThanOrEqual(1e-4));
    expect(relativeError(g.params, c.params)).toBeLessThanOrEqual(1e-3);
  });
});

describe('labels larger than one storage binding', () => {
  it('a GpuError naming the rows, before any GPU buffer (x is sharded, the labels are not)', async () => {
    const real = await testGpu();
    const before = real.liveBuffers;
    const iris = await loadDataset('iris');
    // 100 training rows fit a 512-byte binding; the 150 rows' labels do not.
    const models = [{ trainRows: Uint32Array.from({ length: 100 }, (_, i) => i) }];
    const error = await trainBatch({ data: iris, model: { hidden: [4], activation: 'relu' }, models, epochs: 1, device: 'gpu', gpu: withBindingLimit(real, 512) }).catch((e) => e);
    expect(error).toBeInstanceOf(GpuError);
    expect(error.message).toBe(`the data's 150 labels need 600 bytes, more than ${real.name}'s storage binding of 512 bytes; train on at most 128 rows at once`);
    expect(real.liveBuffers).toBe(before);
  });
});

describe('models that do not fit one storage binding together', () => {
  const batch = async (gpu: Gpu, onEpoch?: (epoch: number, records: EpochRecord[]) => void) => {
    const iris = await loadDataset('iris');
    const ms = models(iris.rows, { lambda: 0.05, mode: 'coupled' }, SCHEDULES).map((m, i) => ({
      ...m,
      // Uneven training sets: the groups' epochs have different step counts.
      trainRows: m.trainRows.subarray(0, m.trainRows.length - 9 * i),
      testRows: Uint32Array.from({ length: 10 + 3 * i }, (_, r) => (r * 7 + 3) % iris.rows),
    }));
    return trainBatch({ data: iris, model: { hidden: [10], activation: 'relu' }, models: ms, epochs: 12, batchSize: 16, optimizer: { lr: 0.01 }, device: 'gpu', gpu, onEpoch });
  };

  it('train in groups, in lockstep: every epoch reported once for all models, results as in one group', async () => {
    const real = await testGpu();
    const whole = await batch(real);
    // 700 bytes: a batch of one model (16 rows × 10 values) fills a binding, so every model is its
    // own group; validation rows (21) and test rows (up to 31) go in parts of 17; x in 11 shards.
    const small = withBindingLimit(real, 700);
    const iris = await loadDataset('iris');
    const plan = { layout: mlpLayout(4, 3, { hidden: [10], activation: 'relu' }), batchSize: 16, data: iris } as unknown as BatchPlan;
    expect(modelGroups(small, { ...plan, models: [{ trainRows: new Uint32Array(120), validationRows: new Uint32Array(22) }, { trainRows: new Uint32Array(120) }] } as BatchPlan).length).toBe(2);
    // The test confusion matrix (100 × 100 counts) counts only where there are test rows.
    const wide = { ...plan, layout: mlpLayout(4, 100, { hidden: [10], activation: 'relu' }) } as BatchPlan;
    const twoModels = (testRows?: Uint32Array) => [0, 1].map(() => ({ trainRows: new Uint32Array(120), ...(testRows ? { testRows } : {}) }));
    expect(modelGroups(withBindingLimit(real, 50_000), { ...wide, models: twoModels() } as BatchPlan)).toHaveLength(1);
    expect(modelGroups(withBindingLimit(real, 50_000), { ...wide, models: twoModels(new Uint32Array(3)) } as BatchPlan)).toHaveLength(2);
    const calls: [number, number][] = [];
    const before = real.liveBuffers;
    const grouped = await batch(small, (epoch, records) => void calls.push([epoch, records.length]));
    expect(real.liveBuffers).toBe(before);
    expect(calls).toEqual(Array.from({ length: 12 }, (_, e) => [e, SCHEDULES.length]));
    grouped.models.forEach((g, i) => {
      const w = whole.models[i];
      expect(g.name).toBe(w.name);
      // Bit for bit, but for the sums of rows in parts (float atomics added in another order).
      const close = (a: number, b: number, what: string) => expect(Math.abs(a - b) / b, `${g.name} ${what}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-6);
      g.history.forEach((h, e) => close(h.valLoss!, w.history[e].valLoss!, `epoch ${e} valLoss`));
      expect(g.history.map(({ valLoss, ...rest }) => rest), g.name).toEqual(w.history.map(({ valLoss, ...rest }) => rest));
      expect(g.params, g.name).toEqual(w.params);
      expect(g.optimizer, g.name).toEqual(w.optimizer);
      close(g.test!.loss, w.test!.loss, 'test loss');
      expect({ ...g.test, loss: 0 }, g.name).toEqual({ ...w.test, loss: 0 });
      expect(g.test!.rows).toBe(10 + 3 * i);
    });
  });

  it('a model of a later group that diverges is named by its index in the whole batch', async () => {
    const iris = await loadDataset('iris');
    const rows = Uint32Array.from({ length: 150 }, (_, i) => i);
    // Model 2's features scaled by 1e37: its logits overflow in the first epoch.
    const scale = (k: number) => ({ scale: new Float32Array(4).fill(k), shift: new Float32Array(4) });
    const ms = [0, 1, 2].map((i) => ({ trainRows: rows, validationRows: rows.subarray(0, 40), name: `m${i}`, standardize: scale(i === 2 ? 1e37 : 1) }));
    const error = await trainBatch({ data: iris, model: { hidden: [10], activation: 'relu' }, models: ms, epochs: 3, device: 'gpu', gpu: withBindingLimit(await testGpu(), 2048) }).catch((e) => e);
    expect(error).toBeInstanceOf(DivergenceError);
    expect([error.model, error.modelName, error.epoch]).toEqual([2, 'm2', 0]);
  });

  it('one model too big for a binding: a GpuError naming what, before any GPU buffer', async () => {
    const real = await testGpu();
    const before = real.liveBuffers;
    await expect(batch(withBindingLimit(real, 512))).rejects.toThrow(
      new GpuError(`one model's batch of 16 rows of up to 10 values needs 640 bytes, more than ${real.name}'s storage binding of 512 bytes; train with device: 'cpu' (the CPU reference trainer has no such limit)`),
    );
    expect(real.liveBuffers).toBe(before);
  });
});

describe('Dawn on a CPU adapter (submit() runs the work)', () => {
  it('an epoch goes in several submissions with the event loop between them: an abort from a timer stops it within the epoch', async () => {
    const gpu = await testGpu();
    if (!isCpuAdapter(gpu)) return expect(gpu.adapter.backend).not.toBe('dawn-opengles');
    const iris = await loadDataset('iris');
    const controller = new AbortController();
    const seen: number[] = [];
    const before = gpu.liveBuffers;
    // Fires at the first pause: after the first submission, within the first epoch's 13 steps.
    setTimeout(() => controller.abort(new Error('stopped by a timer')), 0);
    const error = await train({ data: iris, model: { hidden: [10], activation: 'relu' }, epochs: 3, batchSize: 12, device: 'gpu', gpu, signal: controller.signal, onEpoch: (h) => void seen.push(h.epoch) }).catch((e) => e);
    expect(error.message).toBe('stopped by a timer');
    expect(seen).toEqual([]);
    expect(gpu.liveBuffers).toBe(before);
  });

  it('onStep reports the steps done between submissions; a throw in it stops training', async () => {
    const gpu = await testGpu();
    if (!isCpuAdapter(gpu)) return expect(gpu.adapter.backend).not.toBe('dawn-opengles');
    const iris = await loadDataset('iris');
    const o = { data: iris, model: { hidden: [10], activation: 'relu' as const }, epochs: 2, batchSize: 12, device: 'gpu' as const, gpu };
    const steps: [number, number, number][] = [];
    await train({ ...o, onStep: (epoch, step, of) => void steps.push([epoch, step, of]) });
    // The first submission is one step (the pacer knows no step's time yet).
    expect(steps[0]).toEqual([0, 1, 13]);
    for (const [epoch, step, of] of steps) expect(epoch >= 0 && epoch < 2 && step >= 1 && step < of && of === 13).toBe(true);
    const before = gpu.liveBuffers;
    const stop = new Error('enough');
    await expect(train({ ...o, onStep: () => { throw stop; } })).rejects.toBe(stop);
    expect(gpu.liveBuffers).toBe(before);
  });
});

describe('where submit() does not run the work (GPUs, browsers)', () => {
  it('epochs go whole unless the first step or an epoch shows them long; then Stop and onStep act within an epoch', async () => {
    const real = await testGpu();
    // The same device, presented as a browser's: its submissions are taken as not blocking.
    const gpu = Object.create(real, { adapter: { value: { ...real.adapter, backend: 'browser' } } }) as Gpu;
    const iris = await loadDataset('iris');
    const o = { data: iris, model: { hidden: [10], activation: 'relu' as const }, epochs: 6, batchSize: 12, device: 'gpu' as const, gpu };
    const steps: [number, number][] = [];
    const whole = await train({ ...o, onStep: (epoch, step) => void steps.push([epoch, step]) });
    expect(steps).toEqual([]);
    const saved = { ...pacing };
    Object.assign(pacing, { longEpochMs: 0, submitMs: 0 });
    try {
      // Every epoch counts as long: one step per submission from the first.
      const paced = await train({ ...o, onStep: (epoch, step) => void steps.push([epoch, step]) });
      expectSameHistory(paced.history, whole.history, 'paced');
      expect(paced.params).toEqual(whole.params);
      expect(steps.length).toBeGreaterThan(0);
      const controller = new AbortController();
      const seen: number[] = [];
      const before = real.liveBuffers;
      let at: [number, number] | null = null;
      const error = await train({
        ...o,
        signal: controller.signal,
        onEpoch: (h) => void seen.push(h.epoch),
        onStep: (epoch, step) => {
          at ??= [epoch, step];
          controller.abort(new Error('stop'));
        },
      }).catch((e) => e);
      expect(error.message).toBe('stop');
      // Stopped inside the epoch it was told in (the first: its first step is timed alone), which
      // was never reported.
      expect(at![0]).toBe(0);
      expect(at![1]).toBeGreaterThan(0);
      expect(at![1]).toBeLessThan(13);
      expect(seen).not.toContain(at![0]);
      expect(real.liveBuffers).toBe(before);
    } finally {
      Object.assign(pacing, saved);
    }
  });
});

describe('the CPU reference trainer', () => {
  it('onStep reports the steps of a long epoch in order', async () => {
    const rows = 4000;
    const data = { x: Float32Array.from({ length: rows * 40 }, (_, i) => Math.sin(i)), y: Uint32Array.from({ length: rows }, (_, i) => i % 3), features: 40, classes: 3 };
    const seen: [number, number, number][] = [];
    await train({ data, model: { hidden: [32], activation: 'relu' }, epochs: 1, batchSize: 1, device: 'cpu', onStep: (epoch, step, steps) => void seen.push([epoch, step, steps]) });
    expect(seen.length).toBeGreaterThan(0);
    seen.forEach(([epoch, step, steps], i) => {
      expect([epoch, steps]).toEqual([0, rows]);
      expect(step).toBeGreaterThan(i > 0 ? seen[i - 1][1] : 0);
    });
  });
});

describe('a batchSize larger than the training set', () => {
  it('trains exactly as a batch of the whole set, on both devices, with buffers for the rows that exist; checkpoints keep the batchSize asked for', async () => {
    const iris = await loadDataset('iris');
    // 64 KiB per storage binding: one batch of Iris's 150 rows fits, one of a million does not.
    const gpu = withBindingLimit(await testGpu(), 64 << 10);
    const options = { data: iris, model: { hidden: [10], activation: 'relu' as const }, epochs: 8, seed: 5, optimizer: { lr: 0.05 }, penalty: { lambda: 0.01, schedule: 'alternate' as const } };
    for (const device of [{ device: 'gpu' as const, gpu }, { device: 'cpu' as const }]) {
      const whole = await train({ ...options, ...device, batchSize: iris.rows });
      const huge = await train({ ...options, ...device, batchSize: 1_000_000 });
      expect(huge.device).toBe(device.device);
      expectSameHistory(huge.history, whole.history, device.device);
      expect(huge.params, device.device).toEqual(whole.params);
      expect(huge.checkpoint().manifest.config.batchSize).toBe(1_000_000);
      expect(whole.checkpoint().manifest.config.batchSize).toBe(150);
      // Resuming compares the batchSize asked for.
      const more = await train({ ...options, ...device, batchSize: 1_000_000, epochs: 1, resume: huge.checkpoint() });
      expect(more.history).toHaveLength(9);
    }
  });
});

/**
 * Two runs' histories, equal bit for bit but for the loss sums: on the GPU each batch's loss is
 * added into its sum with float atomics, in the order the invocations run (on llvmpipe, its
 * threads'), so two runs of one model may differ in the last bits (to 1e-6 relative here).
 */
function expectSameHistory(a: EpochRecord[], b: EpochRecord[], label: string): void {
  expect(a.length, label).toBe(b.length);
  a.forEach((h, e) => {
    for (const key of ['loss', 'valLoss'] as const) {
      const [x, y] = [h[key], b[e][key]];
      if (x === undefined || y === undefined) expect(x, `${label} epoch ${e} ${key}`).toBe(y);
      else expect(Math.abs(x - y), `${label} epoch ${e} ${key}: ${x} vs ${y}`).toBeLessThanOrEqual(1e-6 * Math.abs(y));
    }
  });
  const rest = (h: EpochRecord[]) => h.map(({ loss, valLoss, ...other }) => other);
  expect(rest(a), label).toEqual(rest(b));
}
