// Wrapper of shaders/adam.wgsl and its CPU twin: Adam (PyTorch's form) in place on (w, m, v)
// for all models at once, optionally with the epoch's L2 term fused in: coupled (gradient
// g + coef·w) or decoupled (AdamW, w ← w − lr·coef·w before the Adam step). The step count t is
// read from the GPU counters, so many steps go into one submission.

import code from '../../shaders/adam.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import { describeValue } from '../runtime/options.js';
import {
  KernelInputError,
  bindGroupLayout,
  computePipeline,
  grid1d,
  isCpuAdapter,
  requireCount,
  requireElements,
  requireSegments,
  uniformBuffer,
  type Segments,
} from './common.js';
import { COUNTER_WORDS } from './gather.js';
import { coefSlotBytes } from './l2-grad.js';
import type { SlotCall } from './softmax-xent.js';

const WG = 256;
/**
 * Consecutive vec4 per invocation on CPU adapters, where a run inside one tensor looks its
 * coefficient and step up once: llvmpipe loads storage lane by lane, and the lookups cost more
 * than the update. GPUs keep one vec4 per invocation (neighbours read neighbouring vec4).
 */
const CPU_RUN = 4;

/** Consecutive vec4 per invocation that createAdam uses on this adapter unless told. */
export function adamRun(gpu: Gpu): number {
  return isCpuAdapter(gpu) ? CPU_RUN : 1;
}
/** The shader finds a parameter's model with a corrected float quotient, exact up to 2²² models. */
export const MAX_MODELS = 2 ** 22;

/** `none`: plain Adam; `coupled`: L2 added to the gradient; `decoupled`: AdamW decay. */
export type AdamMode = 'none' | 'coupled' | 'decoupled';
const MODE_CODE: Record<AdamMode, number> = { none: 0, coupled: 1, decoupled: 2 };

/**
 * Adam's hyper-parameters, every one given: lr and epsilon positive normal float32 numbers, beta1
 * and beta2 in [0, 1) as float32 (see requireHyper).
 */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Sizes and buffers of createAdam: parameters, gradients and moments, coefficient slots, counters. */
export interface AdamSpec {
  /** At most MAX_MODELS. */
  models: number;
  /** Where each tensor of a model starts (at most MAX_SEGMENTS). */
  segments: Segments;
  /** How the epoch's coefficient enters the update. */
  mode: AdamMode;
  hyper: AdamHyper;
  /** Slots (epochs) in `coef`. */
  slots: number;
  /** f32 [models][perModel], padded to a multiple of 4; updated in place. */
  weights: GPUBuffer;
  /** f32, as weights. */
  grads: GPUBuffer;
  /** Adam's first moment, f32 as weights; updated in place. */
  m: GPUBuffer;
  /** Adam's second moment, f32 as weights; updated in place. */
  v: GPUBuffer;
  /** f32 [models][segments] per slot (coefSlotBytes apart): coupled c·λ·mask, decoupled λ·mask. */
  coef: GPUBuffer;
  /** vec4<u32> per model: .y rows this step (0: skip), .z step count t. */
  counters: GPUBuffer;
  /** Consecutive vec4 per invocation (default: 4 on CPU adapters, 1 on GPUs). */
  run?: number;
}

/** The smallest normal float32, 2⁻¹²⁶ ≈ 1.18e-38: GPUs may flush smaller (subnormal) values to 0. */
export const MIN_NORMAL_FLOAT32 = 2 ** -126;
/** MIN_NORMAL_FLOAT32 as messages say it (rounded up: 1.18e-38 itself is normal). */
export const MIN_NORMAL_FLOAT32_TEXT = '1.18e-38';
/** What lr may be, for messages: a normal float32, as a subnormal one may be flushed to 0 (no step). */
export const LR_RANGE = `about ${MIN_NORMAL_FLOAT32_TEXT} to 3.4e38 (a normal float32: the GPU computes in float32 and may flush smaller numbers to 0)`;
/** What epsilon may be, for messages: a normal float32, as a subnormal one may be flushed to 0 (0/0). */
export const EPSILON_RANGE = LR_RANGE;
/** What beta1 and beta2 may be, for messages. */
export const BETA_RANGE = 'from 0 to 0.99999994 (the largest float32 below 1: the GPU computes in float32)';

/**
 * Why a number > 0 is no usable lr or epsilon once the GPU holds it as a float32 (the clause after
 * the value in a message: `which is 0 in float32`), or null when it is one. lr 1e-50 would be 0
 * (nothing trains) and 1e39 Infinity; epsilon 1e-46 would be 0 (0/0 is NaN), 1e39 Infinity (every
 * update 0). With `normal`, a subnormal value (below 1.18e-38) is refused too: GPUs may flush it
 * to 0 (an lr of 1e-40 trains nothing there, and an epsilon of 1e-40 divides 0 by 0).
 */
export function float32PositiveProblem(value: number, normal: boolean): string | null {
  const f = Math.fround(value);
  if (f === 0) return 'which is 0 in float32';
  if (f === Number.POSITIVE_INFINITY) return 'which is Infinity in float32';
  if (normal && f < MIN_NORMAL_FLOAT32) return 'which float32 holds only as a subnormal number, which GPUs may flush to 0';
  return null;
}

/**
 * Throws unless the Adam hyper-parameters are usable as the GPU holds them, in float32: lr and
 * epsilon finite normal float32 numbers > 0, beta1 and beta2 in [0, 1) after rounding to float32
 * (0.99999999 is 1 there, and the bias correction 1 − βᵗ would divide by 0). The message names
 * the field, the value, why float32 cannot use it, and the valid range.
 */
export function requireHyper(name: string, h: AdamHyper): void {
  for (const key of ['lr', 'beta1', 'beta2', 'epsilon'] as const) {
    const value: unknown = h[key];
    const beta = key === 'beta1' || key === 'beta2';
    const number = typeof value === 'number';
    let why: string | null;
    if (beta) why = number && value >= 0 && value < 1 ? (Math.fround(value) < 1 ? null : 'which is 1 in float32') : '';
    else why = number && value > 0 && Number.isFinite(value) ? float32PositiveProblem(value, true) : '';
    if (why !== null) {
      const must = beta ? 'must be in [0, 1)' : 'must be a finite number > 0';
      const range = beta ? BETA_RANGE : key === 'lr' ? LR_RANGE : EPSILON_RANGE;
      throw new KernelInputError(`${name}: ${key} ${must}, got ${describeValue(value)}${why ? `, ${why}` : ''}; valid: ${range}`);
    }
  }
}

/**
 * Prepares one Adam step (PyTorch's form) of every model, in place, with the L2 term of the
 * coefficient slot given when it is recorded (encodeSlotCall) fused as `mode` says; the step
 * count t comes from the counters, and a model without rows this step is skipped. CPU twin: adamCpu.
 * @throws KernelInputError for a bad size, hyper-parameter or buffer (each a multiple of 16 bytes).
 */
export function createAdam(gpu: Gpu, spec: AdamSpec): SlotCall {
  const name = `adam(${spec.mode}; models ${spec.models}, parameters ${spec.segments.perModel})`;
  requireCount(name, 'models', spec.models);
  if (spec.models > MAX_MODELS) throw new KernelInputError(`${name}: at most ${MAX_MODELS} models are supported, got ${spec.models}`);
  requireCount(name, 'slots', spec.slots);
  requireSegments(name, spec.segments);
  requireHyper(name, spec.hyper);
  if (!(spec.mode in MODE_CODE)) throw new KernelInputError(`${name}: mode must be none, coupled or decoupled, got ${spec.mode}`);
  const count = spec.models * spec.segments.perModel;
  const shape = `[${spec.models}, ${spec.segments.perModel}]`;
  // The shader reads and writes four parameters at a time: the buffers hold whole vec4s.
  const padded = Math.ceil(count / 4) * 4;
  for (const field of ['weights', 'grads', 'm', 'v'] as const) {
    requireElements(name, field, spec[field], padded, `${shape} padded to a multiple of 4`);
    if (spec[field].size % 16 !== 0) throw new KernelInputError(`${name}: '${field}' buffer size ${spec[field].size} must be a multiple of 16 bytes (vec4 access)`);
  }
  const slotBytes = coefSlotBytes(gpu, spec.models, spec.segments.starts.length);
  requireElements(name, 'coef', spec.coef, (spec.slots * slotBytes) / 4, `${spec.slots} slots of [${spec.models}, ${spec.segments.starts.length}]`);
  requireElements(name, 'counters', spec.counters, spec.models * COUNTER_WORDS, `[${spec.models}, ${COUNTER_WORDS}]`);
  const layout = bindGroupLayout(gpu, [
    { kind: 'write' },
    { kind: 'read' },
    { kind: 'write' },
    { kind: 'write' },
    { kind: 'read', dynamic: true },
    { kind: 'read' },
    { kind: 'uniform' },
    { kind: 'read' },
  ]);
  const run = spec.run ?? adamRun(gpu);
  requireCount(name, 'run', run);
  const pipeline = computePipeline(gpu, 'adam', code, [layout], {
    WG,
    RUN: run,
    MODE: MODE_CODE[spec.mode],
    WIDE_MODELS: spec.segments.perModel >= 4,
  });
  const table = new Uint32Array(spec.segments.perModel);
  spec.segments.starts.forEach((start, i) => table.fill(i, start));
  const segmentTable = gpu.createStorage('adam segment table', table);
  const { lr, beta1, beta2, epsilon } = spec.hyper;
  const logs = [Math.log(Math.fround(beta1)), Math.log(Math.fround(beta2))];
  const words = new ArrayBuffer(48);
  new Uint32Array(words, 0, 4).set([count, spec.segments.perModel, spec.segments.starts.length, spec.models]);
  new Float32Array(words, 16, 7).set([lr, beta1, beta2, epsilon, ...logs, 1 / spec.segments.perModel]);
  const params = uniformBuffer(gpu, 'adam params', new Uint32Array(words));
  const bindGroup = gpu.device.createBindGroup({
    label: name,
    layout,
    entries: [
      { binding: 0, resource: { buffer: spec.weights } },
      { binding: 1, resource: { buffer: spec.grads } },
      { binding: 2, resource: { buffer: spec.m } },
      { binding: 3, resource: { buffer: spec.v } },
      { binding: 4, resource: { buffer: spec.coef, size: slotBytes } },
      { binding: 5, resource: { buffer: spec.counters } },
      { binding: 6, resource: { buffer: params } },
      { binding: 7, resource: { buffer: segmentTable } },
    ],
  });
  let destroyed = false;
  return {
    kernel: name,
    pipeline,
    bindGroup,
    slotBytes,
    workgroups: grid1d(gpu, Math.ceil(count / 4 / run / WG)),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      gpu.destroyBuffer(params);
      gpu.destroyBuffer(segmentTable);
    },
  };
}

/**
 * CPU twin, in place: every operation rounded to float32 in the shader's order, so that what
 * overflows there overflows here (a gradient past 1.8e19 makes v/(1 − β₂ᵗ) Infinity and the
 * update 0 on both; a float64 twin would still step) and finite results agree to a few ulps
 * (the GPU's division, square root and bias corrections are not correctly rounded). `coef` is
 * the epoch's slot; `counters` as on the GPU (t = .z, skip when .y = 0).
 */
export function adamCpu(
  models: number,
  segments: Segments,
  mode: AdamMode,
  hyper: AdamHyper,
  coef: ArrayLike<number>,
  counters: ArrayLike<number>,
  state: { weights: Float32Array | Float64Array; grads: ArrayLike<number>; m: Float32Array | Float64Array; v: Float32Array | Float64Array },
): void {
  const p = segments.perModel;
  const s = segments.starts.length;
  const f = Math.fround;
  // The shader's uniforms are float32; its 1 − β is computed in float32 too.
  const lr = f(hyper.lr);
  const b1 = f(hyper.beta1);
  const b2 = f(hyper.beta2);
  const epsilon = f(hyper.epsilon);
  const c1 = f(1 - b1);
  const c2 = f(1 - b2);
  for (let model = 0; model < models; model++) {
    if (counters[model * COUNTER_WORDS + 1] === 0) continue;
    const t = Math.max(counters[model * COUNTER_WORDS + 2], 1);
    // 1 / (1 − βᵗ), accurate in float64 and rounded once (the shader's is good to a few ulps).
    const inv1 = f(-1 / Math.expm1(t * Math.log(b1)));
    const inv2 = f(-1 / Math.expm1(t * Math.log(b2)));
    for (let seg = 0; seg < s; seg++) {
      const c = f(coef[model * s + seg]);
      const end = seg + 1 < s ? segments.starts[seg + 1] : p;
      for (let j = segments.starts[seg]; j < end; j++) {
        const i = model * p + j;
        let w = f(state.weights[i]);
        let g = f(state.grads[i]);
        if (mode === 'coupled') g = f(g + f(c * w));
        else if (mode === 'decoupled') w = f(w - f(f(lr * c) * w));
        // As the shader: β₁m + (1 − β₁)g and β₂v + ((1 − β₂)g)g, each product and sum in float32.
        const m1 = f(f(b1 * state.m[i]) + f(c1 * g));
        const v1 = f(f(b2 * state.v[i]) + f(f(c2 * g) * g));
        state.m[i] = m1;
        state.v[i] = v1;
        const step = f(f(lr * f(m1 * inv1)) / f(f(Math.sqrt(f(v1 * inv2))) + epsilon));
        state.weights[i] = f(w - step);
      }
    }
  }
}
