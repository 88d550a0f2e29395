// The L2 penalty of one model: its settings, the per-tensor coefficients an epoch's mask gives
// the Adam kernel, and the penalty value reported in the history.
//
//   coupled, keras    loss + λ·Σ mask_t·Σw²      gradient + 2λ·mask·w   (Keras kernel_regularizer)
//   coupled, torch    loss + (λ/2)·Σ mask_t·Σw²  gradient + λ·mask·w    (torch.optim.Adam weight_decay)
//   decoupled         w ← w − lr·λ·mask·w before the Adam step (torch.optim.AdamW weight_decay);
//                     the reported value uses the convention's formula above

import type { MlpLayout } from '../model/mlp.js';
import { describeValue } from './options.js';
import { resolveSchedule, type ParsedSchedule, type ScheduleSpec, type Targets } from './schedule.js';

/**
 * How an on L2 term enters the update: 'coupled' adds its gradient to the loss's before Adam (L2
 * regularization); 'decoupled' shrinks the weights, w ← w − lr·λ·w, before the Adam step (AdamW).
 */
export type PenaltyMode = 'coupled' | 'decoupled';
/**
 * What λ means: 'keras' penalty λ·Σw², gradient 2λw (Keras' kernel_regularizer); 'torch' penalty
 * (λ/2)·Σw², gradient λw (torch.optim.Adam's weight_decay). With mode 'decoupled' only the
 * reported penalty uses it.
 */
export type Convention = 'keras' | 'torch';

/**
 * A model's L2 penalty: its strength λ, how an on term enters the update, which tensors it targets
 * and the schedule that switches the terms per epoch. Defaults: λ 0 (none), coupled, keras,
 * kernels, constant.
 * @example
 * const penalty: PenaltyConfig = { lambda: 0.01, schedule: 'alternate' }; // λ·Σw² per kernel, one dropped every other epoch
 */
export interface PenaltyConfig {
  /** λ from 0 to 1.7e38, as 2λ must fit in a float32 (see isLambda); default 0: no penalty. */
  lambda?: number;
  /** Default 'coupled'. */
  mode?: PenaltyMode;
  /** Default 'keras' (penalty λ·Σw², gradient 2λw). */
  convention?: Convention;
  /** Default 'kernels' (biases unpenalized, as Keras' kernel_regularizer). */
  targets?: Targets;
  /** Default 'constant'. */
  schedule?: ScheduleSpec;
}

/** The valid keys of a PenaltyConfig (the compiler keeps this list and the interface in step). */
export const PENALTY_KEYS = Object.keys({ lambda: 1, mode: 1, convention: 1, targets: 1, schedule: 1 } satisfies Record<keyof PenaltyConfig, 1>);

export type ResolvedPenalty = Required<Omit<PenaltyConfig, 'schedule'>> & { schedule: ParsedSchedule };

/**
 * A bad PenaltyConfig: λ outside LAMBDA_RANGE, or an unknown mode, convention or targets; the
 * message names the field and what is valid. train(), trainBatch() and runExperiment() throw it
 * as a TrainOptionsError with the same message.
 */
export class PenaltyConfigError extends Error {
  override name = 'PenaltyConfigError';
}

/** What λ may be, for messages. */
export const LAMBDA_RANGE = 'a number from 0 to 1.7e38 (2λ must fit in a float32)';

/**
 * Whether `value` is a usable λ: a number ≥ 0 whose gradient coefficient 2λ (the keras
 * convention's) is finite in float32, as the GPU trainer holds it. Past about 1.7e38 it would be
 * Infinity, and the first step would divide by it into NaN.
 */
export function isLambda(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && Number.isFinite(Math.fround(2 * value));
}

export function resolvePenalty(p: PenaltyConfig | undefined, field = 'penalty'): ResolvedPenalty {
  const r: Required<PenaltyConfig> = {
    lambda: p?.lambda ?? 0,
    mode: p?.mode ?? 'coupled',
    convention: p?.convention ?? 'keras',
    targets: p?.targets ?? 'kernels',
    schedule: p?.schedule ?? 'constant',
  };
  if (!isLambda(r.lambda)) throw new PenaltyConfigError(`${field}.lambda must be ${LAMBDA_RANGE}, got ${describeValue(r.lambda)}`);
  if (r.mode !== 'coupled' && r.mode !== 'decoupled') throw new PenaltyConfigError(`${field}.mode must be 'coupled' or 'decoupled', got ${JSON.stringify(r.mode)}`);
  if (r.convention !== 'keras' && r.convention !== 'torch') {
    throw new PenaltyConfigError(`${field}.convention must be 'keras' or 'torch', got ${JSON.stringify(r.convention)}`);
  }
  if (r.targets !== 'kernels' && r.targets !== 'all') throw new PenaltyConfigError(`${field}.targets must be 'kernels' or 'all', got ${JSON.stringify(r.targets)}`);
  return { ...r, schedule: resolveSchedule(r.schedule, `${field}.schedule`) };
}

/** Index of each targeted tensor's segment in the layout. */
export function targetSegments(layout: MlpLayout, targetNames: string[]): number[] {
  return targetNames.map((name) => layout.tensors.findIndex((t) => t.name === name));
}

/**
 * Per-segment coefficient for the Adam kernel: coupled c·λ·mask (c = 2 keras, 1 torch),
 * decoupled λ·mask; 0 for untargeted tensors.
 */
export function penaltyCoefficients(layout: MlpLayout, p: ResolvedPenalty, segments: number[], mask: boolean[]): Float32Array {
  const coef = new Float32Array(layout.tensors.length);
  const c = p.mode === 'decoupled' ? 1 : p.convention === 'keras' ? 2 : 1;
  segments.forEach((seg, i) => {
    if (mask[i]) coef[seg] = c * p.lambda;
  });
  return coef;
}

/** The active penalty: Σ over targeted tensors on in `mask` of k·λ·Σw² (k = 1 keras, ½ torch). */
export function penaltyValue(p: ResolvedPenalty, segments: number[], mask: boolean[], sumSquares: ArrayLike<number>): number {
  const k = p.convention === 'keras' ? 1 : 0.5;
  let total = 0;
  segments.forEach((seg, i) => {
    // Terms that are off add nothing, even when a float32 Σw² overflowed (0·∞ would be NaN).
    if (mask[i] && p.lambda > 0) total += k * p.lambda * sumSquares[seg];
  });
  return total;
}
