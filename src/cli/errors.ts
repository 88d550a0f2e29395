// Which failures are the user's input (exit code 2) rather than a runtime failure (exit code 1).

import { InvalidArgumentError } from 'commander';
import { CsvError, DatasetError } from '../data/csv.js';
import { SplitError } from '../data/split.js';
import { KernelInputError } from '../kernels/common.js';
import { MetricsError } from '../metrics/classification.js';
import { ModelConfigError } from '../model/mlp.js';
import { CheckpointError } from '../runtime/checkpoint.js';
import { PenaltyConfigError } from '../runtime/penalty.js';
import { GpuError } from '../runtime/gpu.js';
import { CPU_TRAINER_REMEDY } from '../runtime/limits.js';
import { DivergenceError, LOWER_LR_ADVICE, LOWER_RATE_ADVICE, STANDARDIZE_ADVICE } from '../runtime/plan.js';
import { ScheduleError } from '../runtime/schedule.js';
import { TrainOptionsError } from '../runtime/train.js';

/** Bad usage found by the commands themselves (a flag combination, a missing file). */
export class UsageError extends Error {
  override name = 'UsageError';
}

const USAGE_ERRORS = [
  UsageError,
  InvalidArgumentError,
  CsvError,
  DatasetError,
  SplitError,
  KernelInputError,
  MetricsError,
  ModelConfigError,
  CheckpointError,
  PenaltyConfigError,
  ScheduleError,
  TrainOptionsError,
];

export function isUsageError(error: unknown): boolean {
  return USAGE_ERRORS.some((kind) => error instanceof kind);
}

/** The library's remedies at the end of a DivergenceError's or a GpuError's message, in the CLI's flags. */
const CLI_REMEDIES: [library: string, cli: string][] = [
  // A shape no storage binding of the device takes.
  [CPU_TRAINER_REMEDY, CPU_TRAINER_REMEDY.replace("device: 'cpu'", '--device cpu')],
  [LOWER_RATE_ADVICE, 'lower --lr or --l2'],
  // A model without a penalty (the none arm, λ 0): --l2 changes nothing.
  [LOWER_LR_ADVICE, 'lower --lr'],
  // The library says so only for features it was given unstandardized: --no-standardize here.
  [STANDARDIZE_ADVICE, 'drop --no-standardize (or scale the features down)'],
];

/**
 * An error's message as the CLI prints it: the remedy a DivergenceError or GpuError ends with said
 * in the CLI's flags (`lower --lr or --l2` for the library's `lower the learning rate or λ`), the
 * rest of it as the library says it; any other error's message unchanged.
 */
export function cliMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof DivergenceError || error instanceof GpuError)) return message;
  const remedy = CLI_REMEDIES.find(([library]) => message.endsWith(library));
  return remedy ? message.slice(0, message.length - remedy[0].length) + remedy[1] : message;
}
