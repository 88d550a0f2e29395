// Wrapper of shaders/l2_grad.wgsl and its CPU twin: g += coef[model][segment] · w over every
// tensor of every model in one dispatch. coef = c·λ·mask for the epoch (c = 2 in the Keras
// convention, 1 in PyTorch's); the epoch's slot of the coef buffer is a dynamic offset.

import code from '../../shaders/l2_grad.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import {
  bindGroupLayout,
  computePipeline,
  grid1d,
  requireCount,
  requireElements,
  requireSegments,
  segmentOf,
  storageSlotBytes,
  uniformBuffer,
  type Segments,
} from './common.js';
import type { SlotCall } from './softmax-xent.js';

const WG = 256;

/** Bytes of one coef slot ([models][segments] f32), aligned for dynamic offsets. */
export function coefSlotBytes(gpu: Gpu, models: number, segments: number): number {
  return storageSlotBytes(gpu, models * segments * 4);
}

/** The kernel's uniform words: sizes, then 16 vec4 of segment starts. */
function segmentWords(models: number, segments: Segments): Uint32Array {
  const u = new Uint32Array(4 + 64);
  u.set([models * segments.perModel, segments.perModel, segments.starts.length]);
  u.set(segments.starts, 4);
  return u;
}

/** Sizes and buffers of createL2Grad: weights, gradients and per-epoch coefficient slots. */
export interface L2GradSpec {
  models: number;
  /** Where each tensor of a model starts (at most MAX_SEGMENTS). */
  segments: Segments;
  /** Slots (epochs) in `coef`. */
  slots: number;
  /** f32 [models][perModel]. */
  weights: GPUBuffer;
  /** f32 [models][perModel], updated in place. */
  grads: GPUBuffer;
  /** f32 [models][segments] per slot (coefSlotBytes apart): c·λ·mask of each tensor. */
  coef: GPUBuffer;
}

/**
 * Prepares g += coef[model][segment]·w over every parameter of every model, with the coefficients
 * of the slot given when it is recorded (encodeSlotCall). CPU twin: l2GradCpu.
 * @throws KernelInputError for a bad size, segments or buffer.
 */
export function createL2Grad(gpu: Gpu, spec: L2GradSpec): SlotCall {
  const name = `l2_grad(models ${spec.models}, parameters ${spec.segments.perModel}, segments ${spec.segments.starts.length})`;
  requireCount(name, 'models', spec.models);
  requireCount(name, 'slots', spec.slots);
  requireSegments(name, spec.segments);
  const count = spec.models * spec.segments.perModel;
  requireElements(name, 'weights', spec.weights, count, `[${spec.models}, ${spec.segments.perModel}]`);
  requireElements(name, 'grads', spec.grads, count, `[${spec.models}, ${spec.segments.perModel}]`);
  const slotBytes = coefSlotBytes(gpu, spec.models, spec.segments.starts.length);
  requireElements(name, 'coef', spec.coef, (spec.slots * slotBytes) / 4, `${spec.slots} slots of [${spec.models}, ${spec.segments.starts.length}]`);
  const layout = bindGroupLayout(gpu, [{ kind: 'read' }, { kind: 'write' }, { kind: 'read', dynamic: true }, { kind: 'uniform' }]);
  const pipeline = computePipeline(gpu, 'l2_grad', code, [layout], { WG });
  const params = uniformBuffer(gpu, 'l2_grad params', segmentWords(spec.models, spec.segments));
  const bindGroup = gpu.device.createBindGroup({
    label: name,
    layout,
    entries: [
      { binding: 0, resource: { buffer: spec.weights } },
      { binding: 1, resource: { buffer: spec.grads } },
      { binding: 2, resource: { buffer: spec.coef, size: slotBytes } },
      { binding: 3, resource: { buffer: params } },
    ],
  });
  let destroyed = false;
  return {
    kernel: name,
    pipeline,
    bindGroup,
    slotBytes,
    workgroups: grid1d(gpu, Math.ceil(count / WG)),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      gpu.destroyBuffer(params);
    },
  };
}

/** CPU twin: grads += coef[model][segment] · weights, in place. `coef` is one slot. */
export function l2GradCpu(models: number, segments: Segments, coef: ArrayLike<number>, weights: ArrayLike<number>, grads: Float32Array | Float64Array): void {
  const p = segments.perModel;
  const s = segments.starts.length;
  for (let model = 0; model < models; model++) {
    for (let j = 0; j < p; j++) {
      const i = model * p + j;
      grads[i] = grads[i] + coef[model * s + segmentOf(segments, j)] * weights[i];
    }
  }
}
