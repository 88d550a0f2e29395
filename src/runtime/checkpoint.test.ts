// Checkpoints: resuming continues exactly; files are written atomically; loading refuses
// corrupt or hostile files with a clear message before allocating what they claim.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { testGpu } from '../testing/gpu.js';
import { CheckpointError, checkpointWeights, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, MANIFEST_FILE, WEIGHTS_FILE } from './checkpoint.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors.js';
import type { Gpu } from './gpu.js';
import { train, trainBatch, TrainOptionsError, type BatchOptions, type Checkpoint, type TrainOptions } from './train.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'altreg-ckpt-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function options(device: 'cpu' | 'gpu', schedule: TrainOptions['penalty']): Promise<TrainOptions> {
  const iris = await loadDataset('iris');
  return {
    data: iris,
    model: { hidden: [10], activation: 'relu' },
    epochs: 10,
    batchSize: 16,
    seed: 21,
    penalty: schedule,
    device,
    ...(device === 'gpu' ? { gpu: await testGpu() } : {}),
  };
}

describe('resume: 10 epochs = 5, save, load, 5', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    for (const schedule of ['alternate', { random: 0.5 }] as const) {
      it(`${device}, ${JSON.stringify(schedule)} schedule, shuffled`, async () => {
        const o = await options(device, { lambda: 0.02, schedule });
        const straight = await train(o);
        const first = await train({ ...o, epochs: 5 });
        const dir = tempDir();
        await saveCheckpoint(dir, first.checkpoint());
        const resumed = await train({ ...o, epochs: 5, resume: await loadCheckpoint(dir) });
        expect(resumed.history.map((h) => h.mask)).toEqual(straight.history.map((h) => h.mask));
        expect(resumed.checkpoint().optimizer.step).toBe(straight.checkpoint().optimizer.step);
        if (device === 'cpu') {
          expect(Array.from(resumed.params)).toEqual(Array.from(straight.params));
          expect(resumed.history.map((h) => h.loss)).toEqual(straight.history.map((h) => h.loss));
        } else {
          resumed.params.forEach((w, i) => expect(Math.abs(w - straight.params[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(straight.params[i]))));
          resumed.history.forEach((h, e) => expect(Math.abs(h.loss - straight.history[e].loss)).toBeLessThanOrEqual(1e-6 * straight.history[e].loss));
        }
      });
    }
  }
});

// A resumed run continues its checkpoint's run: a changed setting used to be taken silently (a
// new seed had no effect but was recorded; leaving out penalty dropped it) and is refused now,
// before any GPU work, naming the setting and both values.
describe('resume refuses a different configuration', () => {
  const untouchable = new Proxy({}, {
    get(_, key) {
      throw new Error(`GPU touched (${String(key)}) before the options were checked`);
    },
  }) as Gpu;
  const NEW_RUN = /a resumed run keeps its checkpoint's settings \(only epochs, validation data, callbacks, device and signal may change; the data's values are not recorded, so pass the same\)\. For other settings, start a new run from its weights with init: \{ weights: checkpointWeights\(checkpoint\) \}/;

  async function saved() {
    const o = await options('cpu', { lambda: 0.02, schedule: 'alternate' });
    const resume = (await train({ ...o, epochs: 2 })).checkpoint();
    return { o: { ...o, epochs: 2, resume, device: 'gpu' as const, gpu: untouchable }, resume };
  }

  const cases: [string, (o: TrainOptions) => TrainOptions, RegExp][] = [
    ['another lr', (o) => ({ ...o, optimizer: { lr: 0.01 } }), /^resume: the checkpoint was trained with optimizer\.lr 0\.001, these options give 0\.01; /],
    ['another λ', (o) => ({ ...o, penalty: { lambda: 0.05, schedule: 'alternate' } }), /^resume: the checkpoint was trained with penalty\.lambda 0\.02, these options give 0\.05; /],
    ['no penalty', ({ penalty: _, ...o }) => o, /^resume: the checkpoint was trained with penalty\.lambda 0\.02, these options give 0; /],
    ['another schedule', (o) => ({ ...o, penalty: { lambda: 0.02, schedule: 'rotate' } }), /^resume: the checkpoint was trained with penalty\.schedule "alternate", these options give "rotate"/],
    ['another mode', (o) => ({ ...o, penalty: { lambda: 0.02, schedule: 'alternate', mode: 'decoupled' } }), /penalty\.mode "coupled", these options give "decoupled"/],
    ['another convention', (o) => ({ ...o, penalty: { lambda: 0.02, schedule: 'alternate', convention: 'torch' } }), /penalty\.convention "keras", these options give "torch"/],
    ['other targets', (o) => ({ ...o, penalty: { lambda: 0.02, schedule: 'alternate', targets: 'all' } }), /penalty\.targets "kernels", these options give "all"/],
    ['another batch size', (o) => ({ ...o, batchSize: 32 }), /^resume: the checkpoint was trained with batchSize 16, these options give 32/],
    ['no shuffling', (o) => ({ ...o, shuffle: false }), /^resume: the checkpoint was trained with shuffle true, these options give false/],
    ['another seed', (o) => ({ ...o, seed: 22 }), /^resume: the checkpoint was trained with seed 21, these options give 22/],
    ['another model', (o) => ({ ...o, model: { hidden: [12], activation: 'relu' } }), /^resume: the checkpoint was trained with model\.hidden \[10\], these options give \[12\]/],
    [
      'a standardization',
      (o) => ({ ...o, standardize: { scale: new Float32Array(4).fill(2), shift: new Float32Array(4) } }),
      /^resume: the checkpoint was trained with standardize "none", these options give "fnv1a:[0-9a-f]{8}"/,
    ],
  ];
  for (const [what, change, message] of cases) {
    it(what, async () => {
      const o = change((await saved()).o);
      const error = await train(o).catch((e) => e);
      expect(error).toBeInstanceOf(TrainOptionsError);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(NEW_RUN);
    });
  }

  it("without a penalty (schedule 'none' or λ 0), the penalty's settings but its targets change nothing and may differ", async () => {
    const o = await options('cpu', { lambda: 0.02, schedule: 'none' });
    const straight = await train({ ...o, epochs: 3 });
    const first = await train({ ...o, epochs: 2 });
    for (const penalty of [{ lambda: 0.5, schedule: 'none', mode: 'decoupled', convention: 'torch' }, undefined, { lambda: 0, schedule: 'alternate' }] as const) {
      const resumed = await train({ ...o, penalty, epochs: 1, resume: first.checkpoint() });
      // The same run: bit for bit the uninterrupted one.
      for (const name of Object.keys(straight.weights)) expect(Array.from(resumed.weights[name]), name).toEqual(Array.from(straight.weights[name]));
    }
    // Other targets would mix masks of two lengths in one history.
    await expect(train({ ...o, penalty: { lambda: 0.02, schedule: 'none', targets: 'all' }, epochs: 1, resume: first.checkpoint() })).rejects.toThrow(
      /^resume: the checkpoint was trained with penalty\.targets "kernels", these options give "all"/,
    );
    // A penalty where there was none is still refused.
    await expect(train({ ...o, penalty: { lambda: 0.02, schedule: 'constant' }, epochs: 1, resume: first.checkpoint() })).rejects.toThrow(
      /^resume: the checkpoint was trained with penalty\.schedule "none", these options give "constant"/,
    );
  });

  it('the advice works: a new run with other settings starts from checkpointWeights(checkpoint)', async () => {
    const o = await options('cpu', { lambda: 0.02, schedule: 'alternate' });
    const run = await train({ ...o, epochs: 2 });
    const weights = checkpointWeights(run.checkpoint());
    // Something that is not a checkpoint is said to be so (it was a TypeError).
    expect(() => checkpointWeights({} as never)).toThrow(new CheckpointError('checkpoint.manifest: not a JSON object'));
    expect(() => checkpointWeights({ ...run.checkpoint(), params: run.checkpoint().params.subarray(0, 5) })).toThrow(CheckpointError);
    expect(Object.keys(weights)).toEqual(Object.keys(run.weights));
    for (const name of Object.keys(weights)) expect(Array.from(weights[name]), name).toEqual(Array.from(run.weights[name]));
    const next = await train({ ...o, epochs: 1, optimizer: { lr: 0.01 }, init: { weights } });
    // A new run: its history starts at epoch 0, from the checkpoint's weights (0 epochs of it
    // would give them back unchanged, so one epoch at lr 0.01 moves every kernel a little).
    expect(next.history.map((h) => h.epoch)).toEqual([0]);
    const moved = Array.from(next.weights['dense_0/kernel']).map((w, i) => Math.abs(w - weights['dense_0/kernel'][i]));
    expect(Math.max(...moved)).toBeGreaterThan(0);
    expect(Math.max(...moved)).toBeLessThan(0.1);
  });

  it('a checkpoint saved before standardizations were recorded resumes with any', async () => {
    const { o, resume } = await saved();
    const { standardize: _, ...older } = resume.manifest.config;
    const standardize = { scale: new Float32Array(4).fill(2), shift: new Float32Array(4) };
    const run = await train({ ...o, device: 'cpu', gpu: undefined, standardize, resume: { ...resume, manifest: { ...resume.manifest, config: older } } });
    expect(run.history).toHaveLength(4);
    expect(run.checkpoint().manifest.config.standardize).toMatch(/^fnv1a:[0-9a-f]{8}$/);
  });

  it('other data, init beside resume, and something that is not a checkpoint', async () => {
    const { o } = await saved();
    const wine = await loadDataset('wine');
    await expect(train({ ...o, data: wine })).rejects.toThrow(/^resume: the checkpoint was trained with features 4, these options give 13/);
    await expect(train({ ...o, init: { seed: 3 } })).rejects.toThrow(/^init and resume exclude each other: a resumed run continues from the checkpoint's weights$/);
    await expect(train({ ...o, resume: 'ckpt' as never })).rejects.toThrow(/^resume must be a checkpoint \(run\.checkpoint\(\) or loadCheckpoint\(dir\)\), got "ckpt"$/);
  });

  // The checkpoint's contents used to be taken as they were: 5 params trained from zero padding,
  // short moments were accepted, a NaN ended in NaN weights. Refused now as init.weights refuses.
  describe('what the checkpoint holds', () => {
    const TENSORS = 'dense_0/kernel [4, 10], dense_0/bias [10], dense_1/kernel [10, 3], dense_1/bias [3]';
    const holding = (resume: Checkpoint, change: (c: Checkpoint) => Partial<Checkpoint>) => ({ ...resume, ...change(resume) });
    const withValue = (a: Float32Array, i: number, v: number) => a.map((x, j) => (j === i ? v : x));
    const cases: [string, (c: Checkpoint) => Partial<Checkpoint>, string][] = [
      ['params cut to 5 values', (c) => ({ params: c.params.slice(0, 5) }), `resume.params has 5 values; the model needs 83 (${TENSORS})`],
      ['Adam m cut short', (c) => ({ optimizer: { ...c.optimizer, m: c.optimizer.m.slice(0, 82) } }), `resume.optimizer.m has 82 values; the model needs 83 (${TENSORS})`],
      ['Adam v missing', (c) => ({ optimizer: { ...c.optimizer, v: undefined as never } }), `resume.optimizer.v must be a Float32Array of 83 values (${TENSORS}), got undefined`],
      ['a NaN in params', (c) => ({ params: withValue(c.params, 45, NaN) }), "resume.params: tensor 'dense_0/bias' holds a non-finite value at index 5"],
      ['an Infinity in Adam m', (c) => ({ optimizer: { ...c.optimizer, m: withValue(c.optimizer.m, 50, Infinity) } }), "resume.optimizer.m: tensor 'dense_1/kernel' holds a non-finite value at index 0"],
      ['a negative Adam v', (c) => ({ optimizer: { ...c.optimizer, v: withValue(c.optimizer.v, 82, -1) } }), "resume.optimizer.v: tensor 'dense_1/bias' holds a negative value at index 2; Adam's second moments are ≥ 0"],
      ['a fractional step', (c) => ({ optimizer: { ...c.optimizer, step: 1.5 } }), 'resume.optimizer.step must be an integer ≥ 0 (Adam steps taken), got 1.5'],
      ['a planner without states', (c) => ({ planner: { epoch: c.planner.epoch } as never }), "resume.planner must hold the manifest's epoch (2) and two generator states of 4 u32 words (shuffle, schedule)"],
      // What saving and loading refuse, resuming refuses too (a run resumed from it could not be saved).
      ['a planner at another epoch', (c) => ({ planner: { ...c.planner, epoch: 3 } }), "resume.planner must hold the manifest's epoch (2) and two generator states of 4 u32 words (shuffle, schedule)"],
      ['a history cut to one record', (c) => ({ manifest: { ...c.manifest, history: c.manifest.history.slice(0, 1) } }), 'resume.manifest: history holds 1 epoch record, but epoch says 2 were trained'],
      ['a loss that is text', (c) => ({ manifest: { ...c.manifest, history: [{ ...c.manifest.history[0], loss: 'x' as never }, c.manifest.history[1]] } }), 'resume.manifest: history[0].loss must be a finite number, got "x"'],
    ];
    for (const [what, change, message] of cases) {
      it(what, async () => {
        const { o, resume } = await saved();
        const error = await train({ ...o, resume: holding(resume, change) }).catch((e) => e);
        expect(error).toBeInstanceOf(TrainOptionsError);
        expect(error.message).toBe(message);
      });
    }

    it('trainBatch names the model', async () => {
      const { o, resume } = await saved();
      const all = Uint32Array.from({ length: 150 }, (_, i) => i);
      const { data, model, epochs, batchSize, device, gpu, penalty } = o;
      const bad = holding(resume, (c) => ({ params: withValue(c.params, 0, NaN) }));
      const error = await trainBatch({ data, model, epochs, batchSize, device, gpu, models: [{ trainRows: all, penalty, seed: 21, resume }, { trainRows: all, penalty, seed: 21, resume: bad }] }).catch((e) => e);
      expect(error).toBeInstanceOf(TrainOptionsError);
      expect(error.message).toBe("models[1].resume.params: tensor 'dense_0/kernel' holds a non-finite value at index 0");
    });
  });

  it('trainBatch checks each model against its own checkpoint', async () => {
    const { o, resume } = await saved();
    const all = Uint32Array.from({ length: 150 }, (_, i) => i);
    const { data, model, epochs, batchSize, device, gpu, penalty } = o;
    const batch: BatchOptions = { data, model, epochs, batchSize, device, gpu, models: [{ trainRows: all, penalty, seed: 21, resume }, { trainRows: all, penalty, seed: 5, resume }] };
    await expect(trainBatch(batch)).rejects.toThrow(/^models\[1\]\.resume: the checkpoint was trained with seed 21, these options give 5; /);
  });

  it('a matching resume is unchanged: bit for bit on the CPU, with new validation data, callback and a text schedule', async () => {
    const o = await options('cpu', { lambda: 0.02, schedule: { random: 0.5 } });
    const iris = o.data;
    const straight = await train({ ...o, validation: iris });
    const first = await train({ ...o, epochs: 4 });
    const seen: number[] = [];
    const resumed = await train({ ...o, epochs: 6, validation: iris, penalty: { lambda: 0.02, schedule: 'random:0.5' }, onEpoch: (h) => seen.push(h.epoch), resume: first.checkpoint() });
    expect(seen).toEqual([4, 5, 6, 7, 8, 9]);
    expect(Array.from(resumed.params)).toEqual(Array.from(straight.params));
    expect(resumed.history.slice(4)).toEqual(straight.history.slice(4));
    expect(resumed.checkpoint().manifest.config).toEqual(straight.checkpoint().manifest.config);
  });

  it('a matching trainBatch resume is bit for bit the straight run, per model', async () => {
    const { data, model, batchSize } = await options('cpu', undefined);
    const rows = (from: number) => Uint32Array.from({ length: 100 }, (_, i) => from + i);
    const models = [
      { trainRows: rows(0), penalty: { lambda: 0.02, schedule: 'alternate' as const }, seed: 1 },
      { trainRows: rows(50), penalty: { lambda: 0.01, schedule: 'early:3' as const }, seed: 2 },
    ];
    const common = { data, model, batchSize, device: 'cpu' as const };
    const straight = await trainBatch({ ...common, epochs: 8, models });
    const first = await trainBatch({ ...common, epochs: 3, models });
    const resumed = await trainBatch({ ...common, epochs: 5, models: models.map((m, i) => ({ ...m, resume: first.models[i].checkpoint() })) });
    resumed.models.forEach((m, i) => {
      expect(Array.from(m.params)).toEqual(Array.from(straight.models[i].params));
      expect(m.fullHistory).toEqual(straight.models[i].fullHistory);
    });
  });
});

describe('checkpoint files', () => {
  it('are written atomically: no temporary file is left, an existing checkpoint is replaced whole', async () => {
    const o = await options('cpu', { lambda: 0.01 });
    const dir = tempDir();
    await saveCheckpoint(dir, (await train({ ...o, epochs: 2 })).checkpoint());
    await saveCheckpoint(dir, (await train({ ...o, epochs: 3 })).checkpoint());
    expect(readdirSync(dir).sort()).toEqual([MANIFEST_FILE, WEIGHTS_FILE]);
    expect((await loadCheckpoint(dir)).manifest.epoch).toBe(3);
  });

  it('refuse weights and manifest from different saves', async () => {
    const o = await options('cpu', { lambda: 0.01 });
    const a = tempDir();
    const b = tempDir();
    await saveCheckpoint(a, (await train({ ...o, epochs: 2 })).checkpoint());
    await saveCheckpoint(b, (await train({ ...o, epochs: 3 })).checkpoint());
    writeFileSync(join(a, WEIGHTS_FILE), readFileSync(join(b, WEIGHTS_FILE)));
    await expect(loadCheckpoint(a)).rejects.toThrow(/weights.safetensors is from epoch 3 but manifest.json says 2/);
  });

  // Two runs saved into one folder at the same epoch, the second interrupted between its renames:
  // its weights beside the first's manifest were loaded as one checkpoint.
  it('refuse weights and manifest of two saves at the same epoch; a reformatted manifest still loads', async () => {
    const o = await options('cpu', { lambda: 0.01 });
    const [a, b] = [tempDir(), tempDir()];
    await saveCheckpoint(a, (await train({ ...o, epochs: 2 })).checkpoint());
    await saveCheckpoint(b, (await train({ ...o, seed: 22, epochs: 2 })).checkpoint());
    const manifest = readFileSync(join(a, MANIFEST_FILE), 'utf8');
    writeFileSync(join(a, MANIFEST_FILE), JSON.stringify(JSON.parse(manifest)));
    expect((await loadCheckpoint(a)).manifest).toEqual(JSON.parse(manifest));
    writeFileSync(join(a, WEIGHTS_FILE), readFileSync(join(b, WEIGHTS_FILE)));
    await expect(loadCheckpoint(a)).rejects.toThrow(
      new CheckpointError(`${a}: ${WEIGHTS_FILE} was saved with another ${MANIFEST_FILE} (the files of two saves, or a save interrupted between its two renames); save the checkpoint again`),
    );
    // Weights saved before the fingerprint was recorded load with their manifest.
    const { tensors, metadata } = decodeSafetensors(readFileSync(join(b, WEIGHTS_FILE)));
    const { manifest: _, ...older } = metadata;
    expect(decodeCheckpoint(encodeSafetensors(tensors, older), readFileSync(join(b, MANIFEST_FILE), 'utf8'), b).manifest.config.seed).toBe(22);
  });

  // Saving used to write what loading refuses, leave an empty folder behind when it failed, and
  // fail with a TypeError or a raw EEXIST.
  it('a checkpoint that loading would refuse is not saved, and no folder is left behind', async () => {
    const o = await options('cpu', { lambda: 0.01 });
    const good = (await train({ ...o, epochs: 1 })).checkpoint();
    const cases: [unknown, string][] = [
      [{ ...good, params: good.params.map((w, i) => (i === 3 ? NaN : w)) }, "checkpoint.params: tensor 'dense_0/kernel' holds a non-finite value at index 3"],
      [{ ...good, optimizer: { ...good.optimizer, v: good.optimizer.v.map((w, i) => (i === 80 ? Infinity : w)) } }, "checkpoint.optimizer.v: tensor 'dense_1/bias' holds a non-finite value at index 0"],
      [{ ...good, params: good.params.subarray(0, 5) }, `checkpoint.params has 5 values; the model needs 83 (dense_0/kernel [4, 10], dense_0/bias [10], dense_1/kernel [10, 3], dense_1/bias [3])`],
      // loadCheckpoint would read it, but train({ resume }) would refuse it: not written either.
      [{ ...good, optimizer: { ...good.optimizer, v: good.optimizer.v.map((w, i) => (i === 82 ? -1 : w)) } }, "checkpoint.optimizer.v: tensor 'dense_1/bias' holds a negative value at index 2; Adam's second moments are ≥ 0"],
      [{ manifest: {} }, 'checkpoint.manifest: format is undefined, expected "altreg-checkpoint"'],
      [{ ...good, manifest: { ...good.manifest, config: undefined } }, 'checkpoint.manifest: config must be an object { features, classes, model, optimizer, penalty, batchSize, shuffle, seed }, got undefined'],
      [undefined, 'a checkpoint must be an object { manifest, params, optimizer, planner } (run.checkpoint()), got undefined'],
    ];
    for (const [checkpoint, message] of cases) {
      const dir = join(tempDir(), 'nested', 'ckpt');
      const error = await saveCheckpoint(dir, checkpoint as Checkpoint).catch((e) => e);
      expect(error, message).toBeInstanceOf(CheckpointError);
      expect(error.message).toBe(message);
      expect(existsSync(join(dir, '..')), `no folder left for: ${message}`).toBe(false);
    }
    // The same check in encodeCheckpoint, which the browser's download uses.
    expect(() => encodeCheckpoint(cases[0][0] as Checkpoint)).toThrow(CheckpointError);
  });

  it('saving onto a file, or under one, names the path', async () => {
    const o = await options('cpu', { lambda: 0.01 });
    const c = (await train({ ...o, epochs: 1 })).checkpoint();
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'keep me');
    const onto = await saveCheckpoint(file, c).catch((e) => e);
    expect(onto).toBeInstanceOf(CheckpointError);
    expect(onto.message).toBe(`${file} is a file; a checkpoint is a folder (${WEIGHTS_FILE}, ${MANIFEST_FILE}): give a folder path`);
    const under = await saveCheckpoint(join(file, 'ckpt'), c).catch((e) => e);
    expect(under).toBeInstanceOf(CheckpointError);
    expect(under.message).toBe(`${join(file, 'ckpt')}: cannot create the checkpoint folder (ENOTDIR)`);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('name a missing folder or file', async () => {
    await expect(loadCheckpoint('/nonexistent/altreg')).rejects.toThrow(/cannot read manifest.json \(ENOENT\)/);
  });
});

// Loading took a manifest's history as it was (a resumed run continued one of the wrong length
// or of junk records), checked few field types (a config field of another type surfaced at resume
// as "the checkpoint was trained with optimizer.lr undefined"), named Adam's tensors without their
// prefix, let a negative second moment through to the resume, and compared the two files' epochs
// only in loadCheckpoint. Every refusal names the file and the field.
describe('decodeCheckpoint checks every field', () => {
  async function saved() {
    const o = await options('cpu', { lambda: 0.01, schedule: 'alternate' });
    const run = await train({ ...o, epochs: 3, validation: o.data });
    return { run, files: encodeCheckpoint(run.checkpoint()) };
  }
  // The manifest as JSON, changed by `change`.
  const edited = (text: string, change: (m: Record<string, any>) => void) => {
    const m = JSON.parse(text);
    change(m);
    return JSON.stringify(m);
  };

  it('a saved checkpoint decodes to the run, bit for bit, history included', async () => {
    const { run, files } = await saved();
    const c = decodeCheckpoint(files.weights, files.manifest, 'ck');
    expect(Array.from(c.params)).toEqual(Array.from(run.params));
    expect(c.manifest.history).toEqual(run.history);
    // Alternate (README): odd epoch e drops term ((e − 1) / 2) mod 2, so epoch 1 drops dense_0/kernel.
    expect(c.manifest.history.map((h) => h.mask)).toEqual([[true, true], [false, true], [true, true]]);
  });

  it('refuses a manifest field of the wrong type or value, naming it and what is valid', async () => {
    const { files } = await saved();
    // Without the manifest's fingerprint, so that an edit that is still valid decodes.
    const { tensors, metadata } = decodeSafetensors(files.weights);
    const weights = encodeSafetensors(tensors, { epoch: metadata.epoch });
    const cases: [(m: Record<string, any>) => void, string][] = [
      [(m) => (m.config = [4]), 'config must be an object { features, classes, model, optimizer, penalty, batchSize, shuffle, seed }, got [4]'],
      [(m) => (m.config.features = '4'), 'config.features must be an integer ≥ 1, got "4"'],
      [(m) => (m.config.classes = 2 ** 60), 'config.classes must be an integer ≥ 2, got 1152921504606847000'],
      [(m) => (m.config.model.hidden = '10'), 'config.model.hidden must be an array of layer widths, e.g. [10]'],
      [(m) => (m.config.optimizer = 'adam'), 'config.optimizer.lr must be a finite number, got undefined'],
      [(m) => (m.config.optimizer.epsilon = '1e-7'), 'config.optimizer.epsilon must be a finite number, got "1e-7"'],
      [(m) => (m.config.penalty.schedule = 5), 'config.penalty.schedule must be a string, got 5'],
      [(m) => (m.config.penalty.targets = 'biases'), "config.penalty.targets must be 'kernels' or 'all', got \"biases\""],
      [(m) => (m.config.shuffle = 'yes'), 'config.shuffle must be true or false, got "yes"'],
      [(m) => (m.config.seed = null), 'config.seed must be a finite number, got null'],
      [(m) => (m.config.standardize = 0), 'config.standardize must be a string ("none" or "fnv1a:…"), got 0'],
      [(m) => (m.epoch = '3'), 'epoch must be an integer ≥ 0 (epochs trained), got "3"'],
      [(m) => (m.step = 2 ** 60), 'step must be an integer ≥ 0 (Adam steps taken), got 1152921504606847000'],
      [(m) => (m.planner.shuffle = [1, 2, 3]), 'planner must hold the epoch (3, as epoch) and two generator states of 4 u32 words (shuffle, schedule), got {"epoch":3,"shuffle":[1,2,3],"schedule":'],
      // The history: one record per epoch, each as the trainer writes it.
      [(m) => (m.history = {}), 'history must be an array of epoch records, got {}'],
      [(m) => m.history.pop(), 'history holds 2 epoch records, but epoch says 3 were trained'],
      [(m) => (m.history[1] = 7), 'history[1] must be an epoch record { epoch, loss, penalty, mask, trainAccuracy, weightNorms }, got 7'],
      [(m) => (m.history[2].epoch = 0), 'history[2].epoch must be 2, got 0'],
      [(m) => (m.history[0].loss = 'low'), 'history[0].loss must be a finite number, got "low"'],
      [(m) => (m.history[0].valAccuracy = null), 'history[0].valAccuracy must be a finite number, got null'],
      [(m) => (m.history[0].valLoss = '0.5'), 'history[0].valLoss must be a number (null for Infinity), got "0.5"'],
      [(m) => (m.history[1].mask = [true, false, true]), 'history[1].mask must be 2 booleans, one per targeted tensor (dense_0/kernel, dense_1/kernel), got [true,false,true]'],
      [(m) => delete m.history[1].weightNorms['dense_1/bias'], 'history[1].weightNorms must give a finite number for each tensor (dense_0/kernel, dense_0/bias, dense_1/kernel, dense_1/bias), got {"dense_0/kernel":'],
    ];
    for (const [change, message] of cases) {
      const error = (() => {
        try {
          decodeCheckpoint(weights, edited(files.manifest, change), 'ck');
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error, message).toBeInstanceOf(CheckpointError);
      expect(error!.message.startsWith(`ck/manifest.json: ${message}`), `${error!.message}\n  should start with\nck/manifest.json: ${message}`).toBe(true);
    }
    // A validation loss past float32's range is Infinity in the history, null in JSON: still a checkpoint.
    expect(decodeCheckpoint(weights, edited(files.manifest, (m) => (m.history[0].valLoss = null)), 'ck').manifest.history[0].valLoss).toBeNull();
  });

  it("refuses weights no resume could use, naming the file's tensor", async () => {
    const { files } = await saved();
    const { tensors, metadata } = decodeSafetensors(files.weights);
    const withValue = (name: string, i: number, value: number) => {
      const data = tensors[name].data.slice();
      data[i] = value;
      return encodeSafetensors({ ...tensors, [name]: { shape: tensors[name].shape, data } }, metadata);
    };
    const cases: [Uint8Array, string][] = [
      [withValue('dense_0/bias', 4, NaN), "ck/weights.safetensors: tensor 'dense_0/bias' holds a non-finite value at index 4"],
      [withValue('adam.m/dense_1/kernel', 0, Infinity), "ck/weights.safetensors: tensor 'adam.m/dense_1/kernel' holds a non-finite value at index 0"],
      [withValue('adam.v/dense_1/bias', 2, -1e-9), "ck/weights.safetensors: tensor 'adam.v/dense_1/bias' holds a negative value at index 2; Adam's second moments are ≥ 0"],
      // The two files of different saves (one interrupted between its renames), also outside loadCheckpoint.
      [encodeSafetensors(tensors, { ...metadata, epoch: '2' }), 'ck: weights.safetensors is from epoch 2 but manifest.json says 3 (an interrupted save?)'],
    ];
    for (const [weights, message] of cases) expect(() => decodeCheckpoint(weights, files.manifest, 'ck'), message).toThrow(new CheckpointError(message));
  });

  it('loadCheckpoint names a file given for the folder, and bytes the tensors do not cover', async () => {
    const { files } = await saved();
    const dir = tempDir();
    writeFileSync(join(dir, MANIFEST_FILE), files.manifest);
    writeFileSync(join(dir, WEIGHTS_FILE), Buffer.concat([files.weights, Buffer.from('junk')]));
    await expect(loadCheckpoint(dir)).rejects.toThrow(new CheckpointError(`${dir}/${WEIGHTS_FILE}: data bytes [${files.weights.length - 8 - new DataView(files.weights.buffer).getUint32(0, true)}, ${files.weights.length - 4 - new DataView(files.weights.buffer).getUint32(0, true)}) after the last tensor belong to no tensor; the tensors must cover the data without gaps`));
    const file = join(dir, MANIFEST_FILE);
    await expect(loadCheckpoint(file)).rejects.toThrow(new CheckpointError(`${file} is a file; a checkpoint is a folder (${WEIGHTS_FILE}, ${MANIFEST_FILE}): give its folder`));
    // Empty files, and a folder where a file belongs.
    writeFileSync(join(dir, WEIGHTS_FILE), '');
    await expect(loadCheckpoint(dir)).rejects.toThrow(new CheckpointError(`${dir}/${WEIGHTS_FILE}: 0 bytes is too short for a header (8-byte length first)`));
    writeFileSync(join(dir, MANIFEST_FILE), '');
    await expect(loadCheckpoint(dir)).rejects.toThrow(new CheckpointError(`${dir}/${MANIFEST_FILE}: not valid JSON (Unexpected end of JSON input)`));
    rmSync(join(dir, MANIFEST_FILE));
    mkdirSync(join(dir, MANIFEST_FILE));
    await expect(loadCheckpoint(dir)).rejects.toThrow(new CheckpointError(`${dir}: cannot read ${MANIFEST_FILE} (EISDIR)`));
  });
});

describe('safetensors validation', () => {
  const good = () => encodeSafetensors({ 'dense_0/kernel': { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, 'dense_0/bias': { shape: [3], data: new Float32Array(3) } });
  const withHeader = (header: object, data = new Uint8Array(36)) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  };

  it('round-trips float32 tensors exactly', () => {
    const { tensors } = decodeSafetensors(good(), { 'dense_0/kernel': [2, 3], 'dense_0/bias': [3] });
    expect(Array.from(tensors['dense_0/kernel'].data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['a file shorter than the length field', () => new Uint8Array(5), /5 bytes is too short/],
    ['a header length beyond the file', () => { const b = good(); new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true); return b; }, /header claims 1152921504606846976 bytes but the file has/],
    ['a header that is not JSON', () => { const b = good(); b[9] = 0x7b; b[10] = 0x7b; return b; }, /header is not valid UTF-8 JSON/],
    ['a tensor claiming 16 GB', () => withHeader({ w: { dtype: 'F32', shape: [2 ** 30, 4], data_offsets: [0, 2 ** 34] } }), /tensor 'w' spans bytes \[0, 17179869184\) outside the 36 data bytes/],
    ['offsets disagreeing with the shape', () => withHeader({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }), /tensor 'w' of shape \[2,3\] needs 24 bytes, its offsets give 20/],
    ['a dtype other than F32', () => withHeader({ w: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }), /tensor 'w' has dtype "F64"; only F32 is supported/],
    ['overlapping tensors', () => withHeader({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }), /tensors 'a' and 'b' overlap/],
    ['a negative shape', () => withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), /tensor 'w' has shape \[-1\]; a shape is a list of integers in \[0, 2147483648\]/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`refuses ${what}`, () => {
      const before = process.memoryUsage().arrayBuffers;
      expect(() => decodeSafetensors(bytes())).toThrow(SafetensorsError);
      expect(() => decodeSafetensors(bytes())).toThrow(message);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
    });
  }

  it('refuses tensors that do not match the model', () => {
    expect(() => decodeSafetensors(good(), { 'dense_0/kernel': [3, 2], 'dense_0/bias': [3] })).toThrow(/'dense_0\/kernel' has shape \[2,3\], the model needs \[3,2\]/);
    expect(() => decodeSafetensors(good(), { 'dense_0/kernel': [2, 3] })).toThrow(/unexpected tensor 'dense_0\/bias'/);
    expect(() => decodeSafetensors(good(), { 'dense_0/kernel': [2, 3], 'dense_0/bias': [3], 'dense_1/kernel': [3, 3] })).toThrow(/'dense_1\/kernel' \[3,3\] is missing/);
  });

  it('a checkpoint for another model is refused by name and shape', async () => {
    const o = await options('cpu', { lambda: 0.01 });
    const files = encodeCheckpoint((await train({ ...o, epochs: 1 })).checkpoint());
    const manifest = JSON.parse(files.manifest);
    manifest.config.model.hidden = [12];
    expect(() => decodeCheckpoint(files.weights, JSON.stringify(manifest), 'ckpt')).toThrow(CheckpointError);
    expect(() => decodeCheckpoint(files.weights, JSON.stringify(manifest), 'ckpt')).toThrow(/ckpt\/weights.safetensors: tensor '.*' has shape \[.*\], the model needs/);
    expect(() => decodeCheckpoint(files.weights, '{"format": "other"}', 'ckpt')).toThrow(/format is "other", expected "altreg-checkpoint"/);
  });
});
