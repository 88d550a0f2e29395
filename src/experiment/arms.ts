// The arms of a comparison as text, as `altreg compare --schedules` and the web app's Compare take
// them: `none, constant, alternate, constant@0.0075`. An arm is a schedule, optionally with its own
// L2 strength after `@`, so that a schedule can be held against plain L2 of the same average
// strength (alternate with two kernels keeps each term on 3 epochs in 4: constant@0.75λ).

import { DECIMAL } from '../data/csv.js';
import type { MlpLayout } from '../model/mlp.js';
import { isLambda, LAMBDA_RANGE } from '../runtime/penalty.js';
import { plural } from '../runtime/options.js';
import { scheduleShares } from '../runtime/plan.js';
import { parseSchedule, scheduleLabel, ScheduleError, type ParsedSchedule, type Targets } from '../runtime/schedule.js';

/** One arm read from text: its name for tables and folders, its schedule, and its own λ if it gave one. */
export interface ArmText {
  /** The schedule's label (`alternate`, `random:0.5`), then `@λ` when the arm gives its own λ. */
  name: string;
  schedule: ParsedSchedule;
  /** The arm's own λ (`constant@0.0075`); undefined: the comparison's λ. */
  lambda?: number;
}

/**
 * Parses a comma-separated list of arms: each a schedule in parseSchedule's text forms, optionally
 * followed by `@λ`, a decimal number from 0 to 1.7e38 (not for `none`, which has no λ). Empty items
 * are skipped; the caller decides how many arms it needs. An arm listed twice is refused: the same
 * schedule with the same λ, where an arm without `@λ` has `lambda` (the comparison's λ) when it is
 * given. Errors are ScheduleErrors that start with `field`.
 */
export function parseArms(text: string, field: string, lambda?: number): ArmText[] {
  const arms = text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => parseArm(t, field));
  const keys = arms.map((a) => armKey(a, lambda));
  const twice = keys.findIndex((k, i) => keys.indexOf(k) !== i);
  if (twice >= 0) {
    const first = arms[keys.indexOf(keys[twice])].name;
    const again = arms[twice].name;
    const same = first === again ? `${again} is listed twice` : `${first} and ${again} are the same arm (λ ${arms[twice].lambda ?? lambda})`;
    throw new ScheduleError(`${field}: ${same}; list each arm once`);
  }
  return arms;
}

/**
 * What makes two arms the same: the schedule and the λ it trains with (`lambda`, the comparison's,
 * for an arm without its own). `constant@0.01` and `constant@1e-2` are one arm, and so are
 * `constant` and `constant@0.01` when `lambda` is 0.01.
 */
export function armKey(arm: ArmText, lambda?: number): string {
  return `${scheduleLabel(arm.schedule)}@${arm.lambda ?? lambda ?? ''}`;
}

/**
 * λ as a comparison's arms train with it, for its heading: `λ 0.01`; `λ 0.01 or the arm's @λ`
 * when some arms give their own; `λ per arm` when every arm that has a λ (all but `none`) gives
 * it; `no penalty` when every arm is `none`.
 */
export function describeLambda(arms: ArmText[], lambda: number): string {
  const penalized = arms.filter((a) => a.schedule !== 'none');
  if (penalized.length === 0) return 'no penalty';
  const own = penalized.filter((a) => a.lambda !== undefined).length;
  if (own === 0) return `λ ${lambda}`;
  return own === penalized.length ? 'λ per arm' : `λ ${lambda} or the arm's @λ`;
}

/**
 * The matched control of an arm: plain L2 at the arm's average strength, its λ (or `lambda`) times
 * the mean share of the `epochs` epochs its targeted terms are on (scheduleShares, with the models'
 * `seed`), as an arm `constant@λ` (λ to 6 significant digits, as it is named). Undefined for an arm
 * at λ 0 or one that never switches a term over the run (constant, none, random:0, early:E with
 * E ≥ epochs...): it is its own control.
 */
export function matchedControl(arm: ArmText, lambda: number, layout: MlpLayout, targets: Targets, epochs: number, seed = 0): ArmText | undefined {
  const strength = arm.lambda ?? lambda;
  if (strength === 0) return undefined;
  const { shares } = scheduleShares(layout, { targets, schedule: arm.schedule }, seed, epochs);
  const share = shares.reduce((a, b) => a + b, 0) / shares.length;
  if (share === 0 || share === 1) return undefined;
  const matched = Number((strength * share).toPrecision(6));
  return { name: `constant@${matched}`, schedule: 'constant', lambda: matched };
}

/**
 * The matched controls a list of arms lacks, in the order of the first arm each controls, each
 * once: `{ arm, control, arms }` for every matchedControl that is not in the list (armKey, with
 * `lambda` for arms without their own λ); `arms` are all the arms it controls (parity and
 * random:0.5 share `constant@0.005` at λ 0.01), `arm` the first of them.
 */
export function missingControls(arms: ArmText[], lambda: number, layout: MlpLayout, targets: Targets, epochs: number, seed = 0): MissingControl[] {
  const keys = new Set(arms.map((a) => armKey(a, lambda)));
  const missing = new Map<string, MissingControl>();
  for (const arm of arms) {
    const control = matchedControl(arm, lambda, layout, targets, epochs, seed);
    const key = control && armKey(control, lambda);
    if (!control || !key || keys.has(key)) continue;
    const found = missing.get(key);
    if (found) found.arms.push(arm);
    else missing.set(key, { arm, control, arms: [arm] });
  }
  return [...missing.values()];
}

/** A control that a list of arms lacks: `arms` are the arms it controls, `arm` the first of them. */
export interface MissingControl {
  arm: ArmText;
  control: ArmText;
  arms: ArmText[];
}

/** Names in a sentence: `a`, `a and b`, `a, b and c`. */
function listNames(names: string[]): string {
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * missingControls in a sentence for a note: `Missing control: constant@0.0075 is plain L2 as strong
 * on average as alternate, over 300 epochs. Without it, a gain over plain L2 at the same λ may only
 * mean that λ was too strong.` (plural for several). Empty for none. Callers add how to add them.
 */
export function describeMissingControls(missing: MissingControl[], epochs: number): string {
  if (missing.length === 0) return '';
  const parts = missing.map((m, i) => {
    const controlled = listNames(m.arms.map((a) => a.name));
    return i === 0 ? `${m.control.name} is plain L2 as strong on average as ${controlled}` : `${m.control.name} as ${controlled}`;
  });
  // Semicolons between controls where one of them names several arms: "rotate and parity; …".
  const listed = missing.some((m) => m.arms.length > 1) ? parts.join('; ') : listNames(parts);
  const [s, it] = parts.length === 1 ? ['', 'it'] : ['s', 'them'];
  return `Missing control${s}: ${listed}, over ${plural(epochs, 'epoch')}. Without ${it}, a gain over plain L2 at the same λ may only mean that λ was too strong.`;
}

function parseArm(text: string, field: string): ArmText {
  const at = text.lastIndexOf('@');
  if (at < 0) {
    const schedule = parseSchedule(text, field);
    return { name: scheduleLabel(schedule), schedule };
  }
  if (text.slice(0, at).trim() === '') throw new ScheduleError(`${field}: no schedule before @ in '${text}'; write schedule@λ, e.g. constant@0.0075`);
  const schedule = parseSchedule(text.slice(0, at), field);
  // A λ for `none` would change nothing and make it look like another arm.
  if (schedule === 'none') throw new ScheduleError(`${field}: none has no λ (its terms are always off); write none without @`);
  const value = text.slice(at + 1).trim();
  const lambda = Number(value);
  // Decimal numbers only, as for CSV cells and schedule parameters: Number() reads '' as 0. No
  // sign: '-0' is 0 but reads as a negative λ.
  if (!DECIMAL.test(value) || value.startsWith('-') || !isLambda(lambda)) throw new ScheduleError(`${field}: the λ after @ in '${text}' must be ${LAMBDA_RANGE}, got '${value}'`);
  // A λ written with a nonzero digit that a number cannot hold (1e-400) would train as 0.
  if (lambda === 0 && /[1-9]/.test(value.replace(/[eE].*$/, ''))) throw new ScheduleError(`${field}: the λ after @ in '${text}' is too small to tell from 0; write 0 for no penalty`);
  return { name: `${scheduleLabel(schedule)}@${lambda}`, schedule, lambda };
}
