// Checks of every kernel against its CPU twin on fresh random inputs, with outputs poisoned
// (NaN) before each run. The Node tests call them over many shapes; the browser self-check page
// and the demo run `runSelfCheck` once on whatever adapter they have.

import type { Gpu } from '../runtime/gpu.js';
import { poisoned, randomFloats, relativeError } from '../testing/random.js';
import { adamCpu, createAdam, type AdamHyper, type AdamMode } from './adam.js';
import { createIndexTable, type Segments } from './common.js';
import { COUNTER_WORDS, createGather, encodeGather, gatherCpu, permSlotBytes } from './gather.js';
import { coefSlotBytes, createL2Grad, l2GradCpu } from './l2-grad.js';
import { createMetrics, metricsCpu } from './metrics.js';
import { checkDenseProduct, type CheckResult } from './selfcheck-matmul.js';
import {
  createSoftmaxXent,
  encodeSlotCall,
  readLossGroup,
  softmaxXentCpu,
  statsSlotBytes,
  type LossSums,
  type SoftmaxLayout,
} from './softmax-xent.js';
import { createSumSq, sumSqCpu } from './sumsq.js';

export type { CheckResult } from './selfcheck-matmul.js';
export { checkDenseProduct } from './selfcheck-matmul.js';

/** Owns the buffers of one check and frees them however it ends. */
class Scratch {
  private readonly buffers: GPUBuffer[] = [];
  private readonly calls: { destroy(): void }[] = [];
  constructor(private readonly gpu: Gpu) {}
  storage(label: string, data: Float32Array | Uint32Array | number): GPUBuffer {
    const b = this.gpu.createStorage(label, data);
    this.buffers.push(b);
    return b;
  }
  own<T extends { destroy(): void }>(call: T): T {
    this.calls.push(call);
    return call;
  }
  table(entries: number): GPUBuffer {
    const b = createIndexTable(this.gpu, 'steps', entries);
    this.buffers.push(b);
    return b;
  }
  free(): void {
    for (const c of this.calls) c.destroy();
    for (const b of this.buffers) this.gpu.destroyBuffer(b);
  }
}

function result(name: string, error: number, limit: number): CheckResult {
  return { name, error, limit, ok: error <= limit };
}

function randomInts(length: number, below: number): Uint32Array {
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(Math.random() * below);
  return out;
}

function shuffled(n: number): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Largest difference between two lists of sums: counts and flags exact; the loss sum relative
 * to max(|loss|, rows), i.e. per row at worst. A confident row's loss log(1 + ε) is tiny and
 * float32's log near 1 is good to about 1e-7 absolute, not relative.
 */
function sumsError(got: LossSums[], ref: LossSums[]): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i];
    const r = ref[i];
    if (g.correct !== r.correct || g.count !== r.count || g.flags !== r.flags) return Number.POSITIVE_INFINITY;
    const e = Math.abs(g.loss - r.loss) / Math.max(Math.abs(r.loss), r.count, 1e-6);
    worst = Math.max(worst, e); // NaN stays NaN: it fails every ≤ check
  }
  return worst;
}

/**
 * Gather over several steps of two epochs for `models` models with different training-set
 * sizes (so some run out of rows early); x optionally split into `shards`.
 */
export async function checkGather(
  gpu: Gpu,
  models: number,
  batchRows: number,
  features: number,
  dataRows: number,
  shards = 1,
  rowLoop?: boolean,
  standardize = true,
): Promise<CheckResult> {
  const s = new Scratch(gpu);
  try {
    const x = randomFloats(dataRows * features, -3, 3);
    const y = randomInts(dataRows, 7);
    const affine = standardize ? randomFloats(models * 2 * features, 0.5, 2) : null;
    const trainRows = Array.from({ length: models }, (_, m) => Math.max(1, dataRows - m * 3));
    const indexStride = dataRows;
    const slots = 2;
    const slotWords = permSlotBytes(gpu, models, indexStride) / 4;
    const perm = new Uint32Array(slots * slotWords);
    for (let slot = 0; slot < slots; slot++) {
      for (let m = 0; m < models; m++) perm.set(shuffled(dataRows).subarray(0, trainRows[m]), slot * slotWords + m * indexStride);
    }
    const counters = new Uint32Array(models * COUNTER_WORDS);
    trainRows.forEach((n, m) => (counters[m * COUNTER_WORDS] = n));
    const steps = Math.ceil(dataRows / batchRows) + 1;
    const shardRows = Math.ceil(dataRows / shards);
    const xShards = [];
    for (let first = 0; first < dataRows; first += shardRows) {
      const rows = Math.min(shardRows, dataRows - first);
      xShards.push({ buffer: s.storage('x shard', x.slice(first * features, (first + rows) * features)), firstRow: first, rows });
    }
    const buffers = {
      y: s.storage('y', y),
      perm: s.storage('perm', perm),
      affine: affine && s.storage('affine', affine),
      counters: s.storage('counters', counters),
      xb: s.storage('xb', poisoned(models * batchRows * features)),
      yb: s.storage('yb', new Uint32Array(models * batchRows).fill(0xdeadbeef)),
    };
    const call = s.own(
      createGather(gpu, { models, batchRows, features, dataRows, indexStride, slots, steps, countSteps: true, x: xShards, ...buffers, stepTable: s.table(steps), rowLoop }),
    );
    const ref = { xb: new Float32Array(models * batchRows * features), yb: new Uint32Array(models * batchRows), counters: counters.slice() };
    let worst = 0;
    for (const [slot, step] of [[1, 0], [0, 1], [1, steps - 2], [0, steps - 1]]) {
      gpu.submit('check gather', (pass) => encodeGather(pass, call, slot, step));
      gatherCpu({ models, batchRows, features, indexStride, countSteps: true, x, y, perm: perm.subarray(slot * slotWords), affine, counters: ref.counters, xb: ref.xb, yb: ref.yb }, step);
      const xb = await gpu.readFloat32(buffers.xb);
      const yb = await gpu.readUint32(buffers.yb, 0, ref.yb.length);
      const got = await gpu.readUint32(buffers.counters, 0, ref.counters.length);
      const sameInts = yb.every((v, i) => v === ref.yb[i]) && got.every((v, i) => v === ref.counters[i]);
      const e = sameInts ? relativeError(xb.subarray(0, ref.xb.length), ref.xb) : Number.POSITIVE_INFINITY;
      worst = Math.max(worst, e); // NaN stays NaN: it fails every ≤ check
    }
    const how = rowLoop === undefined ? '' : rowLoop ? ', a row per invocation' : ', a feature (or vec4) per invocation';
    const affineHow = standardize ? '' : ', no standardization';
    return result(`gather models ${models}, batch ${batchRows}, features ${features}, rows ${dataRows}, shards ${xShards.length}${how}${affineHow}`, worst, 1e-6);
  } finally {
    s.free();
  }
}

/**
 * Softmax cross-entropy with some models' rows partly padding; logits in ±scale (default 5),
 * optionally a label ≥ classes in the first row and forced rows per invocation.
 */
export async function checkSoftmaxXent(
  gpu: Gpu,
  models: number,
  rows: number,
  classes: number,
  options: { scale?: number; badLabel?: boolean; rowsPerInvocation?: number; layout?: SoftmaxLayout; confident?: boolean } = {},
): Promise<CheckResult> {
  const { scale = 5, badLabel = false, rowsPerInvocation, layout, confident = false } = options;
  const s = new Scratch(gpu);
  try {
    const logits = randomFloats(models * rows * classes, -scale, scale);
    const labels = randomInts(models * rows, classes);
    // Confident rows: the label logit 2·scale or more above the others, p(label) ≈ 1 − 5e-5·classes.
    if (confident) labels.forEach((label, r) => (logits[r * classes + label] = 3 * scale + Math.random()));
    if (badLabel) labels[0] = classes + 3;
    const realRows = Array.from({ length: models }, (_, m) => Math.max(1, rows - m));
    const counters = new Uint32Array(models * COUNTER_WORDS);
    realRows.forEach((n, m) => (counters[m * COUNTER_WORDS + 1] = n));
    const recordWords = 6;
    const field = 2;
    const slots = 2;
    const slotBytes = statsSlotBytes(gpu, models, recordWords);
    const stats = s.storage('stats', new Uint32Array((slots * slotBytes) / 4));
    const dlogits = s.storage('dlogits', poisoned(models * rows * classes));
    const call = s.own(
      createSoftmaxXent(gpu, {
        models,
        rows,
        classes,
        logits: s.storage('logits', logits),
        labels: s.storage('labels', labels),
        counters: s.storage('counters', counters),
        dlogits,
        stats: { buffer: stats, recordWords, field, slots },
        rowsPerInvocation,
        layout,
      }),
    );
    gpu.submit('check softmax_xent', (pass) => encodeSlotCall(pass, call, 1));
    const ref = new Float64Array(models * rows * classes);
    const refSums = softmaxXentCpu(models, rows, classes, logits, labels, realRows, ref);
    const got = await gpu.readFloat32(dlogits, 0, ref.length);
    const words = await gpu.readUint32(stats);
    const slotWords = slotBytes / 4;
    const sums = refSums.map((_, m) => readLossGroup(words, slotWords + m * recordWords + field));
    const untouched = words.subarray(0, slotWords).every((w) => w === 0);
    const finite = got.every(Number.isFinite) && sums.every((x) => Number.isFinite(x.loss));
    const error = untouched && finite ? Math.max(relativeError(got, ref), sumsError(sums, refSums)) : Number.POSITIVE_INFINITY;
    const per = (rowsPerInvocation ? `, ${rowsPerInvocation} rows per invocation` : '') + (layout ? `, ${layout} layout` : '') + (confident ? ', confident rows' : '');
    return result(`softmax_xent models ${models}, rows ${rows}, classes ${classes}, logits ±${scale}${badLabel ? ', bad label' : ''}${per}`, error, 1e-5);
  } finally {
    s.free();
  }
}

/** Predictions, confusion counts and sums of the metrics kernel. */
export async function checkMetrics(gpu: Gpu, models: number, rows: number, classes: number, scale = 5, lanes?: boolean): Promise<CheckResult> {
  const s = new Scratch(gpu);
  try {
    const logits = randomFloats(models * rows * classes, -scale, scale);
    const labels = randomInts(models * rows, classes);
    const realRows = Array.from({ length: models }, (_, m) => Math.max(1, rows - 2 * m));
    const counters = new Uint32Array(models * COUNTER_WORDS);
    realRows.forEach((n, m) => (counters[m * COUNTER_WORDS + 1] = n));
    const recordWords = 4;
    const slotBytes = statsSlotBytes(gpu, models, recordWords);
    const stats = s.storage('stats', new Uint32Array(slotBytes / 4));
    const predictions = s.storage('predictions', new Uint32Array(models * rows).fill(0xdeadbeef));
    const confusion = s.storage('confusion', new Uint32Array(models * classes * classes));
    const call = s.own(
      createMetrics(gpu, {
        models,
        rows,
        classes,
        logits: s.storage('logits', logits),
        labels: s.storage('labels', labels),
        counters: s.storage('counters', counters),
        predictions,
        confusion,
        stats: { buffer: stats, recordWords, field: 0, slots: 1 },
        lanes,
      }),
    );
    gpu.submit('check metrics', (pass) => encodeSlotCall(pass, call, 0));
    const refPred = new Uint32Array(models * rows).fill(0xdeadbeef);
    const refConf = new Uint32Array(models * classes * classes);
    const refSums = metricsCpu(models, rows, classes, logits, labels, realRows, refPred, refConf);
    const pred = await gpu.readUint32(predictions, 0, refPred.length);
    const conf = await gpu.readUint32(confusion, 0, refConf.length);
    const words = await gpu.readUint32(stats);
    const sums = refSums.map((_, m) => readLossGroup(words, m * recordWords));
    const exact = pred.every((v, i) => v === refPred[i]) && conf.every((v, i) => v === refConf[i]);
    const how = lanes === undefined ? '' : lanes ? ', lanes' : ', workgroups';
    return result(`metrics models ${models}, rows ${rows}, classes ${classes}${how}`, exact ? sumsError(sums, refSums) : Number.POSITIVE_INFINITY, 1e-5);
  } finally {
    s.free();
  }
}

/** Segments of a random MLP-like block: kernel/bias pairs of the given layer sizes. */
export function mlpSegments(widths: number[]): Segments {
  const starts: number[] = [];
  let at = 0;
  for (let l = 0; l + 1 < widths.length; l++) {
    starts.push(at);
    at += widths[l] * widths[l + 1];
    starts.push(at);
    at += widths[l + 1];
  }
  return { perModel: at, starts };
}

/** Ten steps of the fused L2-gradient add, each with a different coef slot. */
export async function checkL2Grad(gpu: Gpu, models: number, widths: number[], steps = 10): Promise<CheckResult> {
  const s = new Scratch(gpu);
  try {
    const segments = mlpSegments(widths);
    const nSeg = segments.starts.length;
    const count = models * segments.perModel;
    const weights = randomFloats(count);
    const grads = randomFloats(count);
    const slots = 3;
    const slotWords = coefSlotBytes(gpu, models, nSeg) / 4;
    const coef = new Float32Array(slots * slotWords);
    for (let i = 0; i < coef.length; i++) coef[i] = Math.random() < 0.3 ? 0 : Math.random() * 0.2;
    const gradBuffer = s.storage('grads', grads);
    const call = s.own(createL2Grad(gpu, { models, segments, slots, weights: s.storage('weights', weights), grads: gradBuffer, coef: s.storage('coef', coef) }));
    const ref = Float64Array.from(grads);
    for (let step = 0; step < steps; step++) {
      const slot = step % slots;
      gpu.submit('check l2', (pass) => encodeSlotCall(pass, call, slot));
      l2GradCpu(models, segments, coef.subarray(slot * slotWords), weights, ref);
    }
    const got = await gpu.readFloat32(gradBuffer, 0, count);
    return result(`l2_grad models ${models}, layers ${widths.join('-')}, ${steps} steps`, relativeError(got, ref), 1e-6);
  } finally {
    s.free();
  }
}

/** Ten Adam steps with fresh gradients each step; model 1 skips step 3 (no rows). */
/**
 * Ten Adam steps against the twin, one model skipping a step. `shape` is an MLP's layer widths or
 * explicit segments (models smaller than a vec4, tensors of one parameter). The buffers' padding
 * past the last parameter is NaN and must come back untouched.
 */
export async function checkAdam(gpu: Gpu, models: number, shape: number[] | Segments, mode: AdamMode, steps = 10, run?: number): Promise<CheckResult> {
  const s = new Scratch(gpu);
  try {
    const segments = Array.isArray(shape) ? mlpSegments(shape) : shape;
    const nSeg = segments.starts.length;
    const count = models * segments.perModel;
    const padded = Math.ceil(count / 4) * 4;
    const hyper: AdamHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    const slotWords = coefSlotBytes(gpu, models, nSeg) / 4;
    const coef = new Float32Array(slotWords);
    for (let i = 0; i < models * nSeg; i++) coef[i] = Math.random() < 0.3 ? 0 : Math.random() * 0.5;
    const init = randomFloats(count);
    const ref: { weights: Float32Array; m: Float32Array; v: Float32Array; grads: Float32Array } = {
      weights: Float32Array.from(init),
      m: new Float32Array(count),
      v: new Float32Array(count),
      grads: new Float32Array(count),
    };
    const withPadding = (values: Float32Array): Float32Array => {
      const out = new Float32Array(padded).fill(Number.NaN);
      out.set(values);
      return out;
    };
    const b = {
      weights: s.storage('weights', withPadding(init)),
      grads: s.storage('grads', padded * 4),
      m: s.storage('m', withPadding(new Float32Array(count))),
      v: s.storage('v', withPadding(new Float32Array(count))),
      coef: s.storage('coef', coef),
      counters: s.storage('counters', models * COUNTER_WORDS * 4),
    };
    const call = s.own(createAdam(gpu, { models, segments, mode, hyper, slots: 1, ...b, ...(run ? { run } : {}) }));
    const counters = new Uint32Array(models * COUNTER_WORDS);
    for (let step = 0; step < steps; step++) {
      for (let m = 0; m < models; m++) {
        const skip = m === 1 && step === 3;
        counters[m * COUNTER_WORDS + 1] = skip ? 0 : 5;
        if (!skip) counters[m * COUNTER_WORDS + 2] += 1;
      }
      const grads = randomFloats(count);
      gpu.write(b.grads, withPadding(grads));
      gpu.write(b.counters, counters);
      gpu.submit('check adam', (pass) => encodeSlotCall(pass, call, 0));
      ref.grads = grads;
      adamCpu(models, segments, mode, hyper, coef, counters, ref);
    }
    const w = await gpu.readFloat32(b.weights, 0, padded);
    const m = await gpu.readFloat32(b.m, 0, padded);
    const v = await gpu.readFloat32(b.v, 0, padded);
    const paddingKept = [w, m, v].every((x) => x.subarray(count).every(Number.isNaN));
    const error = paddingKept
      ? Math.max(relativeError(w.subarray(0, count), ref.weights), relativeError(m.subarray(0, count), ref.m), relativeError(v.subarray(0, count), ref.v))
      : Number.POSITIVE_INFINITY;
    const what = Array.isArray(shape) ? `layers ${shape.join('-')}` : `${segments.perModel} parameters in segments at ${segments.starts.join(',')}`;
    return result(`adam ${mode} models ${models}, ${what}, ${steps} steps${run ? `, ${run} vec4 per invocation` : ''}`, error, 1e-6);
  } finally {
    s.free();
  }
}

/** Per-segment sums of squares into a stats slot. */
export async function checkSumSq(gpu: Gpu, models: number, widths: number[], options: { lanes?: boolean } = {}): Promise<CheckResult> {
  const s = new Scratch(gpu);
  try {
    const segments = mlpSegments(widths);
    const nSeg = segments.starts.length;
    const weights = randomFloats(models * segments.perModel);
    const recordWords = nSeg + 3;
    const field = 3;
    const slotBytes = statsSlotBytes(gpu, models, recordWords);
    const stats = s.storage('stats', poisoned((2 * slotBytes) / 4));
    const call = s.own(createSumSq(gpu, { models, segments, weights: s.storage('weights', weights), stats: { buffer: stats, recordWords, field, slots: 2 }, lanes: options.lanes }));
    gpu.submit('check sumsq', (pass) => encodeSlotCall(pass, call, 1));
    const words = await gpu.readFloat32(stats);
    const got = new Float64Array(models * nSeg);
    for (let m = 0; m < models; m++) for (let t = 0; t < nSeg; t++) got[m * nSeg + t] = words[slotBytes / 4 + m * recordWords + field + t];
    const how = options.lanes === undefined ? '' : options.lanes ? ', lanes' : ', workgroups';
    // The GPU adds n squares in float32, in some order: rounding errors of about √n ulps (a
    // random walk), where the twin's float64 sum has none. 1e-5 held to about 10⁴ squares; a
    // 257 × 129 kernel read 1.2e-5 on fresh random weights.
    const longest = Math.max(...segments.starts.map((start, i) => (i + 1 < nSeg ? segments.starts[i + 1] : segments.perModel) - start));
    const tolerance = Math.max(1e-5, 4 * Math.sqrt(longest) * 2 ** -24);
    return result(`sumsq models ${models}, layers ${widths.join('-')}${how}`, relativeError(got, sumSqCpu(models, segments, weights)), tolerance);
  } finally {
    s.free();
  }
}

/** One pass over every kernel at a few shapes that are not tile multiples. */
export async function runSelfCheck(gpu: Gpu, onResult?: (r: CheckResult) => void): Promise<CheckResult[]> {
  const checks: (() => Promise<CheckResult>)[] = [];
  for (const product of ['forward', 'inputGrad', 'weightGrad'] as const) {
    for (const batch of [1, 3]) {
      checks.push(() => checkDenseProduct(gpu, product, { batch, rows: 17, inputs: 127, outputs: 129 }, 'relu'));
    }
    checks.push(() => checkDenseProduct(gpu, product, { batch: 2, rows: 64, inputs: 3, outputs: 257 }, 'tanh'));
  }
  checks.push(() => checkGather(gpu, 3, 16, 5, 47));
  checks.push(() => checkSoftmaxXent(gpu, 3, 17, 3));
  checks.push(() => checkSoftmaxXent(gpu, 2, 129, 10, { scale: 1e4 }));
  checks.push(() => checkSoftmaxXent(gpu, 2, 200, 40, { rowsPerInvocation: 3 }));
  if (gpu.hasSubgroups) {
    // One subgroup per row: rows narrower and wider than a subgroup, huge logits, a bad label.
    checks.push(() => checkSoftmaxXent(gpu, 2, 200, 40, { layout: 'subgroups' }));
    checks.push(() => checkSoftmaxXent(gpu, 3, 37, 3, { layout: 'subgroups', scale: 1e4 }));
    checks.push(() => checkSoftmaxXent(gpu, 2, 65, 1000, { layout: 'subgroups', badLabel: true }));
    checks.push(() => checkSoftmaxXent(gpu, 1, 3, 40, { layout: 'subgroups', confident: true }));
  }
  checks.push(() => checkMetrics(gpu, 3, 129, 4));
  checks.push(() => checkL2Grad(gpu, 3, [4, 10, 3]));
  for (const mode of ['none', 'coupled', 'decoupled'] as const) checks.push(() => checkAdam(gpu, 3, [4, 10, 3], mode));
  checks.push(() => checkSumSq(gpu, 3, [17, 33, 5]));
  const results: CheckResult[] = [];
  for (const check of checks) {
    const r = await check();
    results.push(r);
    onResult?.(r);
  }
  return results;
}
