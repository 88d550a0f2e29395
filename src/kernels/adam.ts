// Wrapper of shaders/adam.wgsl and its CPU twin: Adam (PyTorch's form) in place on (w, m, v)
// for all models at once, optionally with the epoch's L2 term fused in: coupled (gradient
// g + coef·w) or decoupled (AdamW, w ← w − lr·coef·w before the Adam step). The step count t is
// read from the GPU counters, so many steps go into one submission.

import code from '../../shaders/adam.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
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

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface AdamSpec {
  models: number;
  segments: Segments;
  mode: AdamMode;
  hyper: AdamHyper;
  slots: number;
  weights: GPUBuffer;
  grads: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  coef: GPUBuffer;
  /** vec4<u32> per model: .y rows this step (0: skip), .z step count t. */
  counters: GPUBuffer;
  /** Consecutive vec4 per invocation (default: 4 on CPU adapters, 1 on GPUs). */
  run?: number;
}

/** Throws unless the Adam hyper-parameters are usable. */
export function requireHyper(name: string, h: AdamHyper): void {
  if (!(h.lr > 0) || !Number.isFinite(h.lr)) throw new KernelInputError(`${name}: lr must be a finite number > 0, got ${h.lr}`);
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(h[key] >= 0 && h[key] < 1)) throw new KernelInputError(`${name}: ${key} must be in [0, 1), got ${h[key]}`);
  }
  if (!(h.epsilon > 0) || !Number.isFinite(h.epsilon)) throw new KernelInputError(`${name}: epsilon must be a finite number > 0, got ${h.epsilon}`);
}

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
 * CPU twin, in place, float32 storage with float64 arithmetic per element. `coef` is the
 * epoch's slot; `counters` as on the GPU (t = .z, skip when .y = 0).
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
  const { lr, beta1, beta2, epsilon } = hyper;
  // The shader computes its constants in float32; so does the twin.
  const f = Math.fround;
  const b1 = f(beta1);
  const b2 = f(beta2);
  for (let model = 0; model < models; model++) {
    if (counters[model * COUNTER_WORDS + 1] === 0) continue;
    const t = counters[model * COUNTER_WORDS + 2];
    const bc1 = -Math.expm1(t * Math.log(b1));
    const bc2 = -Math.expm1(t * Math.log(b2));
    for (let seg = 0; seg < s; seg++) {
      const c = coef[model * s + seg];
      const end = seg + 1 < s ? segments.starts[seg + 1] : p;
      for (let j = segments.starts[seg]; j < end; j++) {
        const i = model * p + j;
        let w = state.weights[i];
        let g = state.grads[i];
        if (mode === 'coupled') g = g + c * w;
        else if (mode === 'decoupled') w = w - f(lr) * c * w;
        const m1 = b1 * state.m[i] + (1 - b1) * g;
        const v1 = b2 * state.v[i] + (1 - b2) * g * g;
        state.m[i] = m1;
        state.v[i] = v1;
        state.weights[i] = w - (f(lr) * (m1 / bc1)) / (Math.sqrt(v1 / bc2) + f(epsilon));
      }
    }
  }
}
