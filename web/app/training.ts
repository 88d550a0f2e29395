// Runs one model with the library's train() on the page's WebGPU device or on the CPU
// reference trainer, with Stop and Verify:
// - Stop: aborts train() through its `signal` with a StopRequested reason; the trainer stops
//   between epochs (CPU) or chunks of epochs (GPU) and frees its GPU buffers on the way out.
// - Verify: the same options on the CPU reference trainer; compares the per-epoch losses and
//   masks against the bound the library's tests hold the two trainers to, and reports the final
//   weights' difference.

import { train, type EpochRecord, type Gpu, type Run, type TrainOptions } from '../../src/index.js';
import type { AppConfig } from './config.js';
import type { PreparedData } from './data.js';

/**
 * The abort reason when the user pressed Stop. It names no epoch count: the GPU trainer still
 * delivers the epochs it had in flight, so Training.history is only complete once train() ended.
 */
export class StopRequested extends Error {
  override name = 'StopRequested';
  constructor() {
    super('stopped by user');
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

/** The library's device options for the page's device; null: the CPU reference trainer. */
export function deviceOptions(gpu: Gpu | null): { device: 'gpu'; gpu: Gpu } | { device: 'cpu' } {
  return gpu ? { device: 'gpu', gpu } : { device: 'cpu' };
}

/** Work that Stop ends: it hands `signal` to the library, which rejects with StopRequested. */
export class Stoppable {
  private readonly controller = new AbortController();
  protected readonly signal = this.controller.signal;

  stop(): void {
    this.controller.abort(new StopRequested());
  }

  /** Stop was pressed; the work may still be finishing its current epoch (GPU: chunk of epochs). */
  get stopRequested(): boolean {
    return this.signal.aborted;
  }
}

/** A run that can be stopped between epochs. */
export class Training extends Stoppable {
  readonly history: EpochRecord[] = [];

  constructor(
    readonly options: TrainOptions,
    /** The page's device; null trains on the CPU reference trainer. */
    readonly gpu: Gpu | null,
  ) {
    super();
  }

  /** Trains; rejects with StopRequested when stopped, or with the trainer's own error. */
  run(onEpoch: (record: EpochRecord) => void, onStep?: TrainOptions['onStep']): Promise<Run> {
    return train({
      ...this.options,
      ...deviceOptions(this.gpu),
      signal: this.signal,
      onEpoch: (record) => {
        this.history.push(record);
        onEpoch(record);
      },
      ...(onStep ? { onStep } : {}),
    });
  }
}

/** Epochs over which the library's tests hold the GPU trainer to the CPU reference trainer. */
export const VERIFIED_EPOCHS = 20;
/** Their bound on |loss_gpu − loss_cpu| / loss_cpu in each of those epochs (src/runtime/trainer.test.ts). */
export const LOSS_TOLERANCE = 1e-4;

export interface Comparison {
  /** Epochs compared, and the first of them judged against LOSS_TOLERANCE (at most VERIFIED_EPOCHS). */
  epochs: number;
  judgedEpochs: number;
  /** Largest relative training loss difference in the judged epochs, and its 0-based epoch. */
  maxLossDiff: number;
  maxLossEpoch: number;
  /** Same for the validation loss. */
  maxValLossDiff: number;
  /** Largest relative training loss difference after the judged epochs (null: there are none). */
  laterLossDiff: number | null;
  laterLossEpoch: number;
  /** Largest |w_gpu − w_cpu| over all final parameters, and the tensor holding it. */
  maxWeightDiff: number;
  maxWeightTensor: string;
  /** Epochs whose masks differ (the schedule is exact: must be 0). */
  maskDifferences: number;
  tolerance: number;
  /** No mask differs and the judged epochs' losses are within the tolerance. */
  pass: boolean;
  /** The settings or the GPU run are extreme enough that float32 overflow on the GPU likely explains a FAIL. */
  overflowLikely: boolean;
  /** The learning rate is large enough to make training chaotic, which likely explains a FAIL. */
  chaoticLikely: boolean;
}

/**
 * Float32 ends at 3.4e38. The GPU computes every intermediate in float32; the CPU reference rounds
 * Adam's and the norms' to float32 as the GPU does (so a λ as large as 1e20 alone no longer parts
 * them), but sums its matrix products in float64; so once the GPU run reports a value this large,
 * the two runs can part ways without a bug in either.
 */
const HUGE_VALUE = 1e30;

/** Whether `history` (a GPU run's) is in float32's overflow range. */
function nearOverflow(history: EpochRecord[]): boolean {
  const huge = (v: number | undefined) => v !== undefined && !(Math.abs(v) <= HUGE_VALUE);
  return history.some((r) => [r.loss, r.valLoss, r.penalty, ...Object.values(r.weightNorms)].some(huge));
}

/**
 * From this learning rate on, training is often chaotic (tanh or sigmoid on iris at lr 5: the two
 * trainers' losses 6e-5 apart after the first epoch, 0.5 after the fourth): the last-bit
 * differences of float32 sums added in another order grow epoch after epoch.
 */
const CHAOTIC_LR = 1;

/** |x − y| relative to the reference y (0 when both are 0). */
function relative(x: number, y: number): number {
  return x === y ? 0 : Math.abs(x - y) / Math.abs(y);
}

/**
 * Compares a GPU run `a`, trained with learning rate `lr`, with its CPU reference run `b`. Only
 * the first VERIFIED_EPOCHS epochs' losses are judged: float32 sums are rounded in a different
 * order on each device, and such differences can grow over many epochs (fast on digits with relu,
 * and at once where `lr` makes training chaotic) without anything being wrong.
 */
export function compareRuns(a: Run, b: Run, lr: number): Comparison {
  const epochs = Math.min(a.history.length, b.history.length);
  const judgedEpochs = Math.min(epochs, VERIFIED_EPOCHS);
  let maxLossDiff = 0;
  let maxLossEpoch = 0;
  let maxValLossDiff = 0;
  let laterLossDiff: number | null = null;
  let laterLossEpoch = 0;
  let maskDifferences = 0;
  for (let e = 0; e < epochs; e++) {
    const x = a.history[e];
    const y = b.history[e];
    const d = relative(x.loss, y.loss);
    // `!(d <= max)`: a NaN difference is kept (and fails the verdict) rather than skipped.
    if (e >= judgedEpochs) {
      if (laterLossDiff === null || !(d <= laterLossDiff)) [laterLossDiff, laterLossEpoch] = [d, e];
    } else {
      if (!(d <= maxLossDiff)) [maxLossDiff, maxLossEpoch] = [d, e];
      if (x.valLoss !== undefined && y.valLoss !== undefined) {
        const v = relative(x.valLoss, y.valLoss);
        if (!(v <= maxValLossDiff)) maxValLossDiff = v;
      }
    }
    if (x.mask.join() !== y.mask.join()) maskDifferences++;
  }
  let maxWeightDiff = 0;
  let maxWeightTensor = '';
  // Each `weights` read copies the whole parameter block: once per run, not per tensor.
  const theirs = b.weights;
  for (const [name, values] of Object.entries(a.weights)) {
    const other = theirs[name];
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(values[i] - other[i]);
      if (d > maxWeightDiff) [maxWeightDiff, maxWeightTensor] = [d, name];
    }
  }
  const pass = maskDifferences === 0 && maxLossDiff <= LOSS_TOLERANCE && maxValLossDiff <= LOSS_TOLERANCE;
  const overflowLikely = nearOverflow(a.history);
  const chaoticLikely = lr >= CHAOTIC_LR;
  return { epochs, judgedEpochs, maxLossDiff, maxLossEpoch, maxValLossDiff, laterLossDiff, laterLossEpoch, maxWeightDiff, maxWeightTensor, maskDifferences, tolerance: LOSS_TOLERANCE, pass, overflowLikely, chaoticLikely };
}

/**
 * What the numbers mean, after the verdict: what was judged, for a FAIL in float32's overflow
 * range its likely cause, and what was not judged. Epochs are shown 1-based, as in the status.
 */
export function describeComparison(c: Comparison): string {
  const x = (v: number) => v.toExponential(1);
  const judged = `epochs 1–${c.judgedEpochs}`;
  const losses =
    `in ${judged} the largest relative loss difference is ${x(c.maxLossDiff)} (epoch ${c.maxLossEpoch + 1}), validation loss ${x(c.maxValLossDiff)}; ` +
    `tolerance ${x(c.tolerance)}, the bound the library's tests hold the GPU trainer to over ${VERIFIED_EPOCHS} epochs`;
  const masks = c.maskDifferences === 0 ? `masks identical in all ${c.epochs} epochs` : `masks differ in ${c.maskDifferences} of ${c.epochs} epochs`;
  // Masks cannot differ for numerical reasons: a mask difference has no such cause.
  const numerical = !c.pass && c.maskDifferences === 0;
  const cause =
    numerical && c.overflowLikely
      ? 'Likely cause: extreme values. With losses, penalties or weights this large, float32 arithmetic on the GPU overflows (past 3.4e38) where the CPU reference, ' +
        'which sums its matrix products in float64, may not; with a smaller learning rate or λ the two trainers agree.\n'
      : numerical && c.chaoticLikely
        ? `Likely cause: a learning rate this large (≥ ${CHAOTIC_LR}) often makes training chaotic: the two trainers add their float32 sums in different orders, ` +
          'and such training multiplies those last-bit differences epoch after epoch; with a smaller learning rate the two trainers agree.\n'
        : '';
  const later = c.laterLossDiff === null ? '' : `after epoch ${c.judgedEpochs} the largest relative loss difference is ${x(c.laterLossDiff)} (epoch ${c.laterLossEpoch + 1}); `;
  return (
    `${masks}; ${losses}.\n` +
    cause +
    `Not judged: ${later}final weights differ by at most ${x(c.maxWeightDiff)} (${c.maxWeightTensor || '–'}). ` +
    'Float32 sums on the GPU and on the CPU are rounded in different orders, so the two runs drift apart over many epochs.'
  );
}
