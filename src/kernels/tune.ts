// The matmul tuner: times the strategies and tile configurations a matmul can run with on this
// adapter, over the products of MLP training and a square product, and picks the one with the
// best geometric mean throughput. The result is applied with useMatmulTuning (chooseTiles then
// returns it) and can be saved per adapter (src/cli/tuning-cache.ts does so for the CLI), so
// the tuner runs once per machine. Browser-safe: no Node imports.

import type { Gpu } from '../runtime/gpu.js';
import { fnv1a } from '../runtime/random.js';
import { checkSampled, encodeCall, isCpuAdapter, KernelInputError, type KernelCall } from './common.js';
import code from '../../shaders/matmul.wgsl?raw';
import {
  DEFAULT_TILES,
  TILED_CANDIDATES,
  createMatmul,
  describeStrategy,
  fitTiles,
  strategyTiles,
  type MatmulDims,
  type MatmulStrategy,
  type MatmulVariant,
} from './matmul.js';

/** One product the tuner times. */
export interface TuneShape {
  name: string;
  variant: MatmulVariant;
  dims: MatmulDims;
}

/** The shapes timed by default: a 784→256 layer's three products at batch 128, and 1024². */
export const TUNE_SHAPES: readonly TuneShape[] = [
  { name: 'forward 128×784·784×256', variant: {}, dims: { batch: 1, m: 128, n: 256, k: 784 } },
  { name: 'dX 128×256·(784×256)ᵀ', variant: { transB: true }, dims: { batch: 1, m: 128, n: 784, k: 256 } },
  { name: 'dW (128×784)ᵀ·128×256', variant: { transA: true, onesRow: true }, dims: { batch: 1, m: 785, n: 256, k: 128 } },
  { name: 'square 1024', variant: {}, dims: { batch: 1, m: 1024, n: 1024, k: 1024 } },
];

/** One candidate's timings on the tuner's shapes. */
export interface CandidateTiming {
  /** The strategy timed. */
  strategy: MatmulStrategy;
  /** GFLOP/s (2·M·N·K per product) on each shape, in the order of `shapes`. */
  gflops: number[];
  /** Geometric mean of `gflops`; 0 for a candidate whose results were wrong. */
  score: number;
  /** Set when a product's sampled entries did not match float64: the candidate is never picked. */
  error?: string;
}

/** What the tuner found on one adapter. */
export interface MatmulTuning {
  /** The adapter it was measured on (adapterKey). */
  adapter: string;
  /** Hash of the matmul shader it was measured with: a different kernel needs new timings. */
  kernel: string;
  /** The fastest candidate. */
  best: MatmulStrategy;
  shapes: { name: string; dims: MatmulDims }[];
  candidates: CandidateTiming[];
  /** ISO date of the measurement. */
  date: string;
}

/** Options of tuneMatmul(), all optional. */
export interface TuneOptions {
  /** Products to time (default TUNE_SHAPES). */
  shapes?: readonly TuneShape[];
  /** Candidates to time (default: candidateStrategies(gpu)). */
  candidates?: readonly MatmulStrategy[];
  /** Timed runs per candidate and shape; the median counts (default 3). */
  runs?: number;
  /**
   * Minimum duration of one timed run in ms; dispatches per run are calibrated to it (default
   * 100: on llvmpipe runs of 20 ms measured a third slower than runs of 200 ms).
   */
  targetMs?: number;
  /** Called after each candidate, e.g. for a progress bar. */
  onCandidate?: (done: number, total: number, timing: CandidateTiming) => void;
  /**
   * Seconds per dispatch of a prepared call (default: wall time of calibrated runs of
   * dispatches in one submit). Tests pass their own.
   */
  measure?: (gpu: Gpu, call: KernelCall, runs: number, targetMs: number) => Promise<number>;
  /**
   * Overrides the verdict on a product's results (null: they match float64 at the sampled
   * entries, else what is wrong). Tests use it to fail a candidate.
   */
  verdict?: (strategy: MatmulStrategy, shape: TuneShape, found: string | null) => string | null;
}

/** A stable name for an adapter: vendor, architecture, device, description and backend. */
export function adapterKey(gpu: Gpu): string {
  const a = gpu.adapter;
  return [a.vendor, a.architecture, a.device, a.description, a.backend].join(' | ');
}

/** FNV-1a of the matmul shader's text, as 8 hex digits. */
export function kernelHash(text: string = code): string {
  return fnv1a(text);
}

/**
 * The candidates worth timing: on CPU adapters the direct strategy (tiles per shape) and the
 * default tiled tiles; on GPUs every tiled candidate, fitted to the device's limits, without
 * the duplicates fitting can make.
 */
export function candidateStrategies(gpu: Gpu): MatmulStrategy[] {
  if (isCpuAdapter(gpu)) return [{ strategy: 'direct' }, { strategy: 'tiled', tiles: DEFAULT_TILES }];
  const seen = new Set<string>();
  const out: MatmulStrategy[] = [];
  for (const candidate of TILED_CANDIDATES) {
    const tiles = fitTiles(gpu, candidate);
    const key = `${tiles.wgX}x${tiles.wgY}x${tiles.bk}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ strategy: 'tiled', tiles });
  }
  return out;
}

/** Wall-clock seconds per dispatch: runs of n dispatches in one submit, n calibrated to targetMs. */
async function wallClock(gpu: Gpu, call: KernelCall, runs: number, targetMs: number): Promise<number> {
  const run = async (n: number) => {
    const t0 = performance.now();
    gpu.submit('tune matmul', (pass) => {
      for (let i = 0; i < n; i++) encodeCall(pass, call);
    });
    await gpu.sync();
    return performance.now() - t0;
  };
  await run(1); // warm-up: first use of the pipeline
  let n = 1;
  let ms = await run(n);
  while (ms < targetMs && n < 4096) {
    n = Math.min(4096, Math.max(n * 2, Math.ceil((n * targetMs) / Math.max(ms, 1e-3))));
    ms = await run(n);
  }
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push((await run(n)) / n);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] / 1000;
}

/**
 * Compares sampled entries of C (its first and last, and pseudo-random others over the batch)
 * with float64 sums of the same operands; null when all match, else the first that does not. A
 * candidate that is fast but wrong on some GPU must not be picked.
 */
function checkProduct(shape: TuneShape, a: Float32Array, b: Float32Array, c: Float32Array): string | null {
  const { m, n, k } = shape.dims;
  const { transA = false, transB = false, onesRow = false } = shape.variant;
  const stored = onesRow ? m - 1 : m;
  const opA = (bi: number, i: number, kk: number) =>
    transA ? (onesRow && i === m - 1 ? 1 : a[bi * k * stored + kk * stored + i]) : a[bi * m * k + i * k + kk];
  const opB = (bi: number, kk: number, j: number) => (transB ? b[bi * n * k + j * k + kk] : b[bi * k * n + kk * n + j]);
  const ref = (e: number) => {
    const [bi, i, j] = [Math.floor(e / (m * n)), Math.floor((e % (m * n)) / n), e % n];
    let value = 0;
    let scale = 0;
    for (let kk = 0; kk < k; kk++) {
      const p = opA(bi, i, kk) * opB(bi, kk, j);
      value += p;
      scale += Math.abs(p);
    }
    return { value, scale };
  };
  const wrong = checkSampled(c, ref, 'C', 1e-6, 64);
  return wrong && `wrong result on ${shape.name}: ${wrong}`;
}

function geometricMean(values: number[]): number {
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

/**
 * Times every candidate on every shape; returns the timings and the fastest candidate that computed
 * right (its sampled entries of C match float64).
 * @throws KernelInputError for empty shapes or candidates, bad runs, or when every candidate is wrong.
 */
export async function tuneMatmul(gpu: Gpu, options: TuneOptions = {}): Promise<MatmulTuning> {
  const shapes = options.shapes ?? TUNE_SHAPES;
  const candidates = options.candidates ?? candidateStrategies(gpu);
  const runs = options.runs ?? 3;
  const targetMs = options.targetMs ?? 100;
  const measure = options.measure ?? wallClock;
  if (shapes.length === 0) throw new KernelInputError('tuneMatmul: shapes is empty');
  if (candidates.length === 0) throw new KernelInputError('tuneMatmul: candidates is empty');
  if (!Number.isInteger(runs) || runs < 1) throw new KernelInputError(`tuneMatmul: runs must be an integer ≥ 1, got ${runs}`);
  // One set of operands, as large as the largest shape needs.
  const most = (f: (s: TuneShape) => number) => Math.max(...shapes.map(f));
  const elements = {
    a: most((s) => s.dims.batch * s.dims.m * s.dims.k),
    b: most((s) => s.dims.batch * s.dims.k * s.dims.n),
    c: most((s) => s.dims.batch * s.dims.m * s.dims.n),
  };
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const aData = fill(elements.a);
  const bData = fill(elements.b);
  const poison = new Float32Array(elements.c).fill(Number.NaN);
  const a = gpu.createStorage('tune a', aData);
  const b = gpu.createStorage('tune b', bData);
  const c = gpu.createStorage('tune c', elements.c * 4);
  const timings: CandidateTiming[] = [];
  try {
    for (const strategy of candidates) {
      const gflops: number[] = [];
      let error: string | null = null;
      for (const shape of shapes) {
        const call = createMatmul(gpu, shape.variant, shape.dims, { a: { buffer: a }, b: { buffer: b }, c: { buffer: c } }, strategyTiles(strategy, shape.dims));
        try {
          gpu.write(c, poison);
          const seconds = await measure(gpu, call, runs, targetMs);
          const { batch, m, n, k } = shape.dims;
          gflops.push((2 * batch * m * n * k) / seconds / 1e9);
          // One more dispatch, whatever `measure` did, then a sample of C against float64.
          gpu.submit('tune matmul check', (pass) => encodeCall(pass, call));
          const found = checkProduct(shape, aData, bData, await gpu.readFloat32(c, 0, batch * m * n));
          const verdict = options.verdict ? options.verdict(strategy, shape, found) : found;
          error ??= verdict;
        } finally {
          call.destroy();
        }
      }
      const timing: CandidateTiming = { strategy, gflops, score: error ? 0 : geometricMean(gflops), ...(error ? { error } : {}) };
      timings.push(timing);
      options.onCandidate?.(timings.length, candidates.length, timing);
    }
  } finally {
    gpu.destroyBuffer(a);
    gpu.destroyBuffer(b);
    gpu.destroyBuffer(c);
  }
  const right = timings.filter((t) => !t.error);
  if (right.length === 0) throw new KernelInputError(`tuneMatmul: every candidate computed wrong results on this adapter, e.g. ${timings[0].error}`);
  const best = right.reduce((x, y) => (y.score > x.score ? y : x));
  return {
    adapter: adapterKey(gpu),
    kernel: kernelHash(),
    best: best.strategy,
    shapes: shapes.map((s) => ({ name: s.name, dims: s.dims })),
    candidates: timings,
    date: new Date().toISOString(),
  };
}

/**
 * Whether a saved tuning holds for this adapter and this build's matmul shader; null when it
 * does, else why not.
 */
export function tuningMismatch(gpu: Gpu, tuning: MatmulTuning): string | null {
  if (tuning.adapter !== adapterKey(gpu)) return `it was measured on another adapter (${tuning.adapter})`;
  if (tuning.kernel !== kernelHash()) return 'it was measured with another version of the matmul kernel';
  return null;
}

/** The tuner's table: one row per candidate, GFLOP/s per product and their geometric mean. */
export function formatTuning(t: MatmulTuning, adapter: string): string {
  const head = ['candidate', ...t.shapes.map((s) => s.name), 'geomean'];
  const rows = t.candidates.map((c) => [describeStrategy(c.strategy), ...c.gflops.map((g) => g.toFixed(2)), c.score.toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[], mark = '') => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ') + mark;
  const best = describeStrategy(t.best);
  return [
    `matmul tuning on ${adapter}: GFLOP/s of each candidate (median of timed runs), best by geometric mean`,
    line(head),
    ...rows.map((r, i) => line(r, t.candidates[i].error ? `  <- ${t.candidates[i].error}` : r[0] === best ? '  <- best' : '')),
    '',
  ].join('\n');
}
