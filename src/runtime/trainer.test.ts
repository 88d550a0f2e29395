// The GPU trainer against the CPU reference trainer: same seeds, same init, same batches; every
// schedule and both penalty modes trained side by side in one batch.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { testGpu } from '../testing/gpu.js';
import { relativeError } from '../testing/random.js';
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
    const real = await testGpu();
    // The same device, reporting a binding limit of 16 Iris rows: x goes up in 10 shards.
    const limits = new Proxy(real.device.limits, {
      get: (target, key) => (key === 'maxStorageBufferBindingSize' ? 16 * 4 * 4 : Reflect.get(target, key)),
    });
    const device = new Proxy(real.device, {
      get(target, key) {
        if (key === 'limits') return limits;
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const gpu = Object.create(real, { device: { value: device } }) as typeof real;
    const iris = await loadDataset('iris');
    const options = { data: iris, model: { hidden: [8], activation: 'relu' as const }, epochs: 10, batchSize: 16, seed: 4, penalty: { lambda: 0.01, schedule: 'alternate' as const } };
    const g = await train({ ...options, device: 'gpu', gpu });
    const c = await train({ ...options, device: 'cpu' });
    g.history.forEach((h, e) => expect(Math.abs(h.loss - c.history[e].loss) / c.history[e].loss, `epoch ${e}`).toBeLessThanOrEqual(1e-4));
    expect(relativeError(g.params, c.params)).toBeLessThanOrEqual(1e-3);
  });
});
