// The training configuration form: reads and checks every field, saying which field is wrong
// and what would be valid. The schedule comes from a kind plus its parameter (P of random:P, E
// of early:E) and is parsed by the library's parseSchedule, as the CLI does. The fields are read
// in three groups, so that a bad field stops only what uses it: the settings Train and Compare
// share, Train's own (its schedule, the test fraction) and Compare's own (folds, the schedules
// listed).

import {
  DatasetError,
  isLambda,
  kernels,
  LAMBDA_RANGE,
  parseArms,
  parseSchedule,
  requireRowsPerClass,
  ScheduleError,
  type Activation,
  type ArmText,
  type Convention,
  type Dataset,
  type PenaltyMode,
  type ScheduleSpec,
  type Targets,
} from '../../src/index.js';
import { byId } from './dom.js';

export type DeviceKind = 'gpu' | 'cpu';

/** The settings Train and Compare both use (Compare trains its own schedules on k folds). */
export interface SharedConfig {
  hidden: number[];
  activation: Activation;
  lr: number;
  lambda: number;
  mode: PenaltyMode;
  convention: Convention;
  targets: Targets;
  epochs: number;
  batchSize: number;
  seed: number;
  device: DeviceKind;
}

/** Everything one training run needs besides the data. */
export interface AppConfig extends SharedConfig {
  schedule: ScheduleSpec;
  /** The schedule as text: `alternate`, `random:0.5`, `early:10`. */
  scheduleText: string;
  testFraction: number;
}

/** A field that cannot be used as given; `field` is the input's id. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Ids of the inputs of the SharedConfig. */
export const SHARED_FIELDS = ['hidden', 'activation', 'lr', 'lambda', 'mode', 'convention', 'targets', 'epochs', 'batch-size', 'seed', 'device'] as const;

/** Ids of the inputs only Train uses. */
export const TRAIN_FIELDS = ['schedule-kind', 'schedule-param', 'test-fraction'] as const;

/** Ids of every input of a training run, for change listeners. */
export const CONFIG_FIELDS = [...SHARED_FIELDS, ...TRAIN_FIELDS] as const;

/** Ids of the Compare schedules fields. */
export const COMPARE_FIELDS = ['folds', 'compare-schedules'] as const;

/** What Compare needs besides the AppConfig. */
export interface CompareConfig {
  folds: number;
  /** The arms in the order given, the first the baseline: a schedule, and λ when the arm gives its own (`constant@0.0075`). */
  schedules: ArmText[];
}

function value(id: string): string {
  return byId<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(id).value.trim();
}

/**
 * The text of a number field. A number input whose text the browser cannot read (`1e`, `abc`)
 * has the value "", so that case is told apart through validity.badInput.
 */
function numberText(id: string, label: string, valid: string): string {
  const text = value(id);
  if (byId<HTMLInputElement>(id).validity.badInput) throw new ConfigError(id, `${label}: what was typed is not a number; expected ${valid}`);
  if (text === '') throw new ConfigError(id, `${label}: empty; expected ${valid}`);
  return text;
}

function number(id: string, label: string, check: (v: number) => boolean, valid: string): number {
  const text = numberText(id, label, valid);
  const v = Number(text);
  if (!Number.isFinite(v) || !check(v)) throw new ConfigError(id, `${label}: "${text}" is not valid; expected ${valid}`);
  return v;
}

/** A number within the field's own min and max attributes, so that the page and the check agree. */
function ranged(id: string, label: string): number {
  const input = byId<HTMLInputElement>(id);
  const [min, max] = [Number(input.min), Number(input.max)];
  return number(id, label, (v) => v >= min && v <= max, `a number from ${input.min} to ${input.max}`);
}

function integer(id: string, label: string, min: number, max: number): number {
  return number(id, label, (v) => Number.isInteger(v) && v >= min && v <= max, `an integer from ${min} to ${max}`);
}

function choice<T extends string>(id: string, label: string, options: readonly T[]): T {
  const v = value(id);
  if (!(options as readonly string[]).includes(v)) throw new ConfigError(id, `${label}: "${v}" is not one of ${options.join(', ')}`);
  return v as T;
}

/**
 * Hidden layer widths from text such as "10" or "32, 16": decimal integers separated by commas
 * (Number() alone would also take "0x10" and "1e1"). Empty text means no hidden layer, which
 * the library's model allows (`hidden: []`, softmax regression) though the CLI does not.
 */
export function parseHidden(text: string): number[] {
  if (text.trim() === '') return [];
  return text.split(',').map((raw, i) => {
    const p = raw.trim();
    const w = /^\d+$/.test(p) ? Number(p) : Number.NaN;
    if (!(w >= 1 && w <= 4096)) {
      const given = p === '' ? 'empty' : `"${p}"`;
      throw new ConfigError('hidden', `hidden layers: width ${i + 1} is ${given}; expected integers from 1 to 4096 separated by commas, e.g. "32, 16" (empty field: no hidden layer)`);
    }
    return w;
  });
}

/** The schedule text for the form's kind and parameter. */
function scheduleText(): string {
  const kind = value('schedule-kind');
  if (kind === 'random') return `random:${numberText('schedule-param', 'P', 'a probability from 0 to 1')}`;
  if (kind === 'early') return `early:${numberText('schedule-param', 'E', 'an integer number of epochs ≥ 0')}`;
  return kind;
}

/** Reads the settings Train and Compare share; throws ConfigError for the first bad field. */
export function readShared(): SharedConfig {
  const hidden = parseHidden(value('hidden'));
  if (hidden.length > 8) throw new ConfigError('hidden', `hidden layers: ${hidden.length} given; at most 8 are offered here`);
  return {
    hidden,
    activation: choice('activation', 'activation', kernels.ACTIVATIONS),
    // The GPU holds it in float32 and may flush a subnormal one to 0: 1e-50 and 1e-40 would train nothing there.
    lr: number('lr', 'learning rate', (v) => v > 0 && v <= 10 && kernels.float32PositiveProblem(v, true) === null, `a number in (0, 10], at least ${kernels.MIN_NORMAL_FLOAT32_TEXT} (a normal float32)`),
    lambda: number('lambda', 'λ', isLambda, LAMBDA_RANGE),
    mode: choice('mode', 'mode', ['coupled', 'decoupled'] as const),
    convention: choice('convention', 'convention', ['keras', 'torch'] as const),
    targets: choice('targets', 'targets', ['kernels', 'all'] as const),
    epochs: integer('epochs', 'epochs', 1, 100_000),
    batchSize: integer('batch-size', 'batch size', 1, 65_536),
    seed: integer('seed', 'seed', 0, 2 ** 32 - 1),
    device: choice('device', 'device', ['gpu', 'cpu'] as const),
  };
}

/** Adds Train's own fields (its schedule, the test fraction) to `shared`; throws ConfigError for the first bad one. */
export function readConfig(shared: SharedConfig): AppConfig {
  const text = scheduleText();
  let schedule: ScheduleSpec;
  try {
    schedule = parseSchedule(text, 'schedule');
  } catch (error) {
    if (error instanceof ScheduleError) throw new ConfigError('schedule-param', error.message);
    throw error;
  }
  return { ...shared, schedule, scheduleText: text, testFraction: ranged('test-fraction', 'test fraction') };
}

/**
 * The arms listed for Compare, as the CLI's --schedules takes them (the library's parseArms): at
 * least 2, none twice. `lambda` is the form's λ when that field is valid, so that `constant` and
 * `constant@λ` count as the same arm.
 */
function compareSchedules(lambda: number | undefined): CompareConfig['schedules'] {
  const id = 'compare-schedules';
  let arms: ArmText[];
  try {
    arms = parseArms(value(id), 'schedules', lambda);
  } catch (error) {
    if (error instanceof ScheduleError) throw new ConfigError(id, error.message);
    throw error;
  }
  if (arms.length < 2) throw new ConfigError(id, `schedules: ${arms.length} given; list at least 2 separated by commas, the baseline first, e.g. "none, constant, alternate"`);
  return arms;
}

/**
 * Reads the Compare fields; throws ConfigError for the first bad one. With a dataset, the folds
 * are checked against its smallest class (stratified k-fold puts a row of every class in each
 * fold), so that the refusal comes before any GPU work.
 */
export function readCompare(dataset: Dataset | null, lambda?: number): CompareConfig {
  const folds = integer('folds', 'folds', 2, 20);
  try {
    if (dataset) requireRowsPerClass(dataset, folds);
  } catch (error) {
    if (error instanceof DatasetError) throw new ConfigError('folds', `folds: ${error.message}`);
    throw error;
  }
  return { folds, schedules: compareSchedules(lambda) };
}

/**
 * Enables the schedule parameter only for random:P and early:E and labels it; when the kind
 * has just changed, puts that kind's usual value in (P 0.5, E 10).
 */
export function syncScheduleParam(kindChanged = false): void {
  const kind = value('schedule-kind');
  const param = byId<HTMLInputElement>('schedule-param');
  const label = byId('schedule-param-label');
  param.disabled = kind !== 'random' && kind !== 'early';
  label.textContent = kind === 'random' ? 'P (probability on)' : kind === 'early' ? 'E (epochs on)' : 'parameter';
  if (kindChanged && kind === 'random') param.value = '0.5';
  if (kindChanged && kind === 'early') param.value = '10';
}
