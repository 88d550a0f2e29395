// Bad input is refused before any GPU work, with an error naming the field and what is valid;
// a diverging run stops with an error naming the epoch; 200 runs leak no GPU buffer.
import { describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { cachedObjectCount, isCpuAdapter } from '../kernels/common.js';
import { DEFAULT_TILES, setMatmulStrategy } from '../kernels/matmul.js';
import { GpuError, sharedGpu, type Gpu } from './gpu.js';
import { testGpu } from '../testing/gpu.js';
import { stratifiedKFold } from '../data/split.js';
import { DivergenceError, type TrainData } from './plan.js';
import { ScheduleError } from './schedule.js';
import { train, trainBatch, TrainOptionsError, type BatchOptions, type TrainOptions } from './train.js';

// The shared device as it is, counted: an aborted run must not open one.
vi.mock('./gpu.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./gpu.js')>();
  return { ...actual, sharedGpu: vi.fn(actual.sharedGpu) };
});

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
    ['x that is not whole rows', (o) => ({ ...o, data: { ...o.data, x: o.data.x.subarray(0, 598) } }), /^data\.x has 598 values, not a whole number of rows of 4 features \(the 150 labels of data\.y need 600\)$/],
    ['an x a row short', (o) => ({ ...o, data: { ...o.data, x: o.data.x.subarray(0, 596) } }), /^data\.y has 150 labels but data\.x holds 149 rows \(596 values ÷ 4 features\)/],
    ['a y shorter than x has rows', (o) => ({ ...o, data: { ...o.data, y: o.data.y.subarray(0, 149) } }), /^data\.y has 149 labels but data\.x holds 150 rows \(600 values ÷ 4 features\); every row needs one label$/],
    ['validation with other features', (o) => ({ ...o, validation: { ...o.data, features: 2, x: new Float32Array(300) } }), /validation.features is 2, the training data has 4/],
    ['λ < 0', (o) => ({ ...o, penalty: { lambda: -0.1 } }), /penalty.lambda must be a number from 0 to 1.7e38 \(2λ must fit in a float32\), got -0.1/],
    ['λ as a string', (o) => ({ ...o, penalty: { lambda: '0.01' as never } }), /^penalty\.lambda must be a number from 0 to 1\.7e38 \(2λ must fit in a float32\), got "0\.01"$/],
    ['λ NaN', (o) => ({ ...o, penalty: { lambda: NaN } }), /^penalty\.lambda must be a number from 0 to 1\.7e38 \(2λ must fit in a float32\), got NaN$/],
    ['λ whose 2λ overflows float32', (o) => ({ ...o, penalty: { lambda: 1e39 } }), /penalty.lambda must be a number from 0 to 1.7e38 \(2λ must fit in a float32\), got 1e\+39/],
    ['lr ≤ 0', (o) => ({ ...o, optimizer: { lr: 0 } }), /optimizer.lr must be a finite number > 0, got 0/],
    ['beta1 = 1', (o) => ({ ...o, optimizer: { beta1: 1 } }), /optimizer.beta1 must be in \[0, 1\), got 1/],
    // Valid in float64 but not in the float32 the kernels compute in.
    ['lr that is 0 in float32', (o) => ({ ...o, optimizer: { lr: 1e-50 } }), /^optimizer\.lr must be a finite number > 0, got 1e-50, which is 0 in float32; valid: about 1\.18e-38 to 3\.4e38 \(a normal float32: the GPU computes in float32 and may flush smaller numbers to 0\)$/],
    ['beta1 that is 1 in float32', (o) => ({ ...o, optimizer: { beta1: 0.99999999 } }), /^optimizer\.beta1 must be in \[0, 1\), got 0\.99999999, which is 1 in float32; valid: from 0 to 0\.99999994 /],
    ['epsilon that is 0 in float32', (o) => ({ ...o, optimizer: { epsilon: 1e-46 } }), /^optimizer\.epsilon must be a finite number > 0, got 1e-46, which is 0 in float32; valid: about 1\.18e-38 to 3\.4e38 \(a normal float32/],
    ['epsilon that is Infinity in float32', (o) => ({ ...o, optimizer: { epsilon: 1e39 } }), /^optimizer\.epsilon must be a finite number > 0, got 1e\+39, which is Infinity in float32; valid: about 1\.18e-38/],
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
  it('options that are not an object, naming the function and the valid keys', async () => {
    for (const [bad, got] of [[null, 'null'], [[], 'Array'], ['iris', '"iris"']] as const) {
      await expect(train(bad as never)).rejects.toThrow(new RegExp(`^train: options must be an object with keys model, epochs, .*, resume, got ${got}$`));
      await expect(trainBatch(bad as never)).rejects.toThrow(new RegExp(`^trainBatch: options must be an object with keys model, .*, models, onEpoch, got ${got}$`));
    }
  });

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

// A misspelt key used to be ignored: `penalty: { lamda: 0.1 }` trained with no penalty at all.
describe('unknown keys are refused by path, with the valid keys and a near one', () => {
  const PENALTY = 'valid keys of penalty: lambda, mode, convention, targets, schedule';
  const cases: [string, (o: TrainOptions) => object, RegExp][] = [
    ['penalty.lamda', (o) => ({ ...o, penalty: { lamda: 0.1 } }), new RegExp(`^unknown option penalty\\.lamda \\(did you mean penalty\\.lambda\\?\\); ${PENALTY}$`)],
    ['lr at the top level', (o) => ({ ...o, lr: 0.1 }), /^train: unknown option lr \(did you mean optimizer\.lr\?\); valid options: model, epochs, batchSize, shuffle, optimizer, device, gpu, signal, onStep, data, validation, init, seed, penalty, standardize, onEpoch, resume$/],
    ['lambda at the top level', (o) => ({ ...o, lambda: 0.1 }), /^train: unknown option lambda \(did you mean penalty\.lambda\?\)/],
    ['batchsize', (o) => ({ ...o, batchsize: 8 }), /^train: unknown option batchsize \(did you mean batchSize\?\)/],
    ['optimizer.learningRate', (o) => ({ ...o, optimizer: { learningRate: 0.1 } }), /^unknown option optimizer\.learningRate; valid keys of optimizer: kind, lr, beta1, beta2, epsilon$/],
    ['model.dropout', (o) => ({ ...o, model: { ...o.model, dropout: 0.5 } }), /^unknown option model\.dropout; valid keys of model: hidden, activation$/],
    ['init.sed', (o) => ({ ...o, init: { sed: 3 } }), /^unknown option init\.sed \(did you mean init\.seed\?\); valid keys of init: seed, weights$/],
    ['standardize.center', (o) => ({ ...o, standardize: { scale: new Float32Array(4), shift: new Float32Array(4), center: true } }), /^unknown option standardize\.center; valid keys of standardize: scale, shift, mean, std$/],
    ['data.weights', (o) => ({ ...o, data: { ...o.data, weights: new Float32Array(150) } }), /^unknown option data\.weights; valid keys of data: x, y, features, classes, name, rows, featureNames, classNames$/],
    ['validation.label', (o) => ({ ...o, validation: { ...o.data, label: 1 } }), /^unknown option validation\.label; valid keys of validation: x, y, features/],
    ['a penalty that is not an object', (o) => ({ ...o, penalty: 0.1 }), /^penalty must be an object with keys lambda, mode, convention, targets, schedule, got 0\.1$/],
    ['init with both seed and weights', (o) => ({ ...o, init: { seed: 1, weights: {} } }), /^init takes seed or weights, not both$/],
    ['a schedule object with two keys', (o) => ({ ...o, penalty: { lambda: 0.1, schedule: { random: 0.5, early: 3 } } }), /^penalty\.schedule: unknown schedule \{"random":0\.5,"early":3\}/],
  ];
  for (const [what, change, message] of cases) {
    it(what, async () => {
      const o = change(await base()) as TrainOptions;
      await expect(train(o)).rejects.toThrow(TrainOptionsError);
      await expect(train(o)).rejects.toThrow(message);
    });
  }

  it('trainBatch: the top level and every models[i] entry', async () => {
    const { onEpoch: _, ...o } = await base();
    const rows = Uint32Array.of(0, 1, 2);
    const batch = (change: Partial<BatchOptions>) => trainBatch({ ...o, models: [{ trainRows: rows }, { trainRows: rows }, { trainRows: rows }], ...change } as BatchOptions);
    await expect(batch({ models: [{ trainRows: rows }, { trainRows: rows }, { trainRows: rows, sed: 3 } as never] })).rejects.toThrow(
      /^unknown option models\[2\]\.sed \(did you mean models\[2\]\.seed\?\); valid keys of models\[2\]: trainRows, validationRows, testRows, standardize, penalty, seed, init, name, resume$/,
    );
    await expect(batch({ models: [{ trainRows: rows, penalty: { lamda: 0.1 } as never }] })).rejects.toThrow(/^unknown option models\[0\]\.penalty\.lamda \(did you mean models\[0\]\.penalty\.lambda\?\)/);
    await expect(batch({ models: [{ trainRows: rows, lambda: 0.1 } as never] })).rejects.toThrow(/^unknown option models\[0\]\.lambda \(did you mean models\[0\]\.penalty\.lambda\?\)/);
    await expect(batch({ penalty: { lambda: 0.1 } } as never)).rejects.toThrow(/^trainBatch: unknown option penalty \(did you mean models\[i\]\.penalty\?\); valid options: model, epochs, batchSize, shuffle, optimizer, device, gpu, signal, onStep, data, models, onEpoch$/);
    await expect(batch({ optimizer: { lr: 0.1, beta: 0.9 } as never })).rejects.toThrow(/^unknown option optimizer\.beta; valid keys of optimizer/);
  });

  it('a Dataset (with its name, rows and column names) is accepted as data and validation', async () => {
    const iris = await loadDataset('iris');
    const run = await train({ data: iris, validation: iris, model: { hidden: [4], activation: 'relu' }, epochs: 1, device: 'cpu' });
    expect(run.history[0].valAccuracy).toBeGreaterThan(0);
    const batch = await trainBatch({ data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 1, device: 'cpu', models: [{ trainRows: Uint32Array.of(0, 60, 120), name: 'a' }] });
    expect(batch.models[0].name).toBe('a');
  });
});

describe('callbacks and schedule functions are checked before any GPU work', () => {
  it('an onEpoch that is not a function', async () => {
    const o = { ...(await base()), onEpoch: 5 as never };
    await expect(train(o)).rejects.toThrow(TrainOptionsError);
    await expect(train(o)).rejects.toThrow(/^onEpoch must be a function, got 5$/);
    const { onEpoch: _, ...b } = o;
    await expect(trainBatch({ ...b, models: [{ trainRows: Uint32Array.of(0) }], onEpoch: 'log' as never })).rejects.toThrow(/^onEpoch must be a function, got "log"$/);
  });

  it('a schedule function returning a mask of the wrong length is called for the first epoch up front', async () => {
    let calls = 0;
    const schedule = () => (calls++, [true]);
    const o = { ...(await base()), penalty: { lambda: 0.1, schedule } };
    await expect(train(o)).rejects.toThrow(TrainOptionsError);
    await expect(train(o)).rejects.toThrow(/^penalty\.schedule: schedule function returned \[true\] for epoch 0; expected 2 booleans \(dense_0\/kernel, dense_1\/kernel\)$/);
    expect(calls).toBe(2);
    const { onEpoch: _, penalty: __, ...b } = o;
    const good = { trainRows: Uint32Array.of(0) };
    await expect(trainBatch({ ...b, models: [good, { ...good, penalty: { schedule } }] })).rejects.toThrow(/^models\[1\]\.penalty\.schedule: schedule function returned \[true\] for epoch 0/);
  });

  it('a mask that goes wrong at a later epoch is still caught at that epoch', async () => {
    const iris = await loadDataset('iris');
    const schedule = (epoch: number, names: string[]) => (epoch < 2 ? names.map(() => true) : [true]);
    const error = await train({ data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 4, device: 'cpu', penalty: { lambda: 0.1, schedule } }).catch((e) => e);
    expect(error).toBeInstanceOf(ScheduleError);
    expect(error.message).toMatch(/schedule function returned \[true\] for epoch 2; expected 2 booleans/);
  });
});

describe('schedules as text, as the CLI takes them', () => {
  it("'random:0.5' and 'early:3' train exactly as { random: 0.5 } and { early: 3 }", async () => {
    const iris = await loadDataset('iris');
    const o: TrainOptions = { data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 6, batchSize: 50, seed: 3, device: 'cpu' };
    for (const [text, spec] of [['random:0.5', { random: 0.5 }], [' early:3', { early: 3 }]] as const) {
      const a = await train({ ...o, penalty: { lambda: 0.1, schedule: text as 'random:0.5' } });
      const b = await train({ ...o, penalty: { lambda: 0.1, schedule: spec } });
      expect(a.history.map((h) => h.mask)).toEqual(b.history.map((h) => h.mask));
      expect(Array.from(a.params)).toEqual(Array.from(b.params));
      expect(a.checkpoint().manifest.config.penalty.schedule).toBe(text.trim());
    }
    const masks = (await train({ ...o, penalty: { lambda: 0.1, schedule: 'early:3' } })).history.map((h) => h.mask.join());
    expect(masks).toEqual(['true,true', 'true,true', 'true,true', 'false,false', 'false,false', 'false,false']);
  });

  it('a bad text schedule names the field and what is valid', async () => {
    await expect(train({ ...(await base()), penalty: { schedule: 'random:2' as 'random:0.5' } })).rejects.toThrow(/^penalty\.schedule: random:P needs 0 ≤ P ≤ 1, got 2$/);
    await expect(train({ ...(await base()), penalty: { schedule: 'early:1.5' as 'early:1' } })).rejects.toThrow(/^penalty\.schedule: early:E needs an integer E ≥ 0, got 1\.5$/);
  });
});

describe('messages name the argument and the model', () => {
  async function trained() {
    const iris = await loadDataset('iris');
    return { iris, run: await train({ data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 1, device: 'cpu' }) };
  }

  it('predict(x) with a NaN, an Array or a partial row', async () => {
    const { iris, run } = await trained();
    const x = iris.x.slice(0, 8);
    x[5] = NaN;
    await expect(run.predict(x)).rejects.toThrow(/^predict\(x\): x row 1, feature 1 is NaN; features must be finite$/);
    await expect(run.predict(Array.from(iris.x.subarray(0, 8)) as never)).rejects.toThrow(/^predict\(x\): x must be a Float32Array \(rows × 4 features, row-major\), got Array$/);
    await expect(run.predict(new Float32Array(7))).rejects.toThrow(/^predict\(x\): x has 7 values, not a whole number \(≥ 1\) of rows of 4 features$/);
  });

  it('evaluate(x, y) with a y of the wrong length', async () => {
    const { iris, run } = await trained();
    await expect(run.evaluate(iris.x, iris.y.subarray(0, 149))).rejects.toThrow(/^evaluate\(x, y\): y has 149 labels but x holds 150 rows \(600 values ÷ 4 features\)/);
  });

  it('trainBatch names the model even when it is alone, and the models whose modes differ', async () => {
    const { onEpoch: _, ...o } = await base();
    const rows = Uint32Array.of(0, 1, 999);
    await expect(trainBatch({ ...o, models: [{ trainRows: rows }] })).rejects.toThrow(/^models\[0\]\.trainRows\[2\] is 999; the data has 150 rows$/);
    await expect(trainBatch({ ...o, models: [{ trainRows: Uint32Array.of(0) }, { trainRows: rows }] })).rejects.toThrow(/^models\[1\]\.trainRows\[2\] is 999/);
    await expect(
      trainBatch({ ...o, models: [{ trainRows: Uint32Array.of(0) }, { trainRows: Uint32Array.of(1), penalty: { mode: 'decoupled' } }] }),
    ).rejects.toThrow(/^models\[1\]\.penalty\.mode is 'decoupled' but models\[0\]\.penalty\.mode is 'coupled': all models of a batch must share penalty\.mode/);
  });

  // (src/data/split.ts's message, tested here beside the other message fixes)
  it('stratifiedKFold counts a smallest class of one row in the singular', () => {
    expect(() => stratifiedKFold(Uint32Array.of(0, 0, 0, 1), 2, 2, 1)).toThrow(/class 1 has 1 row, fewer than k = 2; .*\(the smallest class has 1 row\)$/);
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
      // In trainBatch, a model that has a name is named too (which arm and fold, in runExperiment).
      const rows = Uint32Array.from({ length: 150 }, (_, i) => i);
      const { data, model, epochs, optimizer } = o;
      const batch = await trainBatch({ data, model, epochs, optimizer, device, ...(o.gpu ? { gpu: o.gpu } : {}), models: [{ trainRows: rows, name: 'alternate fold 3' }] }).catch((e) => e);
      expect(batch).toBeInstanceOf(DivergenceError);
      expect(batch.message).toMatch(/^training diverged at epoch \d+ \(model 0, alternate fold 3\): the training loss is (NaN|Infinity); lower the learning rate$/);
      expect([batch.model, batch.modelName]).toEqual([0, 'alternate fold 3']);
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

describe('GPU hygiene when building the trainer fails', () => {
  it('a failure at any point of building the trainer frees every buffer made until then', async () => {
    const gpu = await testGpu();
    const iris = await loadDataset('iris');
    const rows = (from: number) => Uint32Array.from({ length: 40 }, (_, i) => from + i);
    const o: BatchOptions = {
      data: iris,
      model: { hidden: [6, 5], activation: 'relu' },
      epochs: 1,
      device: 'gpu',
      gpu,
      models: [{ trainRows: rows(0), validationRows: rows(50), testRows: rows(100) }],
    };
    await trainBatch(o); // warm-up: shared placeholders and pipelines
    const device = gpu.device;
    const createBindGroup = device.createBindGroup.bind(device);
    let calls = 0;
    let failAt = 0;
    device.createBindGroup = (d) => {
      if (++calls === failAt) throw new Error(`refused bind group ${calls}`);
      return createBindGroup(d);
    };
    try {
      await trainBatch(o);
      const total = calls; // the bind groups of one trainer: training, validation and test rows
      expect(total).toBeGreaterThan(8);
      const before = gpu.liveBuffers;
      for (failAt = 1; failAt <= total; failAt++) {
        calls = 0;
        await expect(trainBatch(o), `failing at bind group ${failAt}`).rejects.toThrow(`refused bind group ${failAt}`);
        expect(gpu.liveBuffers, `live buffers after failing at bind group ${failAt} of ${total}`).toBe(before);
      }
      // Evaluating a trained model builds its own rows on the GPU: the same holds there.
      failAt = 0;
      const run = await train({ data: iris, model: o.model, epochs: 1, device: 'gpu', gpu });
      calls = 0;
      await run.evaluate(iris.x, iris.y);
      const evaluation = calls;
      expect(evaluation).toBeGreaterThan(1);
      for (failAt = 1; failAt <= evaluation; failAt++) {
        calls = 0;
        await expect(run.evaluate(iris.x, iris.y)).rejects.toThrow(`refused bind group ${failAt}`);
        expect(gpu.liveBuffers, `live buffers after failing at evaluation bind group ${failAt} of ${evaluation}`).toBe(before);
      }
    } finally {
      device.createBindGroup = createBindGroup;
    }
  });
});

describe('what the device refuses while building', () => {
  it('a command the device rejects fails that build with a GpuError, frees its buffers, and the next run is clean', async () => {
    const gpu = await testGpu();
    const iris = await loadDataset('iris');
    const o: TrainOptions = { data: iris, model: { hidden: [5], activation: 'relu' }, epochs: 1, device: 'gpu', gpu };
    await train(o);
    const before = gpu.liveBuffers;
    const device = gpu.device;
    const createBindGroup = device.createBindGroup.bind(device);
    let calls = 0;
    // The third bind group binds far past its buffer's end: a validation error, not an exception.
    device.createBindGroup = (d) => {
      if (++calls !== 3) return createBindGroup(d);
      const [first, ...rest] = Array.from(d.entries);
      return createBindGroup({ ...d, entries: [{ ...first, resource: { ...(first.resource as GPUBufferBinding), size: 1 << 30 } }, ...rest] });
    };
    let error: Error;
    try {
      error = await train(o).catch((e) => e);
    } finally {
      device.createBindGroup = createBindGroup;
    }
    expect(error).toBeInstanceOf(GpuError);
    expect(error.message).toMatch(/^building the trainer failed on .+: /);
    expect(gpu.liveBuffers).toBe(before);
    const next = await train(o);
    expect(next.history).toHaveLength(1);
  });

  it('a signal that is not an AbortSignal is refused before any work', async () => {
    const iris = await loadDataset('iris');
    const error = await train({ data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 1, device: 'cpu', signal: {} as AbortSignal }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainOptionsError);
    expect(error.message).toBe('signal must be an AbortSignal (new AbortController().signal), got Object');
  });

  it('more parameters than the limit is refused before any GPU work', async () => {
    const iris = await loadDataset('iris');
    const untouchable = new Proxy({}, { get: (_, key) => { throw new Error(`GPU touched (${String(key)})`); } }) as Gpu;
    const error = await train({ data: iris, model: { hidden: [65536, 65536], activation: 'relu' }, epochs: 1, device: 'gpu', gpu: untouchable }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainOptionsError);
    expect(error.message).toBe(
      "model: 1 model × 4,295,557,123 parameters is more than 268,435,456 (1 GiB of float32 for each of the weights, the gradients and Adam's two moments)",
    );
  });
});

describe('a gpu that is not a device', () => {
  // It used to fail inside the trainer with "gpu.build is not a function".
  for (const [what, gpu] of [['{}', {}], ['a GPUDevice-like object', { device: {}, queue: {} }], ['a string', 'gpu']] as const) {
    it(what, async () => {
      const iris = await loadDataset('iris');
      for (const device of ['gpu', 'auto', 'cpu'] as const) {
        const error = await train({ data: iris, model: { hidden: [4], activation: 'relu' }, epochs: 1, device, gpu: gpu as never }).catch((e) => e);
        expect(error).toBeInstanceOf(TrainOptionsError);
        expect(error.message).toBe(`gpu must be a device from requestGpu() or sharedGpu(), got ${typeof gpu === 'string' ? '"gpu"' : 'Object'}`);
      }
    });
  }
});

describe('onEpoch may be async', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    const o = async (onEpoch: TrainOptions['onEpoch']): Promise<TrainOptions> => ({
      data: await loadDataset('iris'),
      model: { hidden: [4], activation: 'relu' },
      epochs: 4,
      batchSize: 50,
      device,
      gpu: await testGpu(),
      onEpoch,
    });

    it(`${device}: a throw or a rejection rejects train() with that error${device === 'gpu' ? ' and frees GPU memory' : ''}`, async () => {
      const gpu = await testGpu();
      const before = gpu.liveBuffers;
      const thrown = new Error('thrown at epoch 1');
      const sync = await train(await o((h) => {
        if (h.epoch === 1) throw thrown;
      })).catch((e) => e);
      expect(sync).toBe(thrown);
      if (device === 'gpu') expect(gpu.liveBuffers).toBe(before);
      // Not awaited, a rejection used to escape as an unhandled rejection and train() resolved.
      const rejected = new Error('rejected at epoch 2');
      const seen: number[] = [];
      const async = await train(await o(async (h) => {
        seen.push(h.epoch);
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (h.epoch === 2) throw rejected;
      })).catch((e) => e);
      expect(async).toBe(rejected);
      expect(seen).toEqual([0, 1, 2]);
      if (device === 'gpu') expect(gpu.liveBuffers).toBe(before);
    });

    it(`${device}: each call is awaited before the next, and train() resolves after the last`, async () => {
      const events: string[] = [];
      const run = await train(await o(async (h) => {
        events.push(`start ${h.epoch}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        events.push(`end ${h.epoch}`);
      }));
      expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
      expect(run.history).toHaveLength(4);
    });
  }

  it('trainBatch: a rejection rejects it with that error', async () => {
    const iris = await loadDataset('iris');
    const rejected = new Error('batch listener failed');
    const error = await trainBatch({
      data: iris,
      model: { hidden: [4], activation: 'relu' },
      epochs: 3,
      device: 'cpu',
      models: [{ trainRows: Uint32Array.of(0, 50, 100) }, { trainRows: Uint32Array.of(1, 51, 101) }],
      onEpoch: async (epoch, records) => {
        expect(records).toHaveLength(2);
        if (epoch === 1) throw rejected;
      },
    }).catch((e) => e);
    expect(error).toBe(rejected);
  });
});

describe('an already aborted signal', () => {
  it('stops train() and trainBatch() before a device is opened', async () => {
    const iris = await loadDataset('iris');
    const controller = new AbortController();
    const reason = new Error('aborted before the start');
    controller.abort(reason);
    vi.mocked(sharedGpu).mockClear();
    const common = { data: iris, model: { hidden: [4], activation: 'relu' as const }, epochs: 1, signal: controller.signal };
    for (const device of ['auto', 'gpu'] as const) {
      await expect(train({ ...common, device })).rejects.toBe(reason);
      await expect(trainBatch({ ...common, device, models: [{ trainRows: Uint32Array.of(0, 1) }] })).rejects.toBe(reason);
    }
    expect(sharedGpu).not.toHaveBeenCalled();
    // The options are still checked first.
    await expect(train({ ...common, epochs: 0 })).rejects.toThrow(TrainOptionsError);
  });
});

describe('cancellation and standardization', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    it(`${device}: an aborted signal stops training with its reason${device === 'gpu' ? ' and frees GPU memory' : ''}`, async () => {
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
      // The CPU trainer makes no GPU buffers: only the GPU case can leak.
      if (device === 'gpu') expect(gpu.liveBuffers).toBe(before);
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
      // fitStandardizer's result is taken as it is (its mean and std were refused as unknown
      // options) and trains the same model; the run keeps only the affine.
      const c = await train({ ...common, data: iris, standardize: s });
      for (const name of Object.keys(a.weights)) expect(Array.from(c.weights[name]), name).toEqual(Array.from(a.weights[name]));
      expect(Object.keys(c.standardize!).sort()).toEqual(['scale', 'shift']);
      expect(c.checkpoint().manifest.config.standardize).toBe(a.checkpoint().manifest.config.standardize);
    });
  }
});

describe('shapes a CPU adapter cannot run are refused before any GPU work, naming the option', () => {
  /** The test device, failing the test if any work is asked of it (its adapter and limits may be read). */
  async function workless(): Promise<Gpu> {
    const work = new Set(['build', 'createBuffer', 'createStorage', 'submit', 'readBytes', 'readFloat32', 'readUint32']);
    return new Proxy(await testGpu(), {
      get: (target, key) => (work.has(String(key)) ? () => { throw new Error(`GPU work (${String(key)}) before the shapes were checked`); } : Reflect.get(target, key)),
    });
  }
  const synthetic = (rows: number, features: number): TrainData => ({
    x: Float32Array.from({ length: rows * features }, (_, i) => (i % 7) / 7),
    y: Uint32Array.from({ length: rows }, (_, i) => i % 2),
    features,
    classes: 2,
  });
  const cpuTrains = "or train with device: 'cpu' (the CPU reference trainer has no such limit)";

  it('a batch of more rows than a matrix product may sum over, after capping it to the training rows', async () => {
    const gpu = await workless();
    if (!isCpuAdapter(gpu)) return;
    const on = `on ${gpu.name}, which ends an invocation's loops after 65,535 iterations`;
    const o = { data: synthetic(60_000, 2), model: { hidden: [3], activation: 'relu' as const }, epochs: 1, device: 'gpu' as const, gpu };
    const error = await train({ ...o, batchSize: 50_000 }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainOptionsError);
    expect(error.message).toBe(`batchSize 50000: the weight gradients sum over a batch's rows, at most 39,732 ${on}; use batchSize ≤ 39732, ${cpuTrains}`);
    await expect(train({ ...o, batchSize: 1_000_000 })).rejects.toThrow(`batchSize 1000000 (capped to the 60,000 rows of the largest training set): the weight gradients`);
    // A million capped to 30,000 training rows passes (and goes on to the GPU work).
    await expect(train({ ...o, data: synthetic(30_000, 2), batchSize: 1_000_000 })).rejects.toThrow('GPU work (build) before the shapes were checked');
    await expect(train({ ...o, device: 'auto', batchSize: 50_000 })).rejects.toThrow(TrainOptionsError);
    const run = await train({ ...o, device: 'cpu', batchSize: 50_000 });
    expect(run.history).toHaveLength(1);
  });

  it("more features or a wider hidden layer than a matrix product's inner dimension may be", async () => {
    const gpu = await workless();
    if (!isCpuAdapter(gpu)) return;
    const on = `on ${gpu.name}, which ends an invocation's loops after 65,535 iterations`;
    const iris = await loadDataset('iris');
    const wide = await train({ data: synthetic(4, 45_000), model: { hidden: [2], activation: 'relu' }, epochs: 1, device: 'gpu', gpu }).catch((e) => e);
    expect(wide).toBeInstanceOf(TrainOptionsError);
    expect(wide.message).toBe(`data.features = 45000: the inputs of layer 0 are the inner dimension of a matrix product, at most 39,732 ${on}; it must be at most 39,732 here, ${cpuTrains}`);
    await expect(train({ data: iris, model: { hidden: [8, 60_000], activation: 'relu' }, epochs: 1, device: 'gpu', gpu })).rejects.toThrow(
      `model.hidden[1] = 60000: the inputs of layer 2 are the inner dimension of a matrix product, at most 39,732 ${on}; it must be at most 39,732 here, ${cpuTrains}`,
    );
    // More classes than a row of the loss's softmax may have (it was a KernelInputError from
    // building the kernel, naming no option); said before the classes' limit as the last layer's
    // input-gradient K (39,732), which would send a user down to 39,000 classes to be refused again.
    for (const k of [25_000, 45_000]) {
      const classes = { x: new Float32Array(8), y: Uint32Array.of(0, k - 1), features: 4, classes: k };
      await expect(train({ data: classes, model: { hidden: [2], activation: 'relu' }, epochs: 1, device: 'gpu', gpu })).rejects.toThrow(
        new TrainOptionsError(`data.classes = ${k}: the loss's softmax takes rows of at most 20,000 classes ${on}; train with device: 'cpu' (the CPU reference trainer has no such limit)`),
      );
    }
    // Trained with device: 'cpu' instead.
    const run = await train({ data: synthetic(4, 45_000), model: { hidden: [2], activation: 'relu' }, epochs: 1, device: 'cpu' });
    expect(run.history).toHaveLength(1);
  });

  it('a kernel of more weights than one workgroup sums Σw² of', async () => {
    const gpu = await workless();
    if (!isCpuAdapter(gpu)) return;
    const error = await train({ data: synthetic(2, 4000), model: { hidden: [4000], activation: 'relu' }, epochs: 1, device: 'gpu', gpu }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainOptionsError);
    expect(error.message).toBe(
      `model.hidden[0] = 4000 with 4,000 inputs (data.features): a kernel of 16,000,000 weights, more than the 15,360,000 whose Σw² one workgroup sums on ${gpu.name}, ` +
        `which ends an invocation's loops after 65,535 iterations; use a narrower layer, ${cpuTrains}`,
    );
  });

  it('predict(x) and evaluate(x, y) refuse a model the device cannot evaluate any more (its matmul strategy changed)', async () => {
    const gpu = await testGpu();
    if (!isCpuAdapter(gpu)) return;
    const data = synthetic(8, 20_000);
    const run = await train({ data, model: { hidden: [2], activation: 'relu' }, epochs: 1, device: 'gpu', gpu });
    // The tiled strategy loops more per k: at most 15,888 inputs.
    setMatmulStrategy(gpu, { strategy: 'tiled', tiles: DEFAULT_TILES });
    try {
      const message = 'data.features = 20000: the inputs of layer 0 are the inner dimension of a matrix product, at most 15,888 on';
      await expect(run.predict(data.x)).rejects.toThrow(TrainOptionsError);
      await expect(run.predict(data.x)).rejects.toThrow(`predict(x): ${message}`);
      await expect(run.evaluate(data.x, data.y)).rejects.toThrow(`evaluate(x, y): ${message}`);
    } finally {
      setMatmulStrategy(gpu, undefined);
    }
    expect((await run.predict(data.x)).classes).toHaveLength(8);
  });
});
