// Wrapper of shaders/sumsq.wgsl and its CPU twin: Σw² of every segment (tensor) of every model,
// written into a stats slot; the history's weight norms and penalty values come from it.
// GPUs reduce each segment in a workgroup; CPU adapters give each (segment, model) pair to one
// invocation when the segments are short enough for llvmpipe's loop limit.

import code from '../../shaders/sumsq.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import {
  CPU_LOOP_BUDGET,
  KernelInputError,
  LANES_WG,
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
import { requireStats, type SlotCall, type StatsTarget } from './softmax-xent.js';

const WG = 256;

/** Sizes and buffers of createSumSq: the weights in, Σw² of each tensor out. */
export interface SumSqSpec {
  models: number;
  /** Where each tensor of a model starts (at most MAX_SEGMENTS). */
  segments: Segments;
  /** f32 [models][perModel]. */
  weights: GPUBuffer;
  /** Segment s's Σw² goes to word field + s of its model's record. */
  stats: StatsTarget;
  /**
   * One invocation per (segment, model) pair instead of one workgroup (default: on CPU adapters
   * when no segment is longer than CPU_LOOP_BUDGET).
   */
  lanes?: boolean;
}

/**
 * The longest segment (tensor) createSumSq sums on this adapter: on CPU adapters each of a
 * workgroup's 256 invocations loops over 1/256 of it, within CPU_LOOP_BUDGET (15,360,000);
 * unlimited on GPUs.
 */
export function maxSumSqSegment(gpu: Gpu): number {
  return isCpuAdapter(gpu) ? WG * CPU_LOOP_BUDGET : Number.POSITIVE_INFINITY;
}

/**
 * Prepares Σw² of every segment (tensor) of every model, in float32, written into the stats slot
 * given when it is recorded (encodeSlotCall). CPU twin: sumSqCpu.
 * @throws KernelInputError for a bad size, segments or buffer, or a tensor too long for this adapter.
 */
export function createSumSq(gpu: Gpu, spec: SumSqSpec): SlotCall {
  const name = `sumsq(models ${spec.models}, parameters ${spec.segments.perModel}, segments ${spec.segments.starts.length})`;
  requireCount(name, 'models', spec.models);
  requireSegments(name, spec.segments);
  const nSeg = spec.segments.starts.length;
  requireElements(name, 'weights', spec.weights, spec.models * spec.segments.perModel, `[${spec.models}, ${spec.segments.perModel}]`);
  const slotBytes = requireStats(gpu, name, spec.models, spec.stats, nSeg);
  const ends = [...spec.segments.starts.slice(1), spec.segments.perModel];
  const longest = Math.max(...ends.map((end, i) => end - spec.segments.starts[i]));
  const cpu = isCpuAdapter(gpu);
  const lanes = spec.lanes ?? (cpu && longest <= CPU_LOOP_BUDGET);
  // Loop iterations per invocation: a whole segment (lanes) or a 1/WG share of one.
  const iterations = lanes ? longest : Math.ceil(longest / WG);
  if (cpu && iterations > CPU_LOOP_BUDGET) {
    throw new KernelInputError(`${name}: a tensor of ${longest} parameters needs ${iterations} loop iterations per invocation${lanes ? ' with lanes' : ''}, more than ${gpu.name} runs (65,535)`);
  }
  const layout = bindGroupLayout(gpu, [{ kind: 'read' }, { kind: 'write', dynamic: true }, { kind: 'uniform' }]);
  const pipeline = computePipeline(gpu, 'sumsq', code, [layout], { WG: lanes ? LANES_WG : WG, LANES: lanes });
  const words = new Uint32Array(8 + 68);
  words.set([spec.segments.perModel, nSeg, spec.stats.recordWords, spec.stats.field, spec.models]);
  spec.segments.starts.forEach((s, i) => (words[8 + i] = s));
  words[8 + nSeg] = spec.segments.perModel;
  const workgroups: [number, number] = lanes ? grid1d(gpu, Math.ceil((nSeg * spec.models) / LANES_WG)) : [nSeg, spec.models];
  const params = uniformBuffer(gpu, 'sumsq params', words);
  const bindGroup = gpu.device.createBindGroup({
    label: name,
    layout,
    entries: [
      { binding: 0, resource: { buffer: spec.weights } },
      { binding: 1, resource: { buffer: spec.stats.buffer, size: slotBytes } },
      { binding: 2, resource: { buffer: params } },
    ],
  });
  let destroyed = false;
  return {
    kernel: name,
    pipeline,
    bindGroup,
    slotBytes,
    workgroups,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      gpu.destroyBuffer(params);
    },
  };
}

/**
 * CPU twin: Σw² per [model][segment] as the shader's float32 gives it: each square rounded to
 * float32 (Infinity from |w| ≈ 1.8e19 on), summed in float64 and the sum rounded to float32 once
 * (Infinity when it passes float32's 3.4e38, as the shader's partial sums then do, in whatever
 * order it adds them: the terms are never negative).
 */
export function sumSqCpu(models: number, segments: Segments, weights: ArrayLike<number>): Float64Array {
  const nSeg = segments.starts.length;
  const out = new Float64Array(models * nSeg);
  for (let model = 0; model < models; model++) {
    for (let s = 0; s < nSeg; s++) {
      const end = s + 1 < nSeg ? segments.starts[s + 1] : segments.perModel;
      let sum = 0;
      for (let j = segments.starts[s]; j < end; j++) {
        const w = Math.fround(weights[model * segments.perModel + j]);
        sum += Math.fround(w * w);
      }
      out[model * nSeg + s] = Math.fround(sum);
    }
  }
  return out;
}
