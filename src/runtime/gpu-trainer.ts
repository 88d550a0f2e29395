// The GPU trainer: a batch of models trained together, every step of an epoch (and several
// epochs) encoded into one submission with no readback inside. Per-epoch inputs (each model's
// shuffled rows and its L2 coefficients from the schedule's mask) are written ahead into epoch
// slots; loss, accuracy, validation and weight-norm sums accumulate into per-epoch stats slots
// that are read back once per chunk of epochs, while the next chunk already runs.

import { createAdam } from '../kernels/adam.js';
import { createIndexTable, encodeCall, isCpuAdapter, type KernelCall } from '../kernels/common.js';
import { COUNTER_WORDS, createGather, encodeGather, permSlotBytes, type DataShard, type GatherCall } from '../kernels/gather.js';
import { coefSlotBytes } from '../kernels/l2-grad.js';
import { createDenseForward, createDenseInputGrad, createDenseWeightGrad } from '../kernels/matmul.js';
import { createMetrics } from '../kernels/metrics.js';
import { LOSS_GROUP_WORDS, createSoftmaxXent, encodeSlotCall, readLossGroup, statsSlotBytes, type LossSums, type SlotCall } from '../kernels/softmax-xent.js';
import { createSumSq } from '../kernels/sumsq.js';
import type { MlpLayout } from '../model/mlp.js';
import { divergenceAdvice, testDivergenceAdvice } from './cpu-trainer.js';
import { GpuError, type Gpu } from './gpu.js';
import { CPU_TRAINER_REMEDY } from './limits.js';
import {
  EpochPlanner,
  affineTable,
  batchResult,
  checkTests,
  epochRecord,
  initialState,
  epochShape,
  type BatchPlan,
  type BatchResult,
  type StepListener,
  type TrainerHooks,
  type EpochPlan,
  type EpochRecord,
  type Evaluation,
  type ModelPlan,
  type TrainData,
} from './plan.js';

/** Words of a model's record in a stats slot: train sums, validation sums, Σw² per tensor. */
const TRAIN_FIELD = 0;
const VAL_FIELD = LOSS_GROUP_WORDS;
const NORM_FIELD = 2 * LOSS_GROUP_WORDS;

/** The most bytes one buffer bound as storage may hold on `gpu`. */
export function bindingBytes(gpu: Gpu): number {
  const limits = gpu.device.limits;
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

/** A data set on the GPU: x split into shards that each fit one storage binding, and labels. */
export class GpuDataset {
  readonly shards: DataShard[] = [];
  readonly y: GPUBuffer;
  readonly rows: number;

  constructor(
    private readonly gpu: Gpu,
    readonly data: TrainData,
  ) {
    const { features } = data;
    this.rows = data.y.length;
    const binding = bindingBytes(gpu);
    // x goes up in shards; the labels are one binding (the gather reads them by row).
    if (this.rows * 4 > binding) throw new GpuError(`the data's ${this.rows} labels need ${this.rows * 4} bytes, more than ${gpu.name}'s storage binding of ${binding} bytes; train on at most ${Math.floor(binding / 4)} rows at once`);
    const maxRows = Math.max(1, Math.floor(binding / (features * 4)));
    for (let first = 0; first < this.rows; first += maxRows) {
      const rows = Math.min(maxRows, this.rows - first);
      this.shards.push({ buffer: gpu.createStorage('x shard', data.x.subarray(first * features, (first + rows) * features)), firstRow: first, rows });
    }
    this.y = gpu.createStorage('y', data.y);
  }

  destroy(): void {
    for (const s of this.shards) this.gpu.destroyBuffer(s.buffer);
    this.gpu.destroyBuffer(this.y);
  }
}

/** Forward calls for every layer of `models` models over `rows` rows each, reading `params`. */
function forwardCalls(gpu: Gpu, layout: MlpLayout, models: number, rows: number, params: GPUBuffer, x: GPUBuffer, acts: GPUBuffer[]): KernelCall[] {
  return layout.layers.map((layer, l) =>
    createDenseForward(gpu, { batch: models, rows, inputs: layer.inputs, outputs: layer.outputs }, layer.activation, {
      x: { buffer: l === 0 ? x : acts[l - 1] },
      params: { buffer: params, offset: layer.offset, batchStride: layout.perModel },
      y: { buffer: acts[l] },
    }),
  );
}

/** Each model's rows in chunks of at most `rows`: as many chunks as the longest list needs (at least one). */
export function rowChunks(rowsPerModel: Uint32Array[], rows: number): Uint32Array[][] {
  const chunks = Math.max(1, ...rowsPerModel.map((r) => Math.ceil(r.length / rows)));
  return Array.from({ length: chunks }, (_, c) => rowsPerModel.map((r) => r.subarray(c * rows, (c + 1) * rows)));
}

/** The arrays one after the other, in a new array from `make`. */
export function concatArrays<T extends Float32Array | Uint32Array>(arrays: T[], make: (length: number) => T): T {
  const out = make(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Values per row of the widest per-row buffer: the features or a layer's outputs. */
function widestRow(layout: MlpLayout): number {
  return Math.max(layout.features, ...layout.layers.map((l) => l.outputs));
}

/**
 * Rows per model that fit one storage binding of `bindingBytes` (without a GPU: a chunk of that
 * size) in every per-row buffer of `models` models (gathered rows, each layer's activations);
 * throws a GpuError below one.
 */
export function rowsPerBinding(gpu: Gpu | null, layout: MlpLayout, models: number, bindingBytes: number): number {
  const widest = widestRow(layout);
  const rows = Math.floor(bindingBytes / (models * widest * 4));
  if (rows < 1) throw new GpuError(`evaluating ${models} models of ${widest} values per row needs more than ${gpu ? `${gpu.name}'s storage binding` : 'a chunk'} of ${bindingBytes} bytes`);
  return rows;
}

type StatsTarget = { buffer: GPUBuffer; recordWords: number; field: number; slots: number };

/** What a row set evaluates: rows of `dataset` (through `affine`), on `params`, into `stats`. */
interface RowSource {
  dataset: GpuDataset;
  affine: GPUBuffer | null;
  params: GPUBuffer;
  stats: StatsTarget;
}

/**
 * A fixed set of rows per model (validation or test), gathered and standardized once, then
 * evaluated on the current parameters whenever asked: forward plus metrics. Rows go in parts
 * small enough that every per-row buffer (gathered rows, each layer's activations) of all models
 * fits one storage binding; every part adds its sums into the same stats slot and confusion.
 */
export class GpuRowSet {
  readonly counts: number[];
  private readonly parts: RowPart[] = [];
  readonly confusion: GPUBuffer | null;

  constructor(
    private readonly gpu: Gpu,
    private readonly layout: MlpLayout,
    source: RowSource,
    rowsPerModel: Uint32Array[],
    withConfusion: boolean,
  ) {
    const models = rowsPerModel.length;
    this.counts = rowsPerModel.map((r) => r.length);
    this.confusion = withConfusion ? gpu.createStorage('confusion', models * layout.classes * layout.classes * 4) : null;
    for (const rows of rowChunks(rowsPerModel, rowsPerBinding(gpu, layout, models, bindingBytes(gpu)))) {
      this.parts.push(new RowPart(gpu, layout, source, rows, this.confusion));
    }
  }

  /** Gathers the rows (once, before any evaluation). */
  encodeGather(pass: GPUComputePassEncoder): void {
    for (const part of this.parts) encodeGather(pass, part.gather, 0, 0);
  }

  /** Forward on the current parameters, then metrics added into stats slot `slot`. */
  encodeEvaluate(pass: GPUComputePassEncoder, slot: number): void {
    for (const part of this.parts) {
      for (const call of part.forward) encodeCall(pass, call);
      encodeSlotCall(pass, part.metrics, slot);
    }
  }

  /** Reads the evaluation written by the last encodeEvaluate; `sums` are its stats, per model. */
  async read(sums: LossSums[]): Promise<Evaluation[]> {
    const C = this.layout.classes;
    const models = this.counts.length;
    const read = await Promise.all(this.parts.map((part) => part.read()));
    const confusion = this.confusion ? await this.gpu.readUint32(this.confusion, 0, models * C * C) : null;
    return this.counts.map((n, m) => {
      // Model m's rows of every part, in order.
      const join = <T extends Float32Array | Uint32Array>(pick: (r: (typeof read)[number]) => T, width: number, make: (n: number) => T): T =>
        concatArrays(
          read.map((r, p) => pick(r).subarray(m * this.parts[p].width * width, (m * this.parts[p].width + this.parts[p].counts[m]) * width) as T),
          make,
        );
      return {
        rows: n,
        logits: join((r) => r.logits, C, (k) => new Float32Array(k)),
        predictions: join((r) => r.predictions, 1, (k) => new Uint32Array(k)),
        labels: join((r) => r.labels, 1, (k) => new Uint32Array(k)),
        confusion: confusion ? confusion.slice(m * C * C, (m + 1) * C * C) : new Uint32Array(C * C),
        loss: sums[m].loss / Math.max(1, sums[m].count),
        accuracy: sums[m].correct / Math.max(1, sums[m].count),
      };
    });
  }

  destroy(): void {
    for (const part of this.parts) part.destroy();
    this.gpu.destroyBuffer(this.confusion);
  }
}

/** One part of a GpuRowSet: up to `width` rows per model, with its own buffers and calls. */
class RowPart {
  readonly width: number;
  readonly counts: number[];
  private readonly buffers: GPUBuffer[] = [];
  private readonly calls: { destroy(): void }[] = [];
  readonly gather: GatherCall;
  readonly forward: KernelCall[];
  readonly metrics: SlotCall;
  private readonly logits: GPUBuffer;
  private readonly predictions: GPUBuffer;
  private readonly labels: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    private readonly layout: MlpLayout,
    { dataset, affine, params, stats }: RowSource,
    rowsPerModel: Uint32Array[],
    confusion: GPUBuffer | null,
  ) {
    const models = rowsPerModel.length;
    const F = layout.features;
    this.counts = rowsPerModel.map((r) => r.length);
    this.width = Math.max(1, ...this.counts);
    const slotWords = permSlotBytes(gpu, models, this.width) / 4;
    const perm = new Uint32Array(slotWords);
    const counters = new Uint32Array(models * COUNTER_WORDS);
    rowsPerModel.forEach((r, m) => {
      perm.set(r, m * this.width);
      counters[m * COUNTER_WORDS] = r.length;
    });
    const own = (b: GPUBuffer) => (this.buffers.push(b), b);
    const counterBuffer = own(gpu.createStorage('row set counters', counters));
    const xb = own(gpu.createStorage('row set x', models * this.width * F * 4));
    this.labels = own(gpu.createStorage('row set y', models * this.width * 4));
    const acts = layout.layers.map((l) => own(gpu.createStorage('row set activations', models * this.width * l.outputs * 4)));
    this.logits = acts[acts.length - 1];
    this.predictions = own(gpu.createStorage('row set predictions', models * this.width * 4));
    const table = own(createIndexTable(gpu, 'row set step', 1));
    this.gather = createGather(gpu, {
      models,
      batchRows: this.width,
      features: F,
      dataRows: dataset.rows,
      indexStride: this.width,
      slots: 1,
      steps: 1,
      countSteps: false,
      x: dataset.shards,
      y: dataset.y,
      perm: own(gpu.createStorage('row set rows', perm)),
      affine,
      counters: counterBuffer,
      xb,
      yb: this.labels,
      stepTable: table,
    });
    this.calls.push(this.gather);
    this.forward = forwardCalls(gpu, layout, models, this.width, params, xb, acts);
    this.calls.push(...this.forward);
    this.metrics = createMetrics(gpu, {
      models,
      rows: this.width,
      classes: layout.classes,
      logits: this.logits,
      labels: this.labels,
      counters: counterBuffer,
      predictions: this.predictions,
      ...(confusion ? { confusion } : {}),
      stats,
    });
    this.calls.push(this.metrics);
  }

  /** Logits, predictions and labels of every model, [model][width] rows each. */
  async read(): Promise<{ logits: Float32Array; predictions: Uint32Array; labels: Uint32Array }> {
    const n = this.counts.length * this.width;
    return {
      logits: await this.gpu.readFloat32(this.logits, 0, n * this.layout.classes),
      predictions: await this.gpu.readUint32(this.predictions, 0, n),
      labels: await this.gpu.readUint32(this.labels, 0, n),
    };
  }

  destroy(): void {
    for (const c of this.calls) c.destroy();
    for (const b of this.buffers) this.gpu.destroyBuffer(b);
  }
}

/**
 * How long submissions are: on a backend that runs the work inside submit() (Dawn's OpenGL ES on
 * llvmpipe), about BLOCKING_SUBMIT_MS, with the event loop between them (timers, Ctrl-C) and an
 * abort seen, instead of after whole epochs that can take a minute. Steps per submission follow
 * the time the last submission took per step, starting from one. Elsewhere (GPUs, a browser's
 * GPU process) a submission returns at once and epochs go whole, unless the run's first step
 * (timed alone) or an epoch shows them longer than `pacing.longEpochMs` (a slow adapter, a huge
 * model): then about `pacing.submitMs` each, one queued ahead of the one awaited, so that Stop
 * and onStep act within the epoch.
 */
class Pacer {
  /** Steps per submission (Infinity: whole chunks). */
  steps: number;
  private offset = 0;
  private total = 0;
  private report = true;
  private queued: Promise<void> | null = null;
  /** Not blocking: whether a first step's time was measured (the first submission is that step). */
  private probed = false;

  constructor(
    private readonly gpu: Gpu,
    /** submit() runs the work. */
    readonly blocking: boolean,
    private readonly signal?: AbortSignal,
    private readonly onStep?: StepListener,
  ) {
    // Either way the first submission is one step: timed by submit() when it blocks, else by
    // waiting for it (once a run), so that even a run's first epoch can be cut when it is long.
    this.steps = 1;
  }

  /**
   * Steps reported as `offset` + the trainer's own, of `total` an epoch (several groups); none
   * when `report` is false (groups that take turns over several epochs would go backwards).
   */
  count(offset: number, total: number, report: boolean): void {
    this.offset = offset;
    this.total = total;
    this.report = report;
  }

  submit(commands: GPUCommandBuffer, steps: number): void {
    const start = performance.now();
    this.gpu.device.queue.submit([commands]);
    if (!this.blocking) return;
    const elapsed = performance.now() - start;
    // A short tail (an epoch end alone, little work) says nothing about a step's time; a full
    // submission, or any long one, does (so a low estimate is corrected too).
    if (steps >= this.steps || elapsed >= BLOCKING_SUBMIT_MS / 10) this.steps = Math.max(1, Math.round((BLOCKING_SUBMIT_MS * Math.max(1, steps)) / Math.max(elapsed, 1e-3)));
  }

  /** Without blocking submissions: an epoch of `steps` steps took `ms`, read back. */
  observe(ms: number, steps: number): void {
    if (!this.blocking) this.steps = ms > pacing.longEpochMs ? Math.max(1, Math.round((pacing.submitMs * steps) / ms)) : Number.POSITIVE_INFINITY;
  }

  /** Between two submissions: `step` steps of `epoch` are queued (and done, but the last one when not blocking). */
  async pause(epoch: number, step: number): Promise<void> {
    if (this.blocking) {
      if (this.report) this.onStep?.(epoch, this.offset + step, this.total);
      await new Promise((resolve) => setTimeout(resolve, 0));
    } else {
      if (!this.probed) {
        // The first step, alone on the queue: its time says how long an epoch of `total` steps is.
        const start = performance.now();
        await this.gpu.device.queue.onSubmittedWorkDone();
        this.probed = true;
        this.observe((performance.now() - start) * Math.max(1, this.total), Math.max(1, this.total));
        this.signal?.throwIfAborted();
        return;
      }
      // The submission before this one is awaited; this one keeps the GPU busy meanwhile.
      const previous = this.queued;
      this.queued = this.gpu.device.queue.onSubmittedWorkDone();
      await previous;
      const done = step - this.steps;
      if (this.report && done > 0) this.onStep?.(epoch, this.offset + done, this.total);
    }
    this.signal?.throwIfAborted();
  }
}

const BLOCKING_SUBMIT_MS = 100;

/** Where submissions do not block: when an epoch counts as long, and how long its submissions are then (tests lower both). */
export const pacing = { longEpochMs: 1000, submitMs: 250 };

/** Epochs per chunk are chosen so a chunk takes about this long (ms): often enough for charts. */
const TARGET_CHUNK_MS = 150;
const MAX_SLOTS = 64;

interface Chunk {
  epochs: EpochPlan[][];
  slots: number[];
  readback: GPUBuffer;
}

/**
 * The plan's models split into groups whose per-model buffers (a batch's rows and activations,
 * parameters and Adam moments, an epoch's permutation, the test confusion matrix) fit one storage
 * binding each: most often a single group. Throws a GpuError when one model alone does not fit.
 */
export function modelGroups(gpu: Gpu, plan: BatchPlan): ModelPlan[][] {
  const { layout } = plan;
  const binding = bindingBytes(gpu);
  const widest = widestRow(layout);
  const trainRows = epochShape(plan).maxRows;
  const confusion = plan.models.some((m) => (m.testRows?.length ?? 0) > 0) ? layout.classes * layout.classes : 0;
  // Words per model of each kind of buffer, with what to call it when one model is too big.
  // Validation and test rows go in parts (GpuRowSet); a part of one row per model fits where a batch does.
  const needs: [string, number][] = [
    [`batch of ${plan.batchSize} rows of up to ${widest} values`, plan.batchSize * widest],
    [`${layout.perModel} parameters`, layout.perModel],
    [`permutation of ${trainRows} training rows`, trainRows],
    [`confusion matrix of ${layout.classes} classes`, confusion],
  ];
  const [what, words] = needs.reduce((a, b) => (b[1] > a[1] ? b : a));
  const fit = Math.floor(binding / (words * 4));
  if (fit < 1) throw new GpuError(`one model's ${what} needs ${words * 4} bytes, more than ${gpu.name}'s storage binding of ${binding} bytes; ${CPU_TRAINER_REMEDY}`);
  const count = Math.ceil(plan.models.length / fit);
  const size = Math.ceil(plan.models.length / count);
  return Array.from({ length: count }, (_, g) => plan.models.slice(g * size, (g + 1) * size));
}

/**
 * Trains every model of the plan on the GPU. Models that do not fit one trainer's bindings
 * together are trained by several trainers in lockstep: each chunk of epochs is submitted to all
 * of them, so every epoch is reported once for all models, as with one trainer. All GPU memory
 * is freed before it returns.
 */
export async function trainOnGpu(gpu: Gpu, plan: BatchPlan, hooks: TrainerHooks = {}): Promise<BatchResult> {
  hooks.signal?.throwIfAborted();
  const groups = modelGroups(gpu, plan);
  let dataset: GpuDataset | null = null;
  const trainers: GpuTrainer[] = [];
  try {
    await gpu.build('building the trainer', () => {
      dataset = new GpuDataset(gpu, plan.data);
      let first = 0;
      for (const models of groups) {
        trainers.push(new GpuTrainer(gpu, { ...plan, models }, dataset, first));
        first += models.length;
      }
    });
    return await runTrainers(gpu, plan, trainers, hooks);
  } finally {
    for (const t of trainers) t.destroy();
    (dataset as GpuDataset | null)?.destroy();
  }
}

async function runTrainers(gpu: Gpu, plan: BatchPlan, trainers: GpuTrainer[], { onEpoch, onStep, signal }: TrainerHooks): Promise<BatchResult> {
  for (const t of trainers) t.gatherEvaluationRows();
  const histories: EpochRecord[][] = plan.models.map(() => []);
  const slots = Math.min(...trainers.map((t) => t.slots));
  const pending: Chunk[][] = [];
  // Dawn's OpenGL ES backend on a CPU adapter (llvmpipe) runs a submission inside submit(): a
  // second chunk in flight would only delay the first one's report, and a long epoch is cut into
  // submissions with pauses between them. (Vulkan drivers and a browser's GPU process run them
  // apart from the caller.)
  const pacer = new Pacer(gpu, isCpuAdapter(gpu) && gpu.adapter.backend === 'dawn-opengles', signal, onStep);
  const inFlight = pacer.blocking ? 1 : 2;
  // Steps of an epoch count across the groups: group g's step s is step (steps before g) + s.
  const steps = trainers.reduce((n, t) => n + t.steps, 0);
  let planned = 0;
  let chunkEpochs = 1;
  let lastDone = performance.now();
  let flip = 0;
  while (planned < plan.epochs || pending.length > 0) {
    // On GPUs, two chunks in flight: the GPU works on the next while this one is read.
    signal?.throwIfAborted();
    while (pending.length < inFlight && planned < plan.epochs) {
      const count = Math.min(chunkEpochs, slots, plan.epochs - planned);
      const chunks: Chunk[] = [];
      let before = 0;
      for (const t of trainers) {
        pacer.count(before, steps, count === 1 || trainers.length === 1);
        chunks.push(await t.submitChunk(planned, count, flip, pacer));
        before += t.steps;
      }
      pending.push(chunks);
      flip ^= 1;
      planned += count;
    }
    const chunks = pending.shift()!;
    const words = await Promise.all(trainers.map((t, g) => t.readChunk(chunks[g])));
    for (let i = 0; i < chunks[0].epochs.length; i++) {
      // Epoch by epoch and model by model: the first divergence is reported, as by one trainer.
      const records = trainers.flatMap((t, g) => t.records(chunks[g], words[g], i));
      records.forEach((r, m) => histories[m].push(r));
      // Awaited: an async listener finishes (or fails the run) before the next epoch's call.
      await onEpoch?.(records[0].epoch, records);
    }
    const now = performance.now();
    const perEpoch = (now - lastDone) / chunks[0].epochs.length;
    lastDone = now;
    pacer.observe(perEpoch, steps);
    chunkEpochs = Math.max(1, Math.min(slots, Math.round(TARGET_CHUNK_MS / Math.max(perEpoch, 0.01))));
  }
  const results: BatchResult['models'] = [];
  for (const t of trainers) results.push(...(await t.finish(histories)).models);
  return { models: results };
}

class GpuTrainer {
  private readonly buffers: GPUBuffer[] = [];
  private readonly calls: { destroy(): void }[] = [];
  private readonly layout: MlpLayout;
  private readonly models: number;
  /** Steps of one epoch. */
  readonly steps: number;
  private readonly maxRows: number;
  /** Epoch slots: the most epochs one chunk can hold. */
  readonly slots: number;
  private readonly permSlotBytes: number;
  private readonly coefSlotBytes: number;
  private readonly statsSlotBytes: number;
  private readonly recordWords: number;
  private readonly planners: EpochPlanner[];
  private readonly params: GPUBuffer;
  private readonly m: GPUBuffer;
  private readonly v: GPUBuffer;
  private readonly counters: GPUBuffer;
  private readonly perm: GPUBuffer;
  private readonly coef: GPUBuffer;
  private readonly stats: GPUBuffer;
  private readonly readbacks: GPUBuffer[];
  // One training step, in order:
  private readonly gather: GatherCall;
  private readonly forward: KernelCall[];
  private readonly loss: SlotCall;
  private readonly backward: KernelCall[];
  private readonly update: SlotCall;
  // End of an epoch:
  private readonly norms: SlotCall;
  private readonly validation: GpuRowSet | null;
  private readonly test: GpuRowSet | null;
  private readonly testStats: GPUBuffer | null;

  /**
   * Trains `plan.models`, reading x and y from `dataset` (shared by all trainers of a run, not
   * destroyed here); `first` is the index of its first model in the whole run (for errors).
   */
  constructor(
    private readonly gpu: Gpu,
    private readonly plan: BatchPlan,
    private readonly dataset: GpuDataset,
    private readonly first: number,
  ) {
    const { layout, data } = plan;
    this.layout = layout;
    const B = (this.models = plan.models.length);
    const P = layout.perModel;
    const S = layout.tensors.length;
    const F = data.features;
    const bs = plan.batchSize;
    ({ maxRows: this.maxRows, steps: this.steps } = epochShape(plan));
    this.planners = plan.models.map((m) => new EpochPlanner(layout, m, plan.shuffle));
    const own = (b: GPUBuffer) => (this.buffers.push(b), b);
    const ownCall = <T extends { destroy(): void }>(c: T) => (this.calls.push(c), c);

    this.permSlotBytes = permSlotBytes(gpu, B, this.maxRows);
    this.coefSlotBytes = coefSlotBytes(gpu, B, S);
    this.recordWords = NORM_FIELD + S;
    this.statsSlotBytes = statsSlotBytes(gpu, B, this.recordWords);
    // Enough epoch slots for a chunk, within 64 MiB of permutations.
    this.slots = Math.max(1, Math.min(MAX_SLOTS, plan.epochs, Math.floor((64 << 20) / this.permSlotBytes)));

    const { params: init, m, v, counters } = initialState(plan);
    this.params = own(gpu.createStorage('params', init));
    this.m = own(gpu.createStorage('adam m', m));
    this.v = own(gpu.createStorage('adam v', v));
    const grads = own(gpu.createStorage('grads', B * P * 4));
    this.counters = own(gpu.createStorage('counters', counters));
    // Without standardization the gathers copy rows as they are.
    const affine = plan.models.some((m) => m.standardize) ? own(gpu.createStorage('affine', affineTable(plan))) : null;
    this.perm = own(gpu.createStorage('perm slots', this.slots * this.permSlotBytes));
    this.coef = own(gpu.createStorage('coef slots', this.slots * this.coefSlotBytes));
    this.stats = own(gpu.createStorage('stats slots', this.slots * this.statsSlotBytes));
    this.readbacks = [0, 1].map(() => own(gpu.createBuffer('stats readback', this.slots * this.statsSlotBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST)));
    const xb = own(gpu.createStorage('batch x', B * bs * F * 4));
    const yb = own(gpu.createStorage('batch y', B * bs * 4));
    const acts = layout.layers.map((l) => own(gpu.createStorage('activations', B * bs * l.outputs * 4)));
    const dz = layout.layers.map((l) => own(gpu.createStorage('dz', B * bs * l.outputs * 4)));
    const stats = { buffer: this.stats, recordWords: this.recordWords, slots: this.slots };

    this.gather = ownCall(
      createGather(gpu, {
        models: B,
        batchRows: bs,
        features: F,
        dataRows: this.dataset.rows,
        indexStride: this.maxRows,
        slots: this.slots,
        steps: this.steps,
        countSteps: true,
        x: this.dataset.shards,
        y: this.dataset.y,
        perm: this.perm,
        affine,
        counters: this.counters,
        xb,
        yb,
        stepTable: own(createIndexTable(gpu, 'step table', this.steps)),
      }),
    );
    this.forward = forwardCalls(gpu, layout, B, bs, this.params, xb, acts).map(ownCall);
    const C = layout.classes;
    this.loss = ownCall(
      createSoftmaxXent(gpu, { models: B, rows: bs, classes: C, logits: acts[acts.length - 1], labels: yb, counters: this.counters, dlogits: dz[dz.length - 1], stats: { ...stats, field: TRAIN_FIELD } }),
    );
    this.backward = [];
    for (let l = layout.layers.length - 1; l >= 0; l--) {
      const layer = layout.layers[l];
      const shape = { batch: B, rows: bs, inputs: layer.inputs, outputs: layer.outputs };
      const block = { offset: layer.offset, batchStride: P };
      this.backward.push(ownCall(createDenseWeightGrad(gpu, shape, { x: { buffer: l === 0 ? xb : acts[l - 1] }, dz: { buffer: dz[l] }, grad: { buffer: grads, ...block } })));
      if (l > 0) {
        const below = layout.layers[l - 1].activation;
        this.backward.push(
          ownCall(createDenseInputGrad(gpu, shape, below, { dz: { buffer: dz[l] }, params: { buffer: this.params, ...block }, input: { buffer: acts[l - 1] }, dx: { buffer: dz[l - 1] } })),
        );
      }
    }
    this.update = ownCall(
      createAdam(gpu, {
        models: B,
        segments: layout.segments,
        mode: plan.mode,
        hyper: plan.optimizer,
        slots: this.slots,
        weights: this.params,
        grads,
        m: this.m,
        v: this.v,
        coef: this.coef,
        counters: this.counters,
      }),
    );
    this.norms = ownCall(createSumSq(gpu, { models: B, segments: layout.segments, weights: this.params, stats: { ...stats, field: NORM_FIELD } }));

    const hasRows = (key: 'validationRows' | 'testRows') => plan.models.some((x) => (x[key]?.length ?? 0) > 0);
    this.validation = hasRows('validationRows')
      ? ownCall(new GpuRowSet(gpu, layout, { dataset: this.dataset, affine, params: this.params, stats: { ...stats, field: VAL_FIELD } }, plan.models.map((x) => x.validationRows ?? new Uint32Array(0)), false))
      : null;
    this.testStats = hasRows('testRows') ? own(gpu.createStorage('test stats', statsSlotBytes(gpu, B, LOSS_GROUP_WORDS))) : null;
    this.test = this.testStats
      ? ownCall(
          new GpuRowSet(
            gpu,
            layout,
            { dataset: this.dataset, affine, params: this.params, stats: { buffer: this.testStats, recordWords: LOSS_GROUP_WORDS, field: 0, slots: 1 } },
            plan.models.map((x) => x.testRows ?? new Uint32Array(0)),
            true,
          ),
        )
      : null;
  }

  /** One training step of every model: the whole cost of a step is this list. */
  private encodeStep(pass: GPUComputePassEncoder, slot: number, step: number): void {
    encodeGather(pass, this.gather, slot, step); // batch rows and labels; rows this step; t += 1
    for (const call of this.forward) encodeCall(pass, call); // activations, then logits
    encodeSlotCall(pass, this.loss, slot); // dlogits; loss, accuracy sums
    for (const call of this.backward) encodeCall(pass, call); // dW (bias grad fused), dX ⊙ act'
    encodeSlotCall(pass, this.update, slot); // Adam with the epoch's L2 term fused (coupled or decoupled)
  }

  private encodeEpochEnd(pass: GPUComputePassEncoder, slot: number): void {
    encodeSlotCall(pass, this.norms, slot); // Σw² per tensor: norms and penalty value
    this.validation?.encodeEvaluate(pass, slot); // validation loss and accuracy
  }

  /**
   * Queues the epochs `first`…`first + count - 1` (count ≤ slots), read back into readback
   * `flip`: in submissions of `pacer.steps` steps (one, unless epochs are long or submit() blocks).
   */
  async submitChunk(first: number, count: number, flip: number, pacer: Pacer): Promise<Chunk> {
    const { gpu } = this;
    const readback = this.readbacks[flip];
    const epochs: EpochPlan[][] = [];
    const slots: number[] = [];
    for (let i = 0; i < count; i++) {
      const slot = (first + i) % this.slots;
      const plans = this.planners.map((p) => p.next());
      const perm = new Uint32Array(this.permSlotBytes / 4);
      const coef = new Float32Array(this.coefSlotBytes / 4);
      const S = this.layout.tensors.length;
      plans.forEach((p, m) => {
        perm.set(p.perm, m * this.maxRows);
        coef.set(p.coef, m * S);
      });
      // Queue-ordered: these land after the chunk already submitted has used the slot.
      gpu.write(this.perm, perm, slot * this.permSlotBytes);
      gpu.write(this.coef, coef, slot * this.coefSlotBytes);
      epochs.push(plans);
      slots.push(slot);
    }
    const label = `epochs ${first}..${first + count - 1}`;
    let encoder = gpu.device.createCommandEncoder({ label });
    for (const slot of slots) encoder.clearBuffer(this.stats, slot * this.statsSlotBytes, this.statsSlotBytes);
    let pass = encoder.beginComputePass({ label: 'train' });
    let encoded = 0;
    for (const [i, slot] of slots.entries()) {
      for (let step = 0; step < this.steps; step++) {
        if (encoded === pacer.steps) {
          // Submitted so far; the rest of the chunk in the next submission, after a pause.
          pass.end();
          pacer.submit(encoder.finish(), encoded);
          await pacer.pause(first + i, step);
          encoder = gpu.device.createCommandEncoder({ label });
          pass = encoder.beginComputePass({ label: 'train' });
          encoded = 0;
        }
        this.encodeStep(pass, slot, step);
        encoded++;
      }
      this.encodeEpochEnd(pass, slot);
    }
    pass.end();
    slots.forEach((slot, i) => encoder.copyBufferToBuffer(this.stats, slot * this.statsSlotBytes, readback, i * this.statsSlotBytes, this.statsSlotBytes));
    pacer.submit(encoder.finish(), encoded);
    return { epochs, slots, readback };
  }

  /** The records of the chunk's `i`th epoch, one per model; throws DivergenceError on a non-finite loss or weight. */
  records(chunk: Chunk, words: Uint32Array, i: number): EpochRecord[] {
    const S = this.layout.tensors.length;
    const base = (i * this.statsSlotBytes) / 4;
    return chunk.epochs[i].map((p, m) => {
      const at = base + m * this.recordWords;
      const norms = new Float32Array(words.buffer, words.byteOffset + (at + NORM_FIELD) * 4, S);
      const val = this.validation ? readLossGroup(words, at + VAL_FIELD) : null;
      return epochRecord(this.layout, this.planners[m], p, this.first + m, readLossGroup(words, at + TRAIN_FIELD), val, norms, (local, epoch, kind, sq) => divergenceAdvice(this.plan, local, epoch, kind, sq), m);
    });
  }

  /** Waits for the chunk and copies its stats slots out of the readback buffer. */
  async readChunk(chunk: Chunk): Promise<Uint32Array> {
    const bytes = chunk.epochs.length * this.statsSlotBytes;
    await this.gpu.guard(chunk.readback.mapAsync(GPUMapMode.READ, 0, bytes));
    const words = new Uint32Array(chunk.readback.getMappedRange(0, bytes).slice(0));
    chunk.readback.unmap();
    return words;
  }

  /** Gathers the validation and test rows (once, before the first epoch). */
  gatherEvaluationRows(): void {
    if (!this.validation && !this.test) return;
    this.gpu.submit('gather evaluation rows', (pass) => {
      this.validation?.encodeGather(pass);
      this.test?.encodeGather(pass);
    });
  }

  /** After the last epoch: the test evaluation and each model's final state. `histories` holds every model of the run. */
  async finish(histories: EpochRecord[][]): Promise<BatchResult> {
    const { gpu, plan } = this;
    const B = this.models;
    const P = this.layout.perModel;
    let tests: Evaluation[] | null = null;
    if (this.test && this.testStats) {
      gpu.device.queue.writeBuffer(this.testStats, 0, new Uint32Array(this.testStats.size / 4));
      gpu.submit('evaluate test rows', (pass) => this.test!.encodeEvaluate(pass, 0));
      const words = await gpu.readUint32(this.testStats);
      const sums = plan.models.map((_, m) => readLossGroup(words, m * LOSS_GROUP_WORDS));
      tests = await this.test.read(sums);
    }
    const params = await gpu.readFloat32(this.params, 0, B * P);
    // After the last update: weights that overflow only there make NaN predictions.
    if (tests) checkTests(tests, this.planners.map((p) => p.state().epoch - 1), this.layout.classes, this.first, (m, row) => testDivergenceAdvice(plan, m, row, params.subarray(m * P, (m + 1) * P)));
    const m = await gpu.readFloat32(this.m, 0, B * P);
    const v = await gpu.readFloat32(this.v, 0, B * P);
    const counters = await gpu.readUint32(this.counters, 0, B * COUNTER_WORDS);
    return batchResult(plan, { params, m, v, counters }, this.planners, histories.slice(this.first, this.first + B), tests);
  }

  destroy(): void {
    for (const c of this.calls) c.destroy();
    for (const b of this.buffers) this.gpu.destroyBuffer(b);
  }
}
