// Wrapper of shaders/gather.wgsl and its CPU twin: one step's batch for every model, picked by
// each model's permutation of its training rows and standardized per model (copied as they are
// when no model standardizes). The permutation slot (one epoch) and the step index come in as
// dynamic offsets, so a whole epoch of steps is encoded without writing anything between them.

import gatherCode from '../../shaders/gather.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import {
  CPU_LOOP_BUDGET,
  KernelInputError,
  bindGroupLayout,
  computePipeline,
  grid1d,
  isCpuAdapter,
  placeholderBuffer,
  requireCount,
  requireElements,
  storageSlotBytes,
  uniformBuffer,
  uniformSlotBytes,
} from './common.js';

const WG = 64;

// The shader reads and writes four features per invocation when a row is a whole number of vec4
// (x, affine and xb are then vec4 arrays), else one.
const SCALAR_CODE = `alias Elem = f32;\nconst WIDTH: u32 = 1u;\n${gatherCode}`;
const VEC4_CODE = `alias Elem = vec4<f32>;\nconst WIDTH: u32 = 4u;\n${gatherCode}`;

/** Counters, one vec4<u32> per model: [training rows, real rows this step, step count (Adam's t), -]. */
export const COUNTER_WORDS = 4;

/** A contiguous range of data rows held in one buffer. */
export interface DataShard {
  buffer: GPUBuffer;
  firstRow: number;
  rows: number;
}

/**
 * Sizes and buffers of createGather: the data (in shards), each model's permutation slots and
 * affine, the step counters, and the batch it writes. Sizes in rows and features.
 */
export interface GatherSpec {
  models: number;
  /** Rows per step (the batch size). */
  batchRows: number;
  features: number;
  /** All data rows (labels buffer length). */
  dataRows: number;
  /** Entries per model in one permutation slot (≥ the largest training set). */
  indexStride: number;
  /** Permutation slots (epochs) held by `perm`. */
  slots: number;
  /** Steps addressable through `stepTable`. */
  steps: number;
  /** Advance each model's step counter when it has rows (training); off for one-off gathers. */
  countSteps: boolean;
  /** x split into shards, each within one storage binding. */
  x: DataShard[];
  /** u32 labels [dataRows]. */
  y: GPUBuffer;
  /** u32 [slots][slot bytes / 4]: slot s holds [model][indexStride] row indices. */
  perm: GPUBuffer;
  /** f32 [models][2][features]: scale, then shift; null when no model standardizes its rows. */
  affine: GPUBuffer | null;
  /** vec4<u32> [models], see COUNTER_WORDS. */
  counters: GPUBuffer;
  /** f32 [models][batchRows][features] */
  xb: GPUBuffer;
  /** u32 [models][batchRows] */
  yb: GPUBuffer;
  /** Uniform table from createIndexTable with ≥ `steps` entries. */
  stepTable: GPUBuffer;
  /**
   * One invocation per batch row, looping over its features, instead of one per feature (or
   * vec4 of features). Default: on CPU adapters, where it reads each row's bookkeeping once.
   */
  rowLoop?: boolean;
}

/** A prepared gather, one bind group per data shard: record it with encodeGather; destroy() frees its uniforms. */
export interface GatherCall {
  readonly kernel: string;
  /** Bytes between permutation slots: slot s is at dynamic offset s·permSlotBytes. */
  readonly permSlotBytes: number;
  /** Bytes between step-table entries: step i is at dynamic offset i·stepBytes. */
  readonly stepBytes: number;
  readonly pipeline: GPUComputePipeline;
  readonly shards: { bindGroup: GPUBindGroup }[];
  readonly workgroups: [number, number];
  destroy(): void;
}

/** Bytes of one permutation slot in `perm` for these sizes (dynamic offsets are aligned). */
export function permSlotBytes(gpu: Gpu, models: number, indexStride: number): number {
  return storageSlotBytes(gpu, models * indexStride * 4);
}

/**
 * Prepares the gather of one step's batch for every model: its rows of the epoch's permutation
 * (x·scale + shift per feature with an affine), their labels, zeros past its last row, and its
 * counters (rows this step; the step count t with `countSteps`). Record it with
 * encodeGather(pass, call, slot, step); CPU twin: gatherCpu.
 * @throws KernelInputError for a bad size, shards that do not cover dataRows, or a buffer too small.
 */
export function createGather(gpu: Gpu, spec: GatherSpec): GatherCall {
  const name = `gather(models ${spec.models}, batch rows ${spec.batchRows}, features ${spec.features})`;
  requireCount(name, 'models', spec.models);
  requireCount(name, 'batchRows', spec.batchRows);
  requireCount(name, 'features', spec.features);
  requireCount(name, 'dataRows', spec.dataRows);
  requireCount(name, 'indexStride', spec.indexStride);
  requireCount(name, 'slots', spec.slots);
  requireCount(name, 'steps', spec.steps);
  if (spec.x.length < 1) throw new KernelInputError(`${name}: at least one data shard is needed`);
  let covered = 0;
  for (const [i, shard] of spec.x.entries()) {
    if (shard.firstRow !== covered) throw new KernelInputError(`${name}: shard ${i} starts at row ${shard.firstRow}, expected ${covered}`);
    requireCount(name, `x[${i}].rows`, shard.rows);
    requireElements(name, `x[${i}]`, shard.buffer, shard.rows * spec.features, `[${shard.rows}, ${spec.features}]`);
    covered += shard.rows;
  }
  if (covered !== spec.dataRows) throw new KernelInputError(`${name}: shards hold ${covered} rows, dataRows is ${spec.dataRows}`);
  const slotBytes = permSlotBytes(gpu, spec.models, spec.indexStride);
  requireElements(name, 'y', spec.y, spec.dataRows, `[${spec.dataRows}]`);
  requireElements(name, 'perm', spec.perm, (spec.slots * slotBytes) / 4, `${spec.slots} slots of [${spec.models}, ${spec.indexStride}]`);
  if (spec.affine) requireElements(name, 'affine', spec.affine, spec.models * 2 * spec.features, `[${spec.models}, 2, ${spec.features}]`);
  requireElements(name, 'counters', spec.counters, spec.models * COUNTER_WORDS, `[${spec.models}, ${COUNTER_WORDS}]`);
  requireElements(name, 'xb', spec.xb, spec.models * spec.batchRows * spec.features, `[${spec.models}, ${spec.batchRows}, ${spec.features}]`);
  requireElements(name, 'yb', spec.yb, spec.models * spec.batchRows, `[${spec.models}, ${spec.batchRows}]`);
  const stepBytes = uniformSlotBytes(gpu);
  if (spec.stepTable.size < spec.steps * stepBytes) {
    throw new KernelInputError(`${name}: stepTable holds ${Math.floor(spec.stepTable.size / stepBytes)} steps, ${spec.steps} needed`);
  }

  const layout = bindGroupLayout(gpu, [
    { kind: 'read' },
    { kind: 'read' },
    { kind: 'read', dynamic: true },
    { kind: 'read' },
    { kind: 'write' },
    { kind: 'write' },
    { kind: 'write' },
    { kind: 'uniform' },
    { kind: 'uniform', dynamic: true },
  ]);
  const width = spec.features % 4 === 0 ? 4 : 1;
  // CPU adapters: an invocation per batch row, looping over its features (as few loop iterations
  // as llvmpipe allows per invocation: a row is features / width of them).
  const rowLoop = spec.rowLoop ?? (isCpuAdapter(gpu) && spec.features / width <= CPU_LOOP_BUDGET);
  const constants = { WG, ROW_LOOP: rowLoop, AFFINE: spec.affine !== null };
  const pipeline = width === 4 ? computePipeline(gpu, 'gather vec4', VEC4_CODE, [layout], constants) : computePipeline(gpu, 'gather', SCALAR_CODE, [layout], constants);
  const uniforms: GPUBuffer[] = [];
  const shards = spec.x.map((shard, i) => {
    const params = uniformBuffer(
      gpu,
      'gather params',
      new Uint32Array([spec.batchRows, spec.features, spec.indexStride, spec.countSteps ? 1 : 0, shard.firstRow, shard.rows, i === 0 ? 1 : 0, spec.models]),
    );
    uniforms.push(params);
    const bindGroup = gpu.device.createBindGroup({
      label: name,
      layout,
      entries: [
        { binding: 0, resource: { buffer: shard.buffer } },
        { binding: 1, resource: { buffer: spec.y } },
        { binding: 2, resource: { buffer: spec.perm, size: slotBytes } },
        { binding: 3, resource: { buffer: spec.affine ?? placeholderBuffer(gpu) } },
        { binding: 4, resource: { buffer: spec.counters } },
        { binding: 5, resource: { buffer: spec.xb } },
        { binding: 6, resource: { buffer: spec.yb } },
        { binding: 7, resource: { buffer: params } },
        { binding: 8, resource: { buffer: spec.stepTable, size: 16 } },
      ],
    });
    return { bindGroup };
  });
  // Every model's batch rows (or elements), over x and then y.
  const workgroups = grid1d(gpu, Math.ceil((spec.models * spec.batchRows * (rowLoop ? 1 : spec.features / width)) / WG));
  let destroyed = false;
  return {
    kernel: name,
    permSlotBytes: slotBytes,
    stepBytes,
    pipeline,
    shards,
    workgroups,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const u of uniforms) gpu.destroyBuffer(u);
    },
  };
}

/** Records the gather of step `step` of the epoch whose permutation is in `slot`. */
export function encodeGather(pass: GPUComputePassEncoder, call: GatherCall, slot: number, step: number): void {
  pass.setPipeline(call.pipeline);
  // The first shard writes labels, padding and counters; later shards only their own rows.
  for (const shard of call.shards) {
    pass.setBindGroup(0, shard.bindGroup, [slot * call.permSlotBytes, step * call.stepBytes]);
    pass.dispatchWorkgroups(call.workgroups[0], call.workgroups[1]);
  }
}

/** Inputs of the CPU twin, as plain arrays in the same layouts as the GPU buffers. */
export interface GatherData {
  models: number;
  batchRows: number;
  features: number;
  indexStride: number;
  countSteps: boolean;
  x: Float32Array;
  y: Uint32Array;
  /** One slot: [models][indexStride] */
  perm: Uint32Array;
  /** [models][2][features]: scale, then shift; null: rows as they are. */
  affine: Float32Array | null;
  counters: Uint32Array;
  xb: Float32Array;
  yb: Uint32Array;
}

/** CPU twin: the same batch, labels, padding and counter updates for step `step`. */
export function gatherCpu(d: GatherData, step: number): void {
  const { batchRows, features } = d;
  for (let model = 0; model < d.models; model++) {
    const n = d.counters[model * COUNTER_WORDS];
    const start = step * batchRows;
    const rows = Math.min(batchRows, n - Math.min(n, start));
    d.counters[model * COUNTER_WORDS + 1] = rows;
    if (d.countSteps && rows > 0) d.counters[model * COUNTER_WORDS + 2] += 1;
    const a = model * 2 * features;
    for (let r = 0; r < batchRows; r++) {
      const out = (model * batchRows + r) * features;
      if (r >= rows) {
        d.xb.fill(0, out, out + features);
        d.yb[model * batchRows + r] = 0;
        continue;
      }
      const row = d.perm[model * d.indexStride + start + r];
      d.yb[model * batchRows + r] = d.y[row];
      const affine = d.affine;
      for (let f = 0; f < features; f++) {
        const value = d.x[row * features + f];
        d.xb[out + f] = affine ? Math.fround(value * affine[a + f]) + affine[a + features + f] : value;
      }
    }
  }
}
