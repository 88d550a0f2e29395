// Wrapper of shaders/sumsq.wgsl and its CPU twin: Σw² of every segment (tensor) of every model,
// written into a stats slot; the history's weight norms and penalty values come from it.

import code from '../../shaders/sumsq.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import { bindGroupLayout, computePipeline, requireCount, requireElements, requireSegments, uniformBuffer, type Segments } from './common.js';
import { requireStats, type SlotCall, type StatsTarget } from './softmax-xent.js';

const WG = 256;

export interface SumSqSpec {
  models: number;
  segments: Segments;
  weights: GPUBuffer;
  stats: StatsTarget;
}

export function createSumSq(gpu: Gpu, spec: SumSqSpec): SlotCall {
  const name = `sumsq(models ${spec.models}, parameters ${spec.segments.perModel}, segments ${spec.segments.starts.length})`;
  requireCount(name, 'models', spec.models);
  requireSegments(name, spec.segments);
  const nSeg = spec.segments.starts.length;
  requireElements(name, 'weights', spec.weights, spec.models * spec.segments.perModel, `[${spec.models}, ${spec.segments.perModel}]`);
  const slotBytes = requireStats(gpu, name, spec.models, spec.stats, nSeg);
  const layout = bindGroupLayout(gpu, [{ kind: 'read' }, { kind: 'write', dynamic: true }, { kind: 'uniform' }]);
  const pipeline = computePipeline(gpu, 'sumsq', code, [layout], { WG });
  const words = new Uint32Array(4 + 68);
  words.set([spec.segments.perModel, nSeg, spec.stats.recordWords, spec.stats.field]);
  spec.segments.starts.forEach((s, i) => (words[4 + i] = s));
  words[4 + nSeg] = spec.segments.perModel;
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
    workgroups: [nSeg, spec.models],
    destroy() {
      if (destroyed) return;
      destroyed = true;
      gpu.destroyBuffer(params);
    },
  };
}

/** CPU twin: Σw² per [model][segment], in float64. */
export function sumSqCpu(models: number, segments: Segments, weights: ArrayLike<number>): Float64Array {
  const nSeg = segments.starts.length;
  const out = new Float64Array(models * nSeg);
  for (let model = 0; model < models; model++) {
    for (let s = 0; s < nSeg; s++) {
      const end = s + 1 < nSeg ? segments.starts[s + 1] : segments.perModel;
      let sum = 0;
      for (let j = segments.starts[s]; j < end; j++) {
        const w = weights[model * segments.perModel + j];
        sum += w * w;
      }
      out[model * nSeg + s] = sum;
    }
  }
  return out;
}
