// Runs one model with the library's train() on the page's WebGPU device or on the CPU
// reference trainer, with Stop and Verify:
// - Stop: aborts train() through its `signal` with a StopRequested reason; the trainer stops
//   between epochs (CPU) or chunks of epochs (GPU) and frees its GPU buffers on the way out.
// - Verify: the same options on the CPU reference trainer; compares the per-epoch losses and the
//   final weights.

import { train, type EpochRecord, type Gpu, type Run, type TrainOptions } from '../../src/index.js';
import type { AppConfig } from './config.js';
import type { PreparedData } from './data.js';

/** Thrown from onEpoch when the user pressed Stop. */
export class StopRequested extends Error {
  override name = 'StopRequested';
  constructor(readonly epochsDone: number) {
    super(`stopped by user after ${epochsDone} epoch${epochsDone === 1 ? '' : 's'}`);
  }
}

/** The train() options for a configuration and prepared data (no device, no callback). */
export function trainOptions(config: AppConfig, data: PreparedData): TrainOptions {
  return {
    data: data.train,
    validation: data.validation,
    model: { hidden: config.hidden, activation: config.activation },
    epochs: config.epochs,
    batchSize: config.batchSize,
    optimizer: { kind: 'adam', lr: config.lr },
    seed: config.seed,
    penalty: { lambda: config.lambda, mode: config.mode, convention: config.convention, targets: config.targets, schedule: config.schedule },
  };
}

/** A run that can be stopped between epochs. */
export class Training {
  private readonly controller = new AbortController();
  readonly history: EpochRecord[] = [];

  constructor(
    readonly options: TrainOptions,
    /** The page's device; null trains on the CPU reference trainer. */
    readonly gpu: Gpu | null,
  ) {}

  stop(): void {
    this.controller.abort(new StopRequested(this.history.length));
  }

  /** Trains; rejects with StopRequested when stopped, or with the trainer's own error. */
  run(onEpoch: (record: EpochRecord) => void): Promise<Run> {
    return train({
      ...this.options,
      ...(this.gpu ? { device: 'gpu' as const, gpu: this.gpu } : { device: 'cpu' as const }),
      signal: this.controller.signal,
      onEpoch: (record) => {
        this.history.push(record);
        onEpoch(record);
      },
    });
  }
}

export interface Comparison {
  /** Largest |loss_gpu − loss_cpu| over epochs (training loss), and where. */
  maxLossDiff: number;
  maxLossEpoch: number;
  /** Same for the validation loss. */
  maxValLossDiff: number;
  /** Largest |w_gpu − w_cpu| over all parameters, and the tensor holding it. */
  maxWeightDiff: number;
  maxWeightTensor: string;
  /** Epochs whose masks differ (should be 0). */
  maskDifferences: number;
}

/** Compares a run with its CPU reference run. */
export function compareRuns(a: Run, b: Run): Comparison {
  let maxLossDiff = 0;
  let maxLossEpoch = 0;
  let maxValLossDiff = 0;
  let maskDifferences = 0;
  const epochs = Math.min(a.history.length, b.history.length);
  for (let e = 0; e < epochs; e++) {
    const x = a.history[e];
    const y = b.history[e];
    const d = Math.abs(x.loss - y.loss);
    if (d > maxLossDiff) [maxLossDiff, maxLossEpoch] = [d, e];
    if (x.valLoss !== undefined && y.valLoss !== undefined) maxValLossDiff = Math.max(maxValLossDiff, Math.abs(x.valLoss - y.valLoss));
    if (x.mask.join() !== y.mask.join()) maskDifferences++;
  }
  let maxWeightDiff = 0;
  let maxWeightTensor = '';
  const wa = a.weights;
  const wb = b.weights;
  for (const [name, values] of Object.entries(wa)) {
    const other = wb[name];
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(values[i] - other[i]);
      if (d > maxWeightDiff) [maxWeightDiff, maxWeightTensor] = [d, name];
    }
  }
  return { maxLossDiff, maxLossEpoch, maxValLossDiff, maxWeightDiff, maxWeightTensor, maskDifferences };
}
