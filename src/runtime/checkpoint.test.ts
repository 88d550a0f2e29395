// Checkpoints: resuming continues exactly; files are written atomically; loading refuses
// corrupt or hostile files with a clear message before allocating what they claim.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { testGpu } from '../testing/gpu.js';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, MANIFEST_FILE, WEIGHTS_FILE } from './checkpoint.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors.js';
import { train, type TrainOptions } from './train.js';

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

  it('name a missing folder or file', async () => {
    await expect(loadCheckpoint('/nonexistent/altreg')).rejects.toThrow(/cannot read manifest.json \(ENOENT\)/);
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
    ['a negative shape', () => withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), /invalid shape \[-1\]/],
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
