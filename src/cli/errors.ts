// Which failures are the user's input (exit code 2) rather than a runtime failure (exit code 1).

import { InvalidArgumentError } from 'commander';
import { CsvError, DatasetError } from '../data/csv.js';
import { SplitError } from '../data/split.js';
import { KernelInputError } from '../kernels/common.js';
import { MetricsError } from '../metrics/classification.js';
import { ModelConfigError } from '../model/mlp.js';
import { CheckpointError } from '../runtime/checkpoint.js';
import { PenaltyConfigError } from '../runtime/penalty.js';
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
