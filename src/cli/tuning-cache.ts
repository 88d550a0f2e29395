// Where `altreg tune` keeps what it measured: one JSON file with an entry per adapter, in
// $ALTREG_CACHE_DIR, else $XDG_CACHE_HOME/altreg, else ~/.cache/altreg. The file is rewritten
// atomically (temporary file, then rename). train, compare and demo apply the entry of their
// adapter when it was measured with this build's matmul kernel.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { describeStrategy, parseStrategy, setMatmulStrategy } from '../kernels/matmul.js';
import { adapterKey, candidateStrategies, tuningMismatch, type MatmulTuning } from '../kernels/tune.js';
import type { Gpu } from '../runtime/gpu.js';
import { writeFileAtomic } from '../runtime/checkpoint.js';
import { ensureDir } from './output.js';

const FORMAT = 'altreg-matmul-tuning/1';

/** A tuning file that cannot be read or is not one. */
export class TuningCacheError extends Error {
  override name = 'TuningCacheError';
}

/** The tuning file's path for this environment. */
export function tuningCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.ALTREG_CACHE_DIR || (env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'altreg') : join(homedir(), '.cache', 'altreg'));
  return join(dir, 'matmul-tuning.json');
}

/** Every saved tuning by adapter; an empty record when the file does not exist. */
export function loadTunings(file: string): Record<string, MatmulTuning> {
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TuningCacheError(`${file}: not readable as JSON (${(error as Error).message}); delete it or run \`altreg tune\` again`);
  }
  const doc = parsed as { format?: unknown; adapters?: unknown };
  if (!doc || doc.format !== FORMAT || typeof doc.adapters !== 'object' || doc.adapters === null || Array.isArray(doc.adapters)) {
    throw new TuningCacheError(`${file}: not an altreg tuning file (expected "format": "${FORMAT}" and an "adapters" object); delete it or run \`altreg tune\` again`);
  }
  // No prototype: an adapter named "__proto__" is an entry like any other, and a lookup finds
  // only the file's own, checked entries.
  const out: Record<string, MatmulTuning> = Object.create(null);
  for (const [adapter, entry] of Object.entries(doc.adapters as Record<string, unknown>)) {
    const e = entry as Partial<MatmulTuning> | null;
    if (!e || typeof e.kernel !== 'string') throw new TuningCacheError(`${file}: adapters["${adapter}"].kernel is missing`);
    try {
      out[adapter] = { ...(e as MatmulTuning), adapter, best: parseStrategy(e.best, `adapters["${adapter}"].best`) };
    } catch (error) {
      throw new TuningCacheError(`${file}: ${(error as Error).message}`);
    }
    if (typeof e.date !== 'string') throw new TuningCacheError(`${file}: adapters["${adapter}"].date must be the measurement's ISO date, got ${JSON.stringify(e.date)}; delete the file or run \`altreg tune\` again`);
  }
  return out;
}

/**
 * Adds (or replaces) the entry of `tuning.adapter`, keeping the other adapters' entries; a file
 * that is not a readable tuning file is replaced (its errors tell the user to tune again).
 */
export async function saveTuning(file: string, tuning: MatmulTuning): Promise<void> {
  let adapters: Record<string, MatmulTuning> = {};
  try {
    adapters = loadTunings(file);
  } catch (error) {
    if (!(error instanceof TuningCacheError)) throw error;
  }
  adapters[tuning.adapter] = tuning;
  ensureDir(dirname(file));
  await writeFileAtomic(file, `${JSON.stringify({ format: FORMAT, adapters }, null, 2)}\n`);
}

/**
 * Applies the saved tuning of this adapter, if the file has one measured with this build's
 * kernel. Returns the applied tuning, or null with the reason nothing was applied (no file, no
 * entry, a stale entry, an unreadable file: the default tiles are then used).
 */
export function applySavedTuning(gpu: Gpu, file: string = tuningCacheFile()): { tuning: MatmulTuning | null; reason: string } {
  let tunings: Record<string, MatmulTuning>;
  try {
    tunings = loadTunings(file);
  } catch (error) {
    return { tuning: null, reason: (error as Error).message };
  }
  const key = adapterKey(gpu);
  const entry = Object.hasOwn(tunings, key) ? tunings[key] : undefined;
  if (!entry) return { tuning: null, reason: `no tuning for this adapter in ${file}` };
  const stale = tuningMismatch(gpu, entry);
  if (stale) return { tuning: null, reason: `${file} holds no current tuning for this adapter: ${stale}; run \`altreg tune\` again` };
  // The tuner picks among these: tiles of another kind (written by hand, or for other limits) may
  // exceed this adapter's limits and would fail only once the trainer is built.
  const candidates = candidateStrategies(gpu).map(describeStrategy);
  const best = describeStrategy(entry.best);
  if (!candidates.includes(best)) {
    return { tuning: null, reason: `${file}: adapters["${key}"].best is ${best}, not one of the strategies \`altreg tune\` times on this adapter (${candidates.join('; ')}); run \`altreg tune\` again` };
  }
  setMatmulStrategy(gpu, entry.best);
  return { tuning: entry, reason: `tuned by \`altreg tune\` on ${entry.date.slice(0, 10)} (${file})` };
}
