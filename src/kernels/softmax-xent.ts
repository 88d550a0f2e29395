// Wrapper of shaders/softmax_xent.wgsl (one invocation per row) and
// shaders/softmax_xent_subgroup.wgsl (one subgroup per wide row, on GPUs with subgroups) and
// their CPU twin: a training step's loss and dlogits, and the per-model sums [loss, correct,
// rows, flags] added into one epoch slot of a stats buffer chosen by dynamic offset.

import lossSums from '../../shaders/loss_sums.wgsl?raw';
import rowsCode from '../../shaders/softmax_xent.wgsl?raw';
import subgroupRowsCode from '../../shaders/softmax_xent_subgroup.wgsl?raw';
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
  storageSlotBytes,
  uniformBuffer,
} from './common.js';
import { COUNTER_WORDS } from './gather.js';

// Each shader with the shared loss-sum helpers appended (after its directives).
const code = `${rowsCode}\n${lossSums}`;
const subgroupCode = `${subgroupRowsCode}\n${lossSums}`;

const WG = 64;
/** Up to this many classes a row is read once into registers (the shader's MAX_CACHED). */
export const MAX_CACHED_CLASSES = 32;
/** Rows layout: workgroups per model along the rows, at most (one row per invocation below). */
const MAX_GROUPS = 1024;
/** Lanes layout: rows per invocation at least, and invocations per model at most. */
const LANE_ROWS = 16;
const MAX_LANES_PER_MODEL = 64;
/** Invocations per workgroup of the subgroup kernel. */
const SUBGROUP_WG = 256;

/**
 * How rows map to invocations, and how their sums reach the model's record:
 * - `rows`: invocations of a workgroup take rows of one model, WG apart, and the workgroup
 *   reduces their sums once (GPUs);
 * - `lanes`: each invocation takes consecutive rows of one model, invocations run over every
 *   model's rows, and each adds its own sums with atomics (CPU adapters, where a workgroup
 *   reduction costs more than its rows and a batch of many small models should share workgroups);
 * - `subgroups`: one subgroup per row with its lanes over the classes
 *   (softmax_xent_subgroup.wgsl; needs the device's subgroups feature).
 */
export type SoftmaxLayout = 'rows' | 'lanes' | 'subgroups';
const LAYOUTS: readonly SoftmaxLayout[] = ['rows', 'lanes', 'subgroups'];

/**
 * The layout a call gets unless it names one: lanes on CPU adapters; on GPUs, subgroups for
 * rows wider than MAX_CACHED_CLASSES where they exist (one invocation per wide row strides its
 * loads by a whole row), else rows.
 */
export function defaultSoftmaxLayout(gpu: Gpu, classes: number): SoftmaxLayout {
  if (isCpuAdapter(gpu)) return 'lanes';
  return gpu.hasSubgroups && classes > MAX_CACHED_CLASSES ? 'subgroups' : 'rows';
}

/** Flag bit of a stats record: a row's loss or largest logit was not finite. */
export const FLAG_NOT_FINITE = 1;
/** Flag bit: a real row's label was ≥ classes; its loss and accuracy count nowhere (softmax-xent: its dlogits are 0). */
export const FLAG_BAD_LABEL = 2;

/** Words of a [loss sum (f32 bits), correct, rows, flags] group in a stats record. */
export const LOSS_GROUP_WORDS = 4;

/**
 * Where a kernel puts its per-model results (softmax-xent and metrics add their sums, sumsq writes):
 * `slots` epoch slots of statsSlotBytes, each a record of `recordWords` words per model, the
 * kernel's group starting at word `field`.
 */
export interface StatsTarget {
  /** u32/f32 words per model record. */
  recordWords: number;
  /** First word of the [loss, correct, rows, flags] group in the record. */
  field: number;
  /** Epoch slots in the buffer; a slot is `slotBytes(models, recordWords)` long. */
  slots: number;
  /** u32 and f32 words: `slots` slots, statsSlotBytes each. */
  buffer: GPUBuffer;
}

/** Bytes of one stats slot (all models' records), aligned for dynamic offsets. */
export function statsSlotBytes(gpu: Gpu, models: number, recordWords: number): number {
  return storageSlotBytes(gpu, models * recordWords * 4);
}

/** Sizes and buffers of createSoftmaxXent: one step's logits and labels in, dlogits and sums out. */
export interface SoftmaxXentSpec {
  models: number;
  /** Rows per model (the batch size). */
  rows: number;
  /** At least 2. */
  classes: number;
  /** f32 [models][rows][classes]. */
  logits: GPUBuffer;
  /** u32 [models][rows]. */
  labels: GPUBuffer;
  /** vec4<u32> per model (COUNTER_WORDS): .y, the real rows this step; rows past it are padding. */
  counters: GPUBuffer;
  /** f32 [models][rows][classes], written: (softmax − onehot) / real rows; 0 on padding rows. */
  dlogits: GPUBuffer;
  /** Where the [loss, correct, rows, flags] sums go. */
  stats: StatsTarget;
  /** Rows each invocation takes; by default chosen per adapter from `rows` (see rowsPerInvocation). */
  rowsPerInvocation?: number;
  /** Rows to invocations (default: defaultSoftmaxLayout). */
  layout?: SoftmaxLayout;
}

/**
 * Rows per invocation for `rows` rows per model in a layout: rows, as few as keep the
 * workgroups per model at most 1024; lanes, at least 16 and as many as keep a model's
 * invocations at most 64 (each adds its sums with atomics); subgroups, rows per workgroup.
 */
export function rowsPerInvocation(layout: SoftmaxLayout, rows: number): number {
  if (layout === 'lanes') return Math.min(rows, Math.max(LANE_ROWS, Math.ceil(rows / MAX_LANES_PER_MODEL)));
  if (layout === 'subgroups') return Math.max(SUBGROUP_WG / 32, Math.ceil(rows / MAX_GROUPS));
  return Math.max(1, Math.ceil(rows / (WG * MAX_GROUPS)));
}

/**
 * A prepared dispatch that reads or writes one epoch slot of a buffer (stats, or L2 coefficients):
 * record it with encodeSlotCall(pass, call, slot); destroy() frees the buffers it owns.
 */
export interface SlotCall {
  readonly kernel: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: [number, number];
  /** Bytes between slots: slot s is at dynamic offset s·slotBytes. */
  readonly slotBytes: number;
  destroy(): void;
}

/**
 * Checks that `stats` holds its slots of `models` records with room for a group of `groupWords`
 * words at `field`; returns the bytes of one slot.
 * @throws KernelInputError naming `name` and the field.
 */
export function requireStats(gpu: Gpu, name: string, models: number, stats: StatsTarget, groupWords: number): number {
  requireCount(name, 'stats.recordWords', stats.recordWords);
  requireCount(name, 'stats.field', stats.field, 0);
  requireCount(name, 'stats.slots', stats.slots);
  if (stats.field + groupWords > stats.recordWords) {
    requireCount(name, `stats.recordWords (≥ field ${stats.field} + ${groupWords})`, stats.recordWords, stats.field + groupWords);
  }
  const slotBytes = statsSlotBytes(gpu, models, stats.recordWords);
  requireElements(name, 'stats', stats.buffer, (stats.slots * slotBytes) / 4, `${stats.slots} slots of [${models}, ${stats.recordWords}]`);
  return slotBytes;
}

/**
 * The most classes a row may have on `gpu` in `layout`: on CPU adapters a row wider than
 * MAX_CACHED_CLASSES takes three passes over it in one invocation, whose loops llvmpipe ends after
 * 65,535 iterations (the subgroup layout spreads a row over lanes); elsewhere no limit.
 */
export function maxSoftmaxClasses(gpu: Gpu, layout: SoftmaxLayout = defaultSoftmaxLayout(gpu, MAX_CACHED_CLASSES + 1)): number {
  return isCpuAdapter(gpu) && layout !== 'subgroups' ? Math.floor(CPU_LOOP_BUDGET / 3) : Number.POSITIVE_INFINITY;
}

/**
 * Prepares the fused softmax cross-entropy of a training step: every real row's dlogits, and per
 * model the sums [loss, correct, rows, flags] added into the stats slot given when it is recorded
 * (encodeSlotCall). CPU twin: softmaxXentCpu.
 * @throws KernelInputError for a bad size, layout or buffer, or rows too wide for this adapter.
 */
export function createSoftmaxXent(gpu: Gpu, spec: SoftmaxXentSpec): SlotCall {
  const name = `softmax_xent(models ${spec.models}, rows ${spec.rows}, classes ${spec.classes})`;
  requireCount(name, 'models', spec.models);
  requireCount(name, 'rows', spec.rows);
  requireCount(name, 'classes', spec.classes, 2);
  const cells = spec.models * spec.rows * spec.classes;
  requireElements(name, 'logits', spec.logits, cells, `[${spec.models}, ${spec.rows}, ${spec.classes}]`);
  requireElements(name, 'labels', spec.labels, spec.models * spec.rows, `[${spec.models}, ${spec.rows}]`);
  requireElements(name, 'counters', spec.counters, spec.models * COUNTER_WORDS, `[${spec.models}, ${COUNTER_WORDS}]`);
  requireElements(name, 'dlogits', spec.dlogits, cells, `[${spec.models}, ${spec.rows}, ${spec.classes}]`);
  const slotBytes = requireStats(gpu, name, spec.models, spec.stats, LOSS_GROUP_WORDS);
  const kind = spec.layout ?? defaultSoftmaxLayout(gpu, spec.classes);
  if (!LAYOUTS.includes(kind)) throw new KernelInputError(`${name}: layout must be one of ${LAYOUTS.join(', ')}, got '${String(kind)}'`);
  if (kind === 'subgroups' && !gpu.hasSubgroups) {
    throw new KernelInputError(`${name}: layout 'subgroups' needs the subgroups feature, which ${gpu.name} does not have`);
  }
  if (kind === 'subgroups' && spec.rowsPerInvocation !== undefined) {
    throw new KernelInputError(`${name}: rowsPerInvocation does not apply to layout 'subgroups' (one subgroup per row)`);
  }
  // Loop iterations per row: none when a row stays in registers, else three passes over it.
  const rowLoops = spec.classes <= MAX_CACHED_CLASSES ? 1 : 3 * spec.classes;
  const cpu = isCpuAdapter(gpu);
  if (spec.classes > maxSoftmaxClasses(gpu, kind)) {
    throw new KernelInputError(`${name}: rows of more than ${maxSoftmaxClasses(gpu, kind)} classes are not supported on ${gpu.name}, which ends an invocation's loops after 65,535 iterations`);
  }
  const budget = cpu ? Math.floor(CPU_LOOP_BUDGET / rowLoops) : Number.POSITIVE_INFINITY;
  const per = spec.rowsPerInvocation ?? Math.min(budget, rowsPerInvocation(kind, spec.rows));
  requireCount(name, 'rowsPerInvocation', per);
  if (per > budget) {
    throw new KernelInputError(`${name}: rowsPerInvocation ${per} is more than ${budget}, the most rows of ${spec.classes} classes one invocation can take on ${gpu.name} (it ends an invocation's loops after 65,535 iterations)`);
  }
  // Workgroups: rows, per model along x; lanes, over every model's row chunks (x, then y);
  // subgroups, `per` rows each, per model along x.
  let workgroups: [number, number];
  if (kind === 'lanes') {
    workgroups = grid1d(gpu, Math.ceil((spec.models * Math.ceil(spec.rows / per)) / LANES_WG));
  } else {
    workgroups = [Math.ceil(spec.rows / (kind === 'subgroups' ? per : WG * per)), spec.models];
  }
  const layout = bindGroupLayout(gpu, [
    { kind: 'read' },
    { kind: 'read' },
    { kind: 'read' },
    { kind: 'write' },
    { kind: 'write', dynamic: true },
    { kind: 'uniform' },
  ]);
  const classes = spec.classes <= MAX_CACHED_CLASSES ? spec.classes : 0;
  const pipeline =
    kind === 'subgroups'
      ? computePipeline(gpu, 'softmax_xent_subgroup', subgroupCode, [layout], { WG: SUBGROUP_WG })
      : computePipeline(gpu, 'softmax_xent', code, [layout], { WG: kind === 'lanes' ? LANES_WG : WG, CLASSES: classes, LANE_SUMS: kind === 'lanes' });
  const params = uniformBuffer(
    gpu,
    'softmax_xent params',
    new Uint32Array([spec.rows, spec.classes, spec.stats.recordWords, spec.stats.field, per, spec.models, 0, 0]),
  );
  const bindGroup = gpu.device.createBindGroup({
    label: name,
    layout,
    entries: [
      { binding: 0, resource: { buffer: spec.logits } },
      { binding: 1, resource: { buffer: spec.labels } },
      { binding: 2, resource: { buffer: spec.counters } },
      { binding: 3, resource: { buffer: spec.dlogits } },
      { binding: 4, resource: { buffer: spec.stats.buffer, size: slotBytes } },
      { binding: 5, resource: { buffer: params } },
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

/** Records a call whose stats land in epoch slot `slot`. */
export function encodeSlotCall(pass: GPUComputePassEncoder, call: SlotCall, slot: number): void {
  pass.setPipeline(call.pipeline);
  pass.setBindGroup(0, call.bindGroup, [slot * call.slotBytes]);
  pass.dispatchWorkgroups(call.workgroups[0], call.workgroups[1]);
}

/** Per-model sums as the kernels accumulate them. */
export interface LossSums {
  loss: number;
  correct: number;
  count: number;
  flags: number;
}

/** Row statistics in float64: log-sum-exp, argmax, loss; null loss for a bad label. */
export function rowSoftmax(logits: ArrayLike<number>, base: number, classes: number, label: number) {
  let top = logits[base];
  let best = 0;
  for (let j = 1; j < classes; j++) {
    if (logits[base + j] > top) {
      top = logits[base + j];
      best = j;
    }
  }
  let sum = 0;
  for (let j = 0; j < classes; j++) sum += Math.exp(logits[base + j] - top);
  const loss = label < classes ? Math.log(sum) - (logits[base + label] - top) : Number.NaN;
  return { top, best, sum, loss };
}

/**
 * CPU twin: dlogits (written into `dlogits`) and per-model sums, in float64.
 * `realRows[model]` plays counters[model].y.
 */
export function softmaxXentCpu(
  models: number,
  rows: number,
  classes: number,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  realRows: ArrayLike<number>,
  dlogits: Float32Array | Float64Array,
): LossSums[] {
  const sums: LossSums[] = [];
  for (let model = 0; model < models; model++) {
    const s = { loss: 0, correct: 0, count: 0, flags: 0 };
    const real = Math.min(realRows[model], rows);
    for (let r = 0; r < rows; r++) {
      const base = (model * rows + r) * classes;
      const label = labels[model * rows + r];
      if (r >= real || label >= classes) {
        dlogits.fill(0, base, base + classes);
        if (r < real) s.flags |= FLAG_BAD_LABEL;
        continue;
      }
      const { top, best, sum, loss } = rowSoftmax(logits, base, classes, label);
      for (let j = 0; j < classes; j++) {
        const p = Math.exp(logits[base + j] - top) / (sum * real);
        dlogits[base + j] = j === label ? p - 1 / real : p;
      }
      s.loss += loss;
      s.correct += best === label ? 1 : 0;
      s.count += 1;
      if (!Number.isFinite(loss) || !Number.isFinite(top)) s.flags |= FLAG_NOT_FINITE;
    }
    sums.push(s);
  }
  return sums;
}

/** Reads one [loss, correct, rows, flags] group out of a stats record. */
export function readLossGroup(words: Uint32Array, at: number): LossSums {
  const f = new Float32Array(words.buffer, words.byteOffset + at * 4, 1);
  return { loss: f[0], correct: words[at + 1], count: words[at + 2], flags: words[at + 3] };
}
