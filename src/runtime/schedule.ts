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

import type { MlpLayout } from '../model/mlp.js';
import { Random } from './random.js';

export type ScheduleFunction = (epoch: number, tensorNames: string[]) => boolean[];
export type ScheduleName = 'constant' | 'none' | 'alternate' | 'rotate' | 'parity';
export type ScheduleSpec = ScheduleName | { random: number } | { early: number } | ScheduleFunction;
export type Targets = 'kernels' | 'all';

export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'none', 'alternate', 'rotate', 'parity'];
export const SCHEDULE_SYNTAX = 'constant, none, alternate, rotate, parity, random:P (0 ≤ P ≤ 1) or early:E (integer E ≥ 0)';

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

/** Parses the CLI form: a name, `random:P` or `early:E`. */
export function parseSchedule(text: string, field = 'schedule'): ScheduleSpec {
  const t = text.trim();
  if ((SCHEDULE_NAMES as readonly string[]).includes(t)) return t as ScheduleName;
  const m = /^(random|early):(.+)$/.exec(t);
  if (m) {
    const value = Number(m[2]);
    const spec = m[1] === 'random' ? { random: value } : { early: value };
    validateSchedule(spec, field);
    return spec;
  }
  throw new ScheduleError(`${field}: unknown schedule '${text}'; valid: ${SCHEDULE_SYNTAX}`);
}

/** A short text for tables and file names: `alternate`, `random:0.5`, `early:10`, `custom`. */
export function scheduleLabel(spec: ScheduleSpec): string {
  if (typeof spec === 'string') return spec;
  if (typeof spec === 'function') return 'custom';
  if ('random' in spec) return `random:${spec.random}`;
  return `early:${spec.early}`;
}

export function validateSchedule(spec: ScheduleSpec, field = 'schedule'): void {
  if (typeof spec === 'function') return;
  if (typeof spec === 'string') {
    if (!(SCHEDULE_NAMES as readonly string[]).includes(spec)) throw new ScheduleError(`${field}: unknown schedule '${spec}'; valid: ${SCHEDULE_SYNTAX}`);
    return;
  }
  if (spec && typeof spec === 'object' && 'random' in spec) {
    if (!(spec.random >= 0 && spec.random <= 1)) throw new ScheduleError(`${field}: random:P needs 0 ≤ P ≤ 1, got ${spec.random}`);
    return;
  }
  if (spec && typeof spec === 'object' && 'early' in spec) {
    if (!Number.isInteger(spec.early) || spec.early < 0) throw new ScheduleError(`${field}: early:E needs an integer E ≥ 0, got ${spec.early}`);
    return;
  }
  throw new ScheduleError(`${field}: unknown schedule ${JSON.stringify(spec)}; valid: ${SCHEDULE_SYNTAX}`);
}

/** The targeted tensors in schedule order. */
export function targetedTensors(layout: MlpLayout, targets: Targets): string[] {
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
  readonly spec: ScheduleSpec;
  readonly tensorNames: string[];
  private readonly rng: Random;

  constructor(spec: ScheduleSpec, tensorNames: string[], rng: Random) {
    validateSchedule(spec);
    this.spec = spec;
    this.tensorNames = tensorNames;
    this.rng = rng;
  }

  mask(epoch: number): boolean[] {
    const spec = this.spec;
    const n = this.tensorNames.length;
    const all = (on: boolean) => new Array<boolean>(n).fill(on);
    if (typeof spec === 'function') {
      const mask = spec(epoch, [...this.tensorNames]);
      if (!Array.isArray(mask) || mask.length !== n || mask.some((v) => typeof v !== 'boolean')) {
        throw new ScheduleError(`schedule function returned ${JSON.stringify(mask)} for epoch ${epoch}; expected ${n} booleans (${this.tensorNames.join(', ')})`);
      }
      return mask;
    }
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
