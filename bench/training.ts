// End-to-end training speed: an Iris-shaped epoch (150×4 → 10 → 3 relu, batch 16, Adam 0.001,
// L2 on the kernels) in milliseconds, and an MNIST-shaped run (synthetic rows × 784 → 256 → 10)
// in samples per second, for altreg's GPU trainer, its CPU reference trainer and the peers
// (bench/peers/*-train.ts). Times are marginal: a contender trains `short` epochs, then `long`
// epochs, and (t(long) − t(short)) / (long − short) is one sample, so device start, upload,
// pipeline creation and the final readback cancel. Contenders run interleaved, round by round,
// and each reports the median of its samples. Browser-safe (web/bench.ts uses it too).

import { loadDataset } from '../src/data/datasets.js';
import type { Gpu } from '../src/runtime/gpu.js';
import { Random } from '../src/runtime/random.js';
import { train, type Run, type TrainOptions } from '../src/runtime/train.js';
import type { TrainData } from '../src/runtime/plan.js';
import { markdownTable, median } from './timing.js';

/** What a training row trains; serializable, so that a child process can rebuild the task. */
export type TaskSpec = { kind: 'iris' } | { kind: 'mlp'; rows: number; batchSize: number };

/** One training job: data, a one-hidden-layer relu MLP, Adam and L2 (λ·Σw² on both kernels). */
export interface TrainingTask {
  spec: TaskSpec;
  data: TrainData;
  hidden: number;
  batchSize: number;
  lr: number;
  /** Keras convention: the loss gets λ·Σw² for every kernel (not the biases). */
  l2: number;
}

/** A way of training a task (altreg on the GPU, TF.js, ...). */
export interface TrainingContender {
  name: string;
  /** Training rows per epoch. */
  rows: number;
  /**
   * Trains `epochs` more epochs (continuing the same model) and resolves
   * when the device is done, with each epoch's mean training loss including the L2 term.
   */
  train(epochs: number): Promise<number[]>;
  dispose(): void | Promise<void>;
}

/** Epoch counts of one contender's marginal timing and how many samples it takes. */
export interface Marginal {
  short: number;
  long: number;
  runs: number;
}

/** What one contender measured on one row. */
export interface TrainingMeasured {
  name: string;
  rows: number;
  short: number;
  long: number;
  /** Marginal seconds per epoch of every run, in order. */
  samples: number[];
  /** Median of `samples`. */
  secondsPerEpoch: number;
  /** Mean loss (incl. L2) of the first epoch trained (warm-up) and of the last one. */
  firstLoss: number;
  finalLoss: number;
  /** finalLoss < firstLoss: the contender really trained. */
  lossDecreased: boolean;
  error?: string;
}

export type TrainingUnit = 'ms/epoch' | 'samples/s';

export interface TrainingRow {
  name: string;
  unit: TrainingUnit;
  results: TrainingMeasured[];
}

/** Synthetic MNIST-shaped data: `rows` × 784 uniform features in [0, 1), 10 classes. */
export function syntheticMnist(rows: number, seed = 1): TrainData {
  const rng = new Random(seed);
  const x = new Float32Array(rows * 784);
  for (let i = 0; i < x.length; i++) x[i] = rng.next();
  const y = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) y[i] = rng.int(10);
  return { x, y, features: 784, classes: 10 };
}

/** The row's task: Iris (4-10-3, batch 16, λ 0.01) or synthetic MNIST (784-256-10, λ 0.0001). */
export async function makeTask(spec: TaskSpec): Promise<TrainingTask> {
  if (spec.kind === 'iris') {
    const iris = await loadDataset('iris');
    return { spec, data: { x: iris.x, y: iris.y, features: iris.features, classes: iris.classes }, hidden: 10, batchSize: 16, lr: 0.001, l2: 0.01 };
  }
  return { spec, data: syntheticMnist(spec.rows), hidden: 256, batchSize: spec.batchSize, lr: 0.001, l2: 0.0001 };
}

export function taskLabel(spec: TaskSpec): string {
  return spec.kind === 'iris'
    ? 'Iris-shaped epoch (150×4 → 10 → 3 relu, batch 16, Adam lr 0.001, L2 0.01 on kernels)'
    : `784→256→10 relu, synthetic N×784 (uniform), batch ${spec.batchSize}`;
}

/** altreg's train() on `device`; every call resumes from the previous call's checkpoint. */
export function altregTrainer(name: string, task: TrainingTask, device: 'gpu' | 'cpu', gpu: Gpu | null): TrainingContender {
  const options: Omit<TrainOptions, 'epochs'> = {
    data: task.data,
    model: { hidden: [task.hidden], activation: 'relu' },
    batchSize: task.batchSize,
    optimizer: { lr: task.lr },
    penalty: { lambda: task.l2 },
    device,
    ...(gpu ? { gpu } : {}),
  };
  let last: Run | null = null;
  return {
    name,
    rows: task.data.y.length,
    async train(epochs) {
      const run: Run = await train({ ...options, epochs, ...(last ? { resume: last.checkpoint() } : {}) });
      last = run;
      return run.history.slice(-epochs).map((h) => h.loss + h.penalty);
    },
    dispose: () => {
      last = null;
    },
  };
}

async function timed(c: TrainingContender, epochs: number): Promise<{ seconds: number; losses: number[] }> {
  const start = performance.now();
  const losses = await c.train(epochs);
  return { seconds: (performance.now() - start) / 1000, losses };
}

/**
 * Times contenders interleaved: each trains `short` epochs once as a warm-up (shaders, pipelines),
 * then round by round every contender trains `short`, then `long` epochs; a contender with fewer
 * `runs` sits out the later rounds. One that throws gets `error` and drops out.
 */
export async function measureTraining(entries: { contender: TrainingContender; marginal: Marginal }[], log?: (line: string) => void): Promise<TrainingMeasured[]> {
  const results: TrainingMeasured[] = entries.map(({ contender: c, marginal: m }) => ({
    name: c.name,
    rows: c.rows,
    short: m.short,
    long: m.long,
    samples: [],
    secondsPerEpoch: NaN,
    firstLoss: NaN,
    finalLoss: NaN,
    lossDecreased: false,
  }));
  const fail = (i: number, error: unknown) => {
    results[i].error = (error as Error).message ?? String(error);
    log?.(`    ${results[i].name} failed: ${results[i].error}`);
  };
  for (const [i, { contender }] of entries.entries()) {
    try {
      const warm = await timed(contender, entries[i].marginal.short);
      results[i].firstLoss = warm.losses[0];
      results[i].finalLoss = warm.losses.at(-1) ?? NaN;
    } catch (error) {
      fail(i, error);
    }
  }
  const rounds = Math.max(...entries.map((e) => e.marginal.runs));
  for (let round = 0; round < rounds; round++) {
    for (const [i, { contender, marginal }] of entries.entries()) {
      const r = results[i];
      if (r.error || round >= marginal.runs) continue;
      try {
        const a = await timed(contender, marginal.short);
        const b = await timed(contender, marginal.long);
        r.samples.push((b.seconds - a.seconds) / (marginal.long - marginal.short));
        r.finalLoss = b.losses.at(-1) ?? NaN;
        const losses = [...a.losses, ...b.losses];
        if (!losses.every(Number.isFinite)) throw new Error(`loss is not finite: ${losses.join(', ')}`);
      } catch (error) {
        fail(i, error);
      }
    }
  }
  for (const r of results) {
    if (r.samples.length) r.secondsPerEpoch = median(r.samples);
    r.lossDecreased = r.finalLoss < r.firstLoss;
  }
  return results;
}

/** The value a cell shows: ms per epoch, or training rows per second. */
export function trainingValue(r: TrainingMeasured, unit: TrainingUnit): number {
  return unit === 'ms/epoch' ? r.secondsPerEpoch * 1000 : r.rows / r.secondsPerEpoch;
}

const format = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(3));

/**
 * One table per unit: a value column per contender and, for every other contender, how many
 * times faster the first contender (altreg GPU) is: peer time / altreg time for ms per epoch,
 * altreg samples/s / peer samples/s for throughput; > 1× means altreg is faster.
 */
export function trainingTable(rows: TrainingRow[], unit: TrainingUnit): string {
  const mine = rows.filter((r) => r.unit === unit);
  const names = [...new Set(mine.flatMap((r) => r.results.map((m) => m.name)))];
  const [first, ...others] = names;
  const header = [`training (${unit === 'ms/epoch' ? 'ms per epoch, lower is better' : 'samples/s, higher is better'})`, ...names.map((n) => `${n} ${unit}`), ...others.map((o) => `${first} speed-up vs ${o} (${o} time / ${first} time)`)];
  const body = mine.map((row) => {
    const by = (n: string) => row.results.find((m) => m.name === n);
    const cell = (m: TrainingMeasured | undefined) => (!m ? '–' : m.error ? `failed: ${m.error.slice(0, 60)}` : format(trainingValue(m, unit)));
    const ratio = (o: string) => {
      const [a, b] = [by(first), by(o)];
      if (!a || !b || a.error || b.error) return '–';
      // Seconds per training row of the other over altreg's (rows may differ between contenders).
      return `${(b.secondsPerEpoch / b.rows / (a.secondsPerEpoch / a.rows)).toFixed(2)}×`;
    };
    return [row.name, ...names.map((n) => cell(by(n))), ...others.map(ratio)];
  });
  return markdownTable(header, body);
}

/** What every contender of every row ran: rows, epochs of the marginal timing, runs, losses. */
export function trainingDetails(rows: TrainingRow[]): string {
  const body = rows.flatMap((row) =>
    row.results.map((m) => [
      row.name.replace(/ \(.*?\)/, ''),
      m.name,
      m.rows,
      `${m.long} − ${m.short}`,
      m.samples.length < 5 ? `${m.samples.length} (fewer than 5: not for reporting)` : m.samples.length,
      `${m.firstLoss.toFixed(4)} → ${m.finalLoss.toFixed(4)}${m.lossDecreased ? '' : ' (did not decrease!)'}`,
    ]),
  );
  return markdownTable(['row', 'contender', 'training rows', 'epochs long − short', 'runs (median of)', 'loss incl. L2, first → last epoch'], body);
}

/** Milliseconds per Iris-shaped epoch of altreg alone (median of `runs`). */
export async function altregIrisEpochMs(device: 'gpu' | 'cpu', gpu: Gpu | null, runs = 5): Promise<number> {
  const task = await makeTask({ kind: 'iris' });
  const marginal = { short: 10, long: device === 'gpu' ? 110 : 60, runs };
  const [r] = await measureTraining([{ contender: altregTrainer(`altreg ${device}`, task, device, gpu), marginal }]);
  if (r.error) throw new Error(r.error);
  return 1000 * r.secondsPerEpoch;
}

/** Samples per second of altreg alone training `rows` synthetic rows 784 → 256 → 10 (relu). */
export async function altregMlpSamplesPerSecond(device: 'gpu' | 'cpu', gpu: Gpu | null, batchSize: number, rows: number, runs = 3): Promise<number> {
  const task = await makeTask({ kind: 'mlp', rows, batchSize });
  const [r] = await measureTraining([{ contender: altregTrainer(`altreg ${device}`, task, device, gpu), marginal: { short: 1, long: 2, runs } }]);
  if (r.error) throw new Error(r.error);
  return rows / r.secondsPerEpoch;
}
