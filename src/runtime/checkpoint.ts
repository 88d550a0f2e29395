// Checkpoints as files: `weights.safetensors` (the model's tensors, plus Adam's m and v as
// `adam.m/<tensor>` and `adam.v/<tensor>`) and `manifest.json` (configuration, epoch, step,
// the shuffle and schedule generators' states, history). Encoding and decoding are pure (the
// browser downloads the same bytes); saving and loading use Node's fs, imported only there.
// Every file is written to a temporary name and renamed, so a checkpoint is never half-written.

import { fromNamedTensors, mlpLayout, toNamedTensors, type MlpLayout } from '../model/mlp.js';
import { describeValue, plural } from './options.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from './safetensors.js';
import type { Checkpoint, CheckpointManifest } from './train.js';

export const WEIGHTS_FILE = 'weights.safetensors';
export const MANIFEST_FILE = 'manifest.json';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/**
 * Checks that `c` is a checkpoint that decodeCheckpoint will accept once written: a valid
 * manifest, and parameters and Adam moments of the model's size, all finite. Throws a
 * CheckpointError naming the part (`checkpoint.params: tensor 'dense_0/kernel' …`).
 */
function checkCheckpoint(c: Checkpoint): MlpLayout {
  if (!c || typeof c !== 'object') throw new CheckpointError(`a checkpoint must be an object { manifest, params, optimizer, planner } (run.checkpoint()), got ${describeValue(c)}`);
  const manifest = checkManifest(c.manifest, 'checkpoint.manifest');
  const { features, classes, model } = manifest.config;
  let layout: MlpLayout;
  try {
    layout = mlpLayout(features, classes, model);
  } catch (error) {
    throw new CheckpointError(`checkpoint.manifest: ${(error as Error).message}`);
  }
  // The checks loadCheckpoint and train({ resume }) make: a checkpoint they would refuse is not written.
  const problem = checkpointBlocksProblem(layout, c, 'checkpoint');
  if (problem) throw new CheckpointError(problem);
  return layout;
}

/**
 * What is wrong with a checkpoint's parameters and Adam moments for `layout`, or null: each must be
 * a Float32Array of the model's size with finite values, and the second moments ≥ 0 (Adam divides
 * by their root). `field` prefixes the message (`checkpoint`, `resume`). Saving and resuming both
 * check with it.
 */
export function checkpointBlocksProblem(layout: MlpLayout, c: { params?: unknown; optimizer?: { m?: unknown; v?: unknown } }, field: string): string | null {
  const tensors = layout.tensors.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ');
  // Value i of a block, named by its tensor and its index there.
  const at = (name: string, i: number, what: string) => {
    const t = layout.tensors.find((t) => i < t.offset + t.length)!;
    return `${field}.${name}: tensor '${t.name}' holds ${what} at index ${i - t.offset}`;
  };
  const blocks: [string, unknown][] = [['params', c.params], ['optimizer.m', c.optimizer?.m], ['optimizer.v', c.optimizer?.v]];
  for (const [name, block] of blocks) {
    if (!(block instanceof Float32Array)) return `${field}.${name} must be a Float32Array of ${layout.perModel} values (${tensors}), got ${describeValue(block)}`;
    if (block.length !== layout.perModel) return `${field}.${name} has ${plural(block.length, 'value')}; the model needs ${layout.perModel} (${tensors})`;
    const bad = block.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) return at(name, bad, 'a non-finite value');
  }
  // Adam divides by √v.
  const negative = (c.optimizer!.v as Float32Array).findIndex((x) => x < 0);
  return negative < 0 ? null : `${at('optimizer.v', negative, 'a negative value')}; Adam's second moments are ≥ 0`;
}

/** The two files of a checkpoint, as bytes; throws a CheckpointError for one that loading would refuse. */
export function encodeCheckpoint(c: Checkpoint): { weights: Uint8Array; manifest: string } {
  const layout = checkCheckpoint(c);
  const tensors: Record<string, NamedTensor> = {};
  const add = (prefix: string, block: Float32Array) => {
    const named = toNamedTensors(layout, block);
    for (const t of layout.tensors) tensors[prefix + t.name] = { shape: t.shape, data: named[t.name] };
  };
  add('', c.params);
  add('adam.m/', c.optimizer.m);
  add('adam.v/', c.optimizer.v);
  const weights = encodeSafetensors(tensors, { format: 'altreg-checkpoint', epoch: String(c.manifest.epoch) });
  return { weights, manifest: JSON.stringify(c.manifest, null, 2) + '\n' };
}

/** A random generator's saved state: 4 u32 words. */
export function isGeneratorState(s: unknown): boolean {
  return Array.isArray(s) && s.length === 4 && s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32);
}

function checkManifest(m: unknown, source: string): CheckpointManifest {
  const fail = (what: string): never => {
    throw new CheckpointError(`${source}: ${what}`);
  };
  if (!m || typeof m !== 'object') fail('not a JSON object');
  const x = m as CheckpointManifest;
  if (x.format !== 'altreg-checkpoint') fail(`format is ${JSON.stringify(x.format)}, expected "altreg-checkpoint"`);
  if (x.version !== 1) fail(`version ${JSON.stringify(x.version)} is not supported (1 is)`);
  const c = x.config;
  if (!c || !Number.isInteger(c.features) || !Number.isInteger(c.classes) || !c.model) fail('config.features, config.classes and config.model are required');
  if (!Number.isInteger(x.epoch) || x.epoch < 0 || !Number.isInteger(x.step) || x.step < 0) fail('epoch and step must be integers ≥ 0');
  const p = x.planner;
  if (!p || p.epoch !== x.epoch || !isGeneratorState(p.shuffle) || !isGeneratorState(p.schedule)) fail('planner must hold the epoch and two generator states of 4 u32 words');
  if (!Array.isArray(x.history)) fail('history must be an array');
  return x;
}

/**
 * A checkpoint's weights by tensor name (`dense_0/kernel` [in, out], `dense_0/bias`, …), as
 * `run.weights` gives them: what `init: { weights }` takes to start a new run from them.
 */
export function checkpointWeights(c: Checkpoint): Record<string, Float32Array> {
  // The checks saving makes: a checkpoint object that is not one fails here, not later in train().
  return toNamedTensors(checkCheckpoint(c), c.params);
}

/** Parses and validates a checkpoint's two files against each other. */
export function decodeCheckpoint(weights: Uint8Array, manifestText: string, source = 'checkpoint'): Checkpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifestText);
  } catch (error) {
    throw new CheckpointError(`${source}/${MANIFEST_FILE}: not valid JSON (${(error as Error).message})`);
  }
  const manifest = checkManifest(parsed, `${source}/${MANIFEST_FILE}`);
  const { features, classes, model } = manifest.config;
  let layout;
  try {
    layout = mlpLayout(features, classes, model);
  } catch (error) {
    throw new CheckpointError(`${source}/${MANIFEST_FILE}: ${(error as Error).message}`);
  }
  const expected: Record<string, number[]> = {};
  for (const prefix of ['', 'adam.m/', 'adam.v/']) for (const t of layout.tensors) expected[prefix + t.name] = t.shape;
  let tensors: Record<string, NamedTensor>;
  try {
    tensors = decodeSafetensors(weights, expected, `${source}/${WEIGHTS_FILE}`).tensors;
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CheckpointError(error.message);
    throw error;
  }
  const block = (prefix: string) => {
    const named: Record<string, Float32Array> = {};
    for (const t of layout.tensors) named[t.name] = tensors[prefix + t.name].data;
    try {
      return fromNamedTensors(layout, named, `${source}/${WEIGHTS_FILE}`);
    } catch (error) {
      throw new CheckpointError((error as Error).message);
    }
  };
  return {
    manifest,
    params: block(''),
    optimizer: { m: block('adam.m/'), v: block('adam.v/'), step: manifest.step },
    planner: manifest.planner,
  };
}

type Fs = typeof import('node:fs');

async function nodeFs(): Promise<{ fs: Fs; join: (...p: string[]) => string }> {
  const fs = (await import(/* @vite-ignore */ 'node:fs')) as Fs;
  const path = (await import(/* @vite-ignore */ 'node:path')) as typeof import('node:path');
  return { fs, join: path.join };
}

/** Writes `data` to `file` atomically: a temporary file in the same folder, then rename. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const { fs } = await nodeFs();
  const temp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    fs.writeFileSync(temp, data);
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** A file-system error as messages show it: its code (ENOSPC, EACCES, …), else its message. */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * Saves a checkpoint into folder `dir` (created if needed). The weights are renamed into place
 * before the manifest, and loading checks that both agree, so a crash between the two renames
 * leaves a checkpoint that is refused rather than a mixed one. A checkpoint that loading would
 * refuse (a NaN from a diverged run) is refused before anything is created; a save that fails
 * removes the folders it created.
 */
export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  if (typeof dir !== 'string' || dir === '') throw new CheckpointError(`saveCheckpoint(dir, checkpoint): dir must be a folder path, got ${describeValue(dir)}`);
  const { weights, manifest } = encodeCheckpoint(c);
  const { fs, join } = await nodeFs();
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new CheckpointError(`${dir} is a file; a checkpoint is a folder (${WEIGHTS_FILE}, ${MANIFEST_FILE}): give a folder path`);
  }
  let created: string | undefined;
  try {
    created = fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new CheckpointError(`${dir}: cannot create the checkpoint folder (${errorCode(error)})`);
  }
  for (const [name, data] of [[WEIGHTS_FILE, weights], [MANIFEST_FILE, manifest]] as const) {
    try {
      await writeFileAtomic(join(dir, name), data);
    } catch (error) {
      // Only what this call created: an existing folder (and checkpoint) is left as it was.
      if (created !== undefined) fs.rmSync(created, { recursive: true, force: true });
      throw new CheckpointError(`${dir}: cannot write ${name} (${errorCode(error)})`);
    }
  }
}

/** Loads and validates a checkpoint folder. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const { fs, join } = await nodeFs();
  const read = (name: string) => {
    try {
      return fs.readFileSync(join(dir, name));
    } catch (error) {
      throw new CheckpointError(`${dir}: cannot read ${name} (${errorCode(error)})`);
    }
  };
  const manifest = read(MANIFEST_FILE).toString('utf8');
  const weights = read(WEIGHTS_FILE);
  const c = decodeCheckpoint(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), manifest, dir);
  const epochInWeights = JSON.parse(new TextDecoder().decode(weightsHeader(weights)))?.__metadata__?.epoch;
  if (epochInWeights !== undefined && Number(epochInWeights) !== c.manifest.epoch) {
    throw new CheckpointError(`${dir}: ${WEIGHTS_FILE} is from epoch ${epochInWeights} but ${MANIFEST_FILE} says ${c.manifest.epoch} (an interrupted save?)`);
  }
  return c;
}

function weightsHeader(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return bytes.subarray(8, 8 + n);
}
