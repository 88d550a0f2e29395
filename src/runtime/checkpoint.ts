// Checkpoints as files: `weights.safetensors` (the model's tensors, plus Adam's m and v as
// `adam.m/<tensor>` and `adam.v/<tensor>`) and `manifest.json` (configuration, epoch, step,
// the shuffle and schedule generators' states, history). Encoding and decoding are pure (the
// browser downloads the same bytes); saving and loading use Node's fs, imported only there.
// Every file is written to a temporary name and renamed, so a checkpoint is never half-written.

import { mlpLayout, toNamedTensors, type MlpLayout } from '../model/mlp.js';
import { describeValue, plural } from './options.js';
import { fnv1a } from './random.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from './safetensors.js';
import { targetedTensors, type Targets } from './schedule.js';
import type { Checkpoint, CheckpointManifest } from './train.js';

export const WEIGHTS_FILE = 'weights.safetensors';
export const MANIFEST_FILE = 'manifest.json';

/**
 * A checkpoint that cannot be saved, loaded or used: not a checkpoint object, a folder that cannot
 * be created, read or written (or is a file), a manifest that is not valid JSON or whose fields
 * have the wrong type, weights.safetensors that does not match its manifest (a SafetensorsError
 * there is reported as a CheckpointError), or tensors and Adam moments that do not fit the model or
 * are not finite. The message names the folder or file, the field and what is valid.
 */
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
  const { layout } = checkManifest(c.manifest, 'checkpoint.manifest');
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
export function checkpointBlocksProblem(
  layout: MlpLayout,
  c: { params?: unknown; optimizer?: { m?: unknown; v?: unknown } },
  field: string,
  /** How a value's place is named: block ('params', 'optimizer.m', 'optimizer.v') and tensor. */
  where = (block: string, tensor: string) => `${field}.${block}: tensor '${tensor}'`,
): string | null {
  const tensors = layout.tensors.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ');
  // Value i of a block, named by its tensor and its index there.
  const at = (name: string, i: number, what: string) => {
    const t = layout.tensors.find((t) => i < t.offset + t.length)!;
    return `${where(name, t.name)} holds ${what} at index ${i - t.offset}`;
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
  const weights = encodeSafetensors(tensors, { format: 'altreg-checkpoint', epoch: String(c.manifest.epoch), manifest: manifestFingerprint(c.manifest) });
  return { weights, manifest: JSON.stringify(c.manifest, null, 2) + '\n' };
}

/**
 * What the weights record of the manifest saved with them: a hash of its JSON, whitespace aside. A
 * crash between saveCheckpoint's two renames leaves new weights beside the old manifest, which
 * the epochs tell apart unless both saves were at the same epoch.
 */
function manifestFingerprint(manifest: unknown): string {
  return `fnv1a:${fnv1a(JSON.stringify(manifest))}`;
}

/** A random generator's saved state: 4 u32 words. */
export function isGeneratorState(s: unknown): boolean {
  return Array.isArray(s) && s.length === 4 && s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32);
}

/** The config's settings besides features, classes and model, as JSON types (what resume compares). */
const CONFIG_TYPES: [string, 'number' | 'string' | 'boolean'][] = [
  ['optimizer.lr', 'number'],
  ['optimizer.beta1', 'number'],
  ['optimizer.beta2', 'number'],
  ['optimizer.epsilon', 'number'],
  ['penalty.lambda', 'number'],
  ['penalty.mode', 'string'],
  ['penalty.convention', 'string'],
  ['penalty.targets', 'string'],
  ['penalty.schedule', 'string'],
  ['batchSize', 'number'],
  ['shuffle', 'boolean'],
  ['seed', 'number'],
];

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
/** A value as a message shows it: JSON, cut at 80 characters. */
const shown = (x: unknown): string => {
  const text = JSON.stringify(x) ?? String(x);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
};

/**
 * Checks a manifest (parsed JSON, or a checkpoint's object before saving), field by field; returns
 * it with its model's layout. `source` prefixes the messages (`run/manifest.json`).
 */
function checkManifest(m: unknown, source: string): { manifest: CheckpointManifest; layout: MlpLayout } {
  const fail = (what: string): never => {
    throw new CheckpointError(`${source}: ${what}`);
  };
  if (!m || typeof m !== 'object' || Array.isArray(m)) return fail('not a JSON object');
  const x = m as CheckpointManifest;
  if (x.format !== 'altreg-checkpoint') fail(`format is ${JSON.stringify(x.format)}, expected "altreg-checkpoint"`);
  if (x.version !== 1) fail(`version ${JSON.stringify(x.version)} is not supported (1 is)`);
  const c = x.config as unknown as Record<string, unknown>;
  if (!c || typeof c !== 'object' || Array.isArray(c)) fail(`config must be an object { features, classes, model, optimizer, penalty, batchSize, shuffle, seed }, got ${shown(c)}`);
  if (!Number.isSafeInteger(c.features) || (c.features as number) < 1) fail(`config.features must be an integer ≥ 1, got ${shown(c.features)}`);
  if (!Number.isSafeInteger(c.classes) || (c.classes as number) < 2) fail(`config.classes must be an integer ≥ 2, got ${shown(c.classes)}`);
  let layout: MlpLayout;
  try {
    layout = mlpLayout(x.config.features, x.config.classes, x.config.model);
  } catch (error) {
    return fail(`config.${(error as Error).message}`);
  }
  for (const [path, type] of CONFIG_TYPES) {
    const value = path.split('.').reduce<unknown>((o, key) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined), c);
    if (typeof value !== type || (type === 'number' && !Number.isFinite(value))) {
      fail(`config.${path} must be ${{ number: 'a finite number', string: 'a string', boolean: 'true or false' }[type]}, got ${shown(value)}`);
    }
  }
  // Absent in checkpoints saved before the standardization was recorded.
  if (c.standardize !== undefined && typeof c.standardize !== 'string') fail(`config.standardize must be a string ("none" or "fnv1a:…"), got ${shown(c.standardize)}`);
  if (!isCount(x.epoch)) fail(`epoch must be an integer ≥ 0 (epochs trained), got ${shown(x.epoch)}`);
  if (!isCount(x.step)) fail(`step must be an integer ≥ 0 (Adam steps taken), got ${shown(x.step)}`);
  const p = x.planner;
  if (!p || p.epoch !== x.epoch || !isGeneratorState(p.shuffle) || !isGeneratorState(p.schedule)) {
    fail(`planner must hold the epoch (${x.epoch}, as epoch) and two generator states of 4 u32 words (shuffle, schedule), got ${shown(p)}`);
  }
  let targets: string[];
  try {
    targets = targetedTensors(layout, x.config.penalty.targets as Targets, 'config.penalty.targets');
  } catch (error) {
    return fail((error as Error).message);
  }
  const problem = historyProblem(x.history, x.epoch, layout, targets);
  if (problem) fail(problem);
  return { manifest: x, layout };
}

/**
 * What checkManifest refuses in a manifest, or null (the message starts with `source`):
 * train({ resume }) checks a checkpoint object as saving and loading do, so that a run it resumes
 * can be saved.
 */
export function manifestProblem(m: unknown, source: string): string | null {
  try {
    checkManifest(m, source);
    return null;
  } catch (error) {
    if (error instanceof CheckpointError) return error.message;
    throw error;
  }
}

/**
 * What is wrong with a manifest's history, or null: one record per epoch trained, each as the
 * trainer writes it (a resumed run continues it, and reports and --json show it).
 */
function historyProblem(history: unknown, epochs: number, layout: MlpLayout, targets: string[]): string | null {
  if (!Array.isArray(history)) return `history must be an array of epoch records, got ${shown(history)}`;
  if (history.length !== epochs) return `history holds ${plural(history.length, 'epoch record')}, but epoch says ${epochs} were trained`;
  const names = layout.tensors.map((t) => t.name);
  for (const [i, record] of history.entries()) {
    const at = `history[${i}]`;
    const r = record as Record<string, unknown> | null;
    if (!r || typeof r !== 'object' || Array.isArray(r)) return `${at} must be an epoch record { epoch, loss, penalty, mask, trainAccuracy, weightNorms }, got ${shown(r)}`;
    if (r.epoch !== i) return `${at}.epoch must be ${i}, got ${shown(r.epoch)}`;
    for (const key of ['loss', 'penalty', 'trainAccuracy', ...(r.valAccuracy === undefined ? [] : ['valAccuracy'])]) {
      if (!isFiniteNumber(r[key])) return `${at}.${key} must be a finite number, got ${shown(r[key])}`;
    }
    // Finite validation losses can sum past float32's range: Infinity, which JSON writes as null.
    if (r.valLoss !== undefined && r.valLoss !== null && typeof r.valLoss !== 'number') return `${at}.valLoss must be a number (null for Infinity), got ${shown(r.valLoss)}`;
    const mask = r.mask;
    if (!Array.isArray(mask) || mask.length !== targets.length || !mask.every((b) => typeof b === 'boolean')) {
      return `${at}.mask must be ${plural(targets.length, 'boolean')}, one per targeted tensor (${targets.join(', ')}), got ${shown(mask)}`;
    }
    const norms = r.weightNorms as Record<string, unknown> | null;
    if (!norms || typeof norms !== 'object' || names.some((name) => !isFiniteNumber(norms[name]))) {
      return `${at}.weightNorms must give a finite number for each tensor (${names.join(', ')}), got ${shown(norms)}`;
    }
  }
  return null;
}

/**
 * A checkpoint's weights by tensor name (`dense_0/kernel` [in, out], `dense_0/bias`, …), as
 * `run.weights` gives them: what `init: { weights }` takes to start a new run from them.
 */
export function checkpointWeights(c: Checkpoint): Record<string, Float32Array> {
  // The checks saving makes: a checkpoint object that is not one fails here, not later in train().
  return toNamedTensors(checkCheckpoint(c), c.params);
}

/**
 * Parses and validates a checkpoint's two files against each other: the manifest field by field,
 * the weights' tensors against its model, their values as a resume checks them (finite, Adam's
 * second moments ≥ 0), and that the weights were saved with this manifest (its epoch and
 * fingerprint in their metadata). `source` names the folder in messages.
 */
export function decodeCheckpoint(weights: Uint8Array, manifestText: string, source = 'checkpoint'): Checkpoint {
  const weightsFile = `${source}/${WEIGHTS_FILE}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifestText);
  } catch (error) {
    throw new CheckpointError(`${source}/${MANIFEST_FILE}: not valid JSON (${(error as Error).message})`);
  }
  const { manifest, layout } = checkManifest(parsed, `${source}/${MANIFEST_FILE}`);
  const prefixes = { params: '', 'optimizer.m': 'adam.m/', 'optimizer.v': 'adam.v/' };
  const expected: Record<string, number[]> = {};
  for (const prefix of Object.values(prefixes)) for (const t of layout.tensors) expected[prefix + t.name] = t.shape;
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(weights, expected, weightsFile);
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CheckpointError(error.message);
    throw error;
  }
  // Written by saveCheckpoint as the manifest's epoch: another one means the two files come from
  // different saves (one interrupted between its two renames).
  const epochInWeights = decoded.metadata.epoch;
  if (epochInWeights !== undefined && epochInWeights !== String(manifest.epoch)) {
    throw new CheckpointError(`${source}: ${WEIGHTS_FILE} is from epoch ${epochInWeights} but ${MANIFEST_FILE} says ${manifest.epoch} (an interrupted save?)`);
  }
  // Absent in checkpoints saved before it was recorded.
  if (decoded.metadata.manifest !== undefined && decoded.metadata.manifest !== manifestFingerprint(parsed)) {
    throw new CheckpointError(`${source}: ${WEIGHTS_FILE} was saved with another ${MANIFEST_FILE} (the files of two saves, or a save interrupted between its two renames); save the checkpoint again`);
  }
  // The shapes are checked: each tensor fills its place in the block.
  const block = (prefix: string) => {
    const out = new Float32Array(layout.perModel);
    for (const t of layout.tensors) out.set(decoded.tensors[prefix + t.name].data, t.offset);
    return out;
  };
  const c: Checkpoint = {
    manifest,
    params: block(prefixes.params),
    optimizer: { m: block(prefixes['optimizer.m']), v: block(prefixes['optimizer.v']), step: manifest.step },
    planner: manifest.planner,
  };
  const problem = checkpointBlocksProblem(layout, c, weightsFile, (name, tensor) => `${weightsFile}: tensor '${prefixes[name as keyof typeof prefixes]}${tensor}'`);
  if (problem) throw new CheckpointError(problem);
  return c;
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
  if (fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false) {
    throw new CheckpointError(`${dir} is a file; a checkpoint is a folder (${WEIGHTS_FILE}, ${MANIFEST_FILE}): give its folder`);
  }
  const read = (name: string) => {
    try {
      return fs.readFileSync(join(dir, name));
    } catch (error) {
      throw new CheckpointError(`${dir}: cannot read ${name} (${errorCode(error)})`);
    }
  };
  const manifest = read(MANIFEST_FILE).toString('utf8');
  const weights = read(WEIGHTS_FILE);
  return decodeCheckpoint(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), manifest, dir);
}
