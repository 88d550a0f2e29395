// Penalty schedules: which targeted L2 terms are on in each epoch. The mask of epoch e (0-based)
// holds for every step of that epoch. Targeted tensors come in a fixed order: dense_0/kernel,
// dense_1/kernel, ..., then (targets 'all') dense_0/bias, dense_1/bias, ...; T of them.
//
//   constant     all T on                      none       all off
//   alternate    even e: all on; odd e: term k = ((e − 1) / 2) mod T off, the rest on
//   rotate       term k = e mod T off, every epoch
//   parity       term i on when i mod 2 = e mod 2 (two groups take turns)
//   random: p    each term on with probability p, independently per epoch (seeded)
//   early: E     all on for e < E, all off from E on
//   function     (epoch, tensorNames) => boolean[] of length T

import { DECIMAL } from '../data/csv.js';
import type { MlpLayout } from '../model/mlp.js';
import { didYouMean } from './options.js';
import { Random } from './random.js';

/**
 * A schedule of your own: the mask of `epoch` (0-based), one boolean per targeted tensor in the
 * order of `tensorNames`, without holes; anything else is refused, naming the epoch. It should be
 * pure: it is called once more for the first epoch before training, to check the mask's length.
 * Checkpoints record it as 'custom'.
 * @example
 * const schedule: ScheduleFunction = (epoch, names) => names.map((name) => epoch < 10 || name === 'dense_0/kernel');
 */
export type ScheduleFunction = (epoch: number, tensorNames: string[]) => boolean[];
/**
 * The named schedules; the mask of epoch e over the T targeted terms: 'constant' all on (plain
 * L2), 'none' all off, 'alternate' all on in even epochs and term ((e − 1)/2) mod T off in odd
 * ones, 'rotate' term e mod T off, 'parity' term i on when i mod 2 = e mod 2.
 */
export type ScheduleName = 'constant' | 'none' | 'alternate' | 'rotate' | 'parity';
/** A schedule in the form Schedule runs. */
export type ParsedSchedule = ScheduleName | { random: number } | { early: number } | ScheduleFunction;
/** A schedule as the library takes it: parsed, or the CLI's text `random:P` / `early:E`. */
export type ScheduleSpec = ParsedSchedule | `random:${number}` | `early:${number}`;
/**
 * The tensors a penalty has terms for: 'kernels' (every layer's kernel; biases unpenalized, as
 * Keras' kernel_regularizer), or 'all' (the kernels, then the biases).
 */
export type Targets = 'kernels' | 'all';

/** Every ScheduleName (random:P and early:E take a number and are not names). */
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'none', 'alternate', 'rotate', 'parity'];
export const SCHEDULE_SYNTAX = 'constant, none, alternate, rotate, parity, random:P (0 ≤ P ≤ 1) or early:E (integer E ≥ 0)';

/**
 * A bad schedule (an unknown name, random:P outside [0, 1], early:E not an integer ≥ 0, a schedule
 * function's mask that is not one boolean per targeted tensor) or targets, or an arm listed twice
 * (parseArms). train() and runExperiment() throw a bad `penalty.schedule` as a TrainOptionsError.
 */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

/** Parses the CLI form: a name, `random:P` or `early:E`. */
export function parseSchedule(text: string, field = 'schedule'): ParsedSchedule {
  const t = text.trim();
  if ((SCHEDULE_NAMES as readonly string[]).includes(t)) return t as ScheduleName;
  const m = /^(random|early):(.+)$/.exec(t);
  if (m) {
    // Decimal numbers only, as in CSV cells: Number() would also read '0x1' or '' (as 1 and 0).
    if (!DECIMAL.test(m[2].trim())) {
      throw new ScheduleError(`${field}: ${m[1] === 'random' ? 'random:P needs a number 0 ≤ P ≤ 1' : 'early:E needs an integer E ≥ 0'}, got '${m[2]}'`);
    }
    const value = Number(m[2]);
    return resolveSchedule(m[1] === 'random' ? { random: value } : { early: value }, field);
  }
  throw new ScheduleError(`${field}: unknown schedule '${text}'${didYouMean(t, SCHEDULE_NAMES)}; valid: ${SCHEDULE_SYNTAX}`);
}

/** A short text for tables and file names: `alternate`, `random:0.5`, `early:10`, `custom`. */
export function scheduleLabel(spec: ScheduleSpec): string {
  const s = resolveSchedule(spec);
  if (typeof s === 'string') return s;
  if (typeof s === 'function') return 'custom';
  if ('random' in s) return `random:${s.random}`;
  return `early:${s.early}`;
}

/** A value in a message: numbers as they print, anything else as JSON (a string keeps its quotes). */
function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/** Checks a schedule and parses the text forms, so that `'random:0.5'` and `{ random: 0.5 }` are the same schedule. */
export function resolveSchedule(spec: ScheduleSpec, field = 'schedule'): ParsedSchedule {
  if (typeof spec === 'string') return parseSchedule(spec, field);
  if (typeof spec === 'function') return spec;
  // One key exactly: `{ random: 0.5, early: 3 }` would otherwise run whichever is tested first.
  if (spec && typeof spec === 'object' && Object.keys(spec).length === 1) {
    if ('random' in spec) {
      if (typeof spec.random !== 'number' || !(spec.random >= 0 && spec.random <= 1)) throw new ScheduleError(`${field}: random:P needs 0 ≤ P ≤ 1, got ${shown(spec.random)}`);
      return spec;
    }
    if ('early' in spec) {
      if (!Number.isInteger(spec.early) || spec.early < 0) throw new ScheduleError(`${field}: early:E needs an integer E ≥ 0, got ${shown(spec.early)}`);
      return spec;
    }
  }
  throw new ScheduleError(`${field}: unknown schedule ${JSON.stringify(spec)}; valid: ${SCHEDULE_SYNTAX}`);
}

/**
 * The mask a schedule function gives for `epoch`, refused unless it is one boolean per targeted
 * tensor: every index is checked, so a hole in a sparse array (`[true, , false]`, which `.some`
 * and `.every` skip) is refused by its index too. The result is a copy.
 */
export function functionMask(fn: ScheduleFunction, epoch: number, tensorNames: string[]): boolean[] {
  const mask: unknown = fn(epoch, [...tensorNames]);
  const expected = `expected ${tensorNames.length} booleans (${tensorNames.join(', ')})`;
  if (!Array.isArray(mask) || mask.length !== tensorNames.length) {
    throw new ScheduleError(`schedule function returned ${JSON.stringify(mask)} for epoch ${epoch}; ${expected}`);
  }
  for (let i = 0; i < mask.length; i++) {
    const v: unknown = mask[i];
    const what = !(i in mask) ? 'a hole (the array is sparse)' : typeof v === 'boolean' ? null : typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? 'a function' : (shown(v) ?? String(v));
    if (what !== null) {
      throw new ScheduleError(`schedule function returned a mask whose index ${i} (${tensorNames[i]}) is ${what}, not a boolean, for epoch ${epoch}; ${expected}`);
    }
  }
  return mask.slice() as boolean[];
}

/** The targeted tensors in schedule order. */
export function targetedTensors(layout: MlpLayout, targets: Targets, field = 'targets'): string[] {
  if (targets !== 'kernels' && targets !== 'all') throw new ScheduleError(`${field} must be 'kernels' or 'all', got ${JSON.stringify(targets)}`);
  const kernels = layout.tensors.filter((t) => t.kind === 'kernel').map((t) => t.name);
  if (targets === 'kernels') return kernels;
  return [...kernels, ...layout.tensors.filter((t) => t.kind === 'bias').map((t) => t.name)];
}

/**
 * The mask of every epoch, in order. Random schedules draw from `rng` (the model's schedule
 * stream), so masks must be asked for epoch after epoch; the stream's state is saved with
 * checkpoints to resume the same sequence.
 */
export class Schedule {
  readonly spec: ParsedSchedule;
  readonly tensorNames: string[];
  private readonly rng: Random;

  constructor(spec: ScheduleSpec, tensorNames: string[], rng: Random) {
    this.spec = resolveSchedule(spec);
    this.tensorNames = tensorNames;
    this.rng = rng;
  }

  mask(epoch: number): boolean[] {
    const spec = this.spec;
    const n = this.tensorNames.length;
    const all = (on: boolean) => new Array<boolean>(n).fill(on);
    if (typeof spec === 'function') return functionMask(spec, epoch, this.tensorNames);
    if (typeof spec === 'object') {
      if ('random' in spec) return Array.from({ length: n }, () => this.rng.next() < spec.random);
      return all(epoch < spec.early);
    }
    switch (spec) {
      case 'constant':
        return all(true);
      case 'none':
        return all(false);
      case 'alternate': {
        const mask = all(true);
        if (epoch % 2 === 1 && n > 0) mask[((epoch - 1) / 2) % n] = false;
        return mask;
      }
      case 'rotate': {
        const mask = all(true);
        if (n > 0) mask[epoch % n] = false;
        return mask;
      }
      case 'parity':
        return Array.from({ length: n }, (_, i) => i % 2 === epoch % 2);
    }
  }
}
