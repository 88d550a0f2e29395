// Wrapper of shaders/metrics.wgsl and its CPU twin: predictions (argmax), confusion-matrix
// counts and per-model [loss, correct, rows, flags] sums for evaluation and per-epoch validation.
// GPUs reduce a workgroup's rows; CPU adapters give each invocation consecutive rows of any model
// and let it add its own sums (the lanes layout of softmax-xent).

import lossSums from '../../shaders/loss_sums.wgsl?raw';
import metricsCode from '../../shaders/metrics.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import {
  CPU_LOOP_BUDGET,
  KernelInputError,
  LANES_WG,
  bindGroupLayout,
  computePipeline,
  grid1d,
  isCpuAdapter,
  placeholderBuffer,
  requireCount,
  requireElements,
  uniformBuffer,
} from './common.js';
import { COUNTER_WORDS } from './gather.js';
import {
  FLAG_BAD_LABEL,
  FLAG_NOT_FINITE,
  LOSS_GROUP_WORDS,
  requireStats,
  rowSoftmax,
  rowsPerInvocation,
  type LossSums,
  type SlotCall,
  type StatsTarget,
} from './softmax-xent.js';

// The shader with the shared loss-sum helpers appended.
const code = `${metricsCode}\n${lossSums}`;

const WG = 64;

/** Sizes and buffers of createMetrics: logits and labels in; predictions, confusion counts and sums out. */
export interface MetricsSpec {
  models: number;
  /** Rows per model. */
  rows: number;
  /** At least 2. */
  classes: number;
  /** f32 [models][rows][classes]. */
  logits: GPUBuffer;
  /** u32 [models][rows]. */
  labels: GPUBuffer;
  /** vec4<u32> per model (COUNTER_WORDS): .y, the real rows; rows past it are ignored. */
  counters: GPUBuffer;
  /** u32 [models][rows] */
  predictions: GPUBuffer;
  /** u32 [models][classes][classes], counts added; omit to skip the confusion matrix. */
  confusion?: GPUBuffer;
  /** Where the [loss, correct, rows, flags] sums go. */
  stats: StatsTarget;
  /**
   * Each invocation takes consecutive rows and adds its own sums with atomics, instead of a
   * workgroup reducing its rows (default: on CPU adapters).
   */
  lanes?: boolean;
}

/**
 * Prepares an evaluation of logits: argmax predictions, confusion counts (added to what the buffer
 * holds) and per-model [loss, correct, rows, flags] sums into the stats slot given when it is
 * recorded (encodeSlotCall). CPU twin: metricsCpu.
 * @throws KernelInputError for a bad size or buffer, or rows too wide for this adapter.
 */
export function createMetrics(gpu: Gpu, spec: MetricsSpec): SlotCall {
  const name = `metrics(models ${spec.models}, rows ${spec.rows}, classes ${spec.classes})`;
  requireCount(name, 'models', spec.models);
  requireCount(name, 'rows', spec.rows);
  requireCount(name, 'classes', spec.classes, 2);
  requireElements(name, 'logits', spec.logits, spec.models * spec.rows * spec.classes, `[${spec.models}, ${spec.rows}, ${spec.classes}]`);
  requireElements(name, 'labels', spec.labels, spec.models * spec.rows, `[${spec.models}, ${spec.rows}]`);
  requireElements(name, 'counters', spec.counters, spec.models * COUNTER_WORDS, `[${spec.models}, ${COUNTER_WORDS}]`);
  requireElements(name, 'predictions', spec.predictions, spec.models * spec.rows, `[${spec.models}, ${spec.rows}]`);
  if (spec.confusion) {
    requireElements(name, 'confusion', spec.confusion, spec.models * spec.classes * spec.classes, `[${spec.models}, ${spec.classes}, ${spec.classes}]`);
  }
  const slotBytes = requireStats(gpu, name, spec.models, spec.stats, LOSS_GROUP_WORDS);
  const layout = bindGroupLayout(gpu, [
    { kind: 'read' },
    { kind: 'read' },
    { kind: 'read' },
    { kind: 'write' },
    { kind: 'write' },
    { kind: 'write', dynamic: true },
    { kind: 'uniform' },
  ]);
  // CPU adapters: each invocation takes consecutive rows and adds its own sums (no workgroup
  // reduction), as many rows as keep its two loops over each row under llvmpipe's loop limit.
  const lanes = spec.lanes ?? isCpuAdapter(gpu);
  const rowLoops = 2 * spec.classes;
  if (isCpuAdapter(gpu) && rowLoops > CPU_LOOP_BUDGET) {
    throw new KernelInputError(`${name}: rows of more than ${CPU_LOOP_BUDGET / 2} classes are not supported on ${gpu.name}, which ends an invocation's loops after 65,535 iterations`);
  }
  const per = Math.max(1, Math.min(Math.floor(CPU_LOOP_BUDGET / rowLoops), rowsPerInvocation('lanes', spec.rows)));
  const pipeline = computePipeline(gpu, 'metrics', code, [layout], { WG: lanes ? LANES_WG : WG, CONFUSION: !!spec.confusion, LANE_SUMS: lanes });
  const params = uniformBuffer(gpu, 'metrics params', new Uint32Array([spec.rows, spec.classes, spec.stats.recordWords, spec.stats.field, per, spec.models, 0, 0]));
  const workgroups: [number, number] = lanes ? grid1d(gpu, Math.ceil((spec.models * Math.ceil(spec.rows / per)) / LANES_WG)) : [Math.ceil(spec.rows / WG), spec.models];
  const confusion = spec.confusion ?? placeholderBuffer(gpu);
  const bindGroup = gpu.device.createBindGroup({
    label: name,
    layout,
    entries: [
      { binding: 0, resource: { buffer: spec.logits } },
      { binding: 1, resource: { buffer: spec.labels } },
      { binding: 2, resource: { buffer: spec.counters } },
      { binding: 3, resource: { buffer: spec.predictions } },
      { binding: 4, resource: { buffer: confusion } },
      { binding: 5, resource: { buffer: spec.stats.buffer, size: slotBytes } },
      { binding: 6, resource: { buffer: params } },
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

/** CPU twin: predictions, confusion counts (added into `confusion` if given) and sums. */
export function metricsCpu(
  models: number,
  rows: number,
  classes: number,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  realRows: ArrayLike<number>,
  predictions: Uint32Array,
  confusion?: Uint32Array,
): LossSums[] {
  const sums: LossSums[] = [];
  for (let model = 0; model < models; model++) {
    const s = { loss: 0, correct: 0, count: 0, flags: 0 };
    const real = Math.min(realRows[model], rows);
    for (let r = 0; r < real; r++) {
      const base = (model * rows + r) * classes;
      const label = labels[model * rows + r];
      const { top, best, loss } = rowSoftmax(logits, base, classes, label);
      predictions[model * rows + r] = best;
      if (label >= classes) {
        s.flags |= FLAG_BAD_LABEL;
        continue;
      }
      s.loss += loss;
      s.correct += best === label ? 1 : 0;
      s.count += 1;
      if (!Number.isFinite(loss) || !Number.isFinite(top)) s.flags |= FLAG_NOT_FINITE;
      if (confusion) confusion[(model * classes + label) * classes + best] += 1;
    }
    sums.push(s);
  }
  return sums;
}
