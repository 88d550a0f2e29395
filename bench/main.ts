// `npm run bench`: altreg's kernels and end-to-end training against TF.js and jax-js in one
// process, on one adapter and one device, contenders interleaved and medians taken
// (bench/timing.ts, bench/training.ts); TF.js's cpu backend trains in a child process
// (bench/peers/tfjs-cpu.ts). Prints markdown tables to stdout (progress goes to stderr) and
// writes the numbers as JSON to bench/results/. `npm run bench -- --help` lists the options.

import { loadavg, cpus } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isCpuAdapter } from '../src/kernels/common.js';
import { DEFAULT_TILES, defaultStrategy, describeStrategy, setMatmulStrategy, type MatmulStrategy } from '../src/kernels/matmul.js';
import { tuneMatmul, type MatmulTuning } from '../src/kernels/tune.js';
import { defaultSoftmaxLayout } from '../src/kernels/softmax-xent.js';
import { requestGpu, type Gpu } from '../src/runtime/gpu.js';
import { altregMatmul, mlpCases, squareCases, type MatmulCase } from './matmul.js';
import { adamCase, bufferCopyCase, kernelCopyCase, softmaxCase, type MemoryCase } from './memory.js';
import { CHILD_FLAG, serveTfjsCpu, TfjsCpuChild } from './peers/tfjs-cpu.js';
import type { Peer } from './peers/types.js';
import { rateTable, resultsFile, writeResults, type Row } from './report.js';
import { markdownTable, measureInterleaved, type Contender, type TimingOptions } from './timing.js';
import {
  altregTrainer,
  makeTask,
  measureTraining,
  taskLabel,
  trainingDetails,
  trainingTable,
  trainingValue,
  type Marginal,
  type TaskSpec,
  type TrainingContender,
  type TrainingRow,
} from './training.js';

process.env.EGL_PLATFORM ??= 'surfaceless';

const PARTS = ['matmul', 'memory', 'training'] as const;
/** `tfjs-cpu` takes part in the training rows only (in a child process). */
const PEERS = ['tfjs', 'jax', 'tfjs-cpu'] as const;

interface Options {
  only: (typeof PARTS)[number][];
  sizes?: number[];
  peers: (typeof PEERS)[number][];
  runs: number;
  slowRuns: number;
  targetMs: number;
  trainRows?: number;
  cpuTrainRows: number;
  trainBatches: number[];
  strategies: boolean;
  tune: boolean;
  backend?: 'default' | 'vulkan' | 'opengles';
  dawnFlag: string[];
  out: string;
}

function list<T extends string>(allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 1 && items[0] === 'none') return [];
    for (const item of items) if (!allowed.includes(item as T)) throw new InvalidArgumentError(`'${item}' is not one of ${allowed.join(', ')}`);
    return items as T[];
  };
}

function positiveInts(value: string): number[] {
  const items = value.split(',').map((s) => Number(s.trim()));
  for (const n of items) if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a comma-separated list of positive integers`);
  return items;
}

function positiveInt(value: string): number {
  return positiveInts(value)[0];
}

function parseOptions(argv: string[]): Options {
  const program = new Command('bench')
    .description("altreg's kernels and end-to-end training against TF.js and jax-js on one WebGPU adapter, in one process")
    .addOption(new Option('--only <parts>', `comma-separated parts to run: ${PARTS.join(', ')}`).argParser(list(PARTS)).default([...PARTS], PARTS.join(',')))
    .option('--sizes <list>', 'square matmul sizes (default 256,512,1024; 2048,4096 too on a GPU adapter)', positiveInts)
    .addOption(new Option('--peers <list>', `peers to compare with: ${PEERS.join(', ')} or none`).argParser(list(PEERS)).default([...PEERS], PEERS.join(',')))
    .option('--runs <n>', 'interleaved runs per contender; the median is reported (use ≥ 5)', positiveInt, 5)
    .option('--slow-runs <n>', 'runs of the CPU contenders (altreg CPU, TF.js cpu) on the 784→256→10 training rows', positiveInt, 3)
    .option('--target-ms <ms>', 'duration of one run; repetitions per run are calibrated to it', positiveInt, 200)
    .option('--train-rows <n>', 'synthetic rows of the 784→256→10 training rows (default 60000; 6144 on a CPU adapter such as llvmpipe)', positiveInt)
    .option('--cpu-train-rows <n>', 'synthetic rows for the CPU contenders (altreg CPU, TF.js cpu) on those rows', positiveInt, 1024)
    .addOption(new Option('--train-batches <list>', 'batch sizes of the 784→256→10 training rows').argParser(positiveInts).default([128, 1024], '128,1024'))
    .option('--strategies', "also time altreg's matmul with the tiled and the direct strategy forced", false)
    .option('--tune', "run altreg's matmul tuner first (a table of every candidate), then use its pick for altreg's rows, with the default strategy timed alongside", false)
    .addOption(new Option('--backend <name>', "Dawn backend in Node (default: requestGpu's choice)").choices(['default', 'vulkan', 'opengles']))
    .addOption(new Option('--dawn-flag <flag>', 'extra Dawn toggle, e.g. disable-dawn-features=timestamp_quantization (repeatable)').argParser((v: string, all: string[]) => [...all, v]).default([], 'none'))
    .option('--out <dir>', 'folder for the JSON results', 'bench/results')
    .addHelpText('after', '\nExamples:\n  npm run bench -- --only matmul --sizes 256,512\n  npm run bench -- --only training --train-rows 2048\n  node bench/dist/main.js --peers none --runs 7');
  program.parse(argv);
  return program.opts<Options>();
}

/** Opens the requested peers on gpu's device; a peer that cannot start is reported, not fatal. */
async function openPeers(gpu: Gpu, names: Options['peers']): Promise<{ peers: Peer[]; failed: Record<string, string> }> {
  const peers: Peer[] = [];
  const failed: Record<string, string> = {};
  for (const name of names) {
    if (name === 'tfjs-cpu') continue; // training only, in a child process: see trainingRows
    try {
      const open = name === 'tfjs' ? (await import('./peers/tfjs.js')).openTfjs : (await import('./peers/jax.js')).openJax;
      peers.push(await open(gpu));
      gpu.check();
    } catch (error) {
      failed[name] = (error as Error).message;
      process.stderr.write(`peer ${name} unavailable: ${failed[name]}\n`);
    }
  }
  return { peers, failed };
}

/** A contender to build for a row; `work` overrides the row's work per operation. */
interface Entry {
  name: string;
  build: () => Contender;
  work?: number;
}

/** Builds contenders (a failing build becomes a contender that reports its error), times them, frees them. */
async function measureRow(gpu: Gpu, name: string, work: number, entries: Entry[], timing: TimingOptions): Promise<Row> {
  const contenders = entries.map((e): Contender => {
    try {
      return e.build();
    } catch (error) {
      const message = (error as Error).message;
      return { name: e.name, run: () => Promise.reject(new Error(message)), dispose: () => undefined };
    }
  });
  try {
    const results = await measureInterleaved(contenders, timing);
    results.forEach((r, i) => entries[i].work !== undefined && (r.work = entries[i].work));
    gpu.check();
    const rates = results.map((r) => `${r.name} ${r.error ? 'failed' : ((r.work ?? work) / r.seconds / 1e9).toFixed(2)}`);
    process.stderr.write(`  ${name}: ${rates.join(', ')}\n`);
    return { name, work, results };
  } finally {
    for (const c of contenders) c.dispose();
  }
}

async function matmulRows(gpu: Gpu, peers: Peer[], o: Options, timing: TimingOptions, tuned: boolean): Promise<Row[]> {
  const sizes = o.sizes ?? (isCpuAdapter(gpu) ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096]);
  const rows: Row[] = [];
  // The MLP step's products at MNIST scale (both layers of 784→256→10), then at Iris scale
  // (where dispatch cost dominates).
  for (const c of [...squareCases(sizes), ...mlpCases(128, 784, 256), ...mlpCases(128, 256, 10), ...mlpCases(16, 4, 10)] as MatmulCase[]) {
    const entries: Entry[] = [{ name: 'altreg', build: () => altregMatmul(gpu, c) }];
    // Tuned: the default strategy alongside, so the table shows what tuning changed.
    if (tuned) entries.push({ name: 'altreg default', build: () => altregMatmul(gpu, c, defaultStrategy(gpu), 'altreg default') });
    if (o.strategies) {
      const forced: MatmulStrategy[] = [{ strategy: 'tiled', tiles: DEFAULT_TILES }, { strategy: 'direct' }];
      for (const s of forced) entries.push({ name: `altreg ${s.strategy}`, build: () => altregMatmul(gpu, c, s, `altreg ${s.strategy}`) });
    }
    for (const p of peers) entries.push({ name: p.name, build: () => p.matmul(c) });
    rows.push(await measureRow(gpu, c.name, 2 * c.m * c.n * c.k, entries, timing));
  }
  return rows;
}

async function memoryRows(gpu: Gpu, timing: TimingOptions): Promise<{ rows: Row[]; skipped: string[] }> {
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  const cases = [adamCase(2 ** 20), adamCase(2 ** 22), adamCase(2 ** 24), softmaxCase(65536, 10), softmaxCase(16384, 1000)];
  const rows: Row[] = [];
  const skipped: string[] = [];
  for (const c of cases as MemoryCase[]) {
    if (c.largestBuffer > limit) {
      skipped.push(`${c.name}: needs a ${c.largestBuffer}-byte binding, the adapter allows ${limit}`);
      continue;
    }
    // The yardsticks copy as many bytes as the kernel moves (within one binding), timed alongside it.
    const copyBytes = Math.min(Math.floor(c.bytes / 2 / 16) * 16, Math.floor(limit / 16) * 16);
    const yardsticks = [bufferCopyCase(copyBytes), kernelCopyCase(copyBytes)];
    const entries: Entry[] = [{ name: 'altreg', build: () => c.contender(gpu) }, ...yardsticks.map((y) => ({ name: y.name, build: () => y.contender(gpu), work: y.bytes }))];
    // Where wide rows get one subgroup each, the one-invocation-per-row layout is timed alongside.
    if (c.classes !== undefined && defaultSoftmaxLayout(gpu, c.classes) === 'subgroups') {
      entries.push({ name: 'altreg rows layout', build: () => softmaxCase(c.rows!, c.classes!, 'rows').contender(gpu) });
    }
    rows.push(await measureRow(gpu, c.name, c.bytes, entries, timing));
  }
  return { rows, skipped };
}

/**
 * Epochs of each contender's marginal timing (short, long): Iris-shaped epochs range from a
 * fraction of a millisecond (altreg CPU) to a few hundred (TF.js webgpu on llvmpipe), so each
 * gets enough marginal epochs to last well above timer and scheduling noise (about 0.4 s or
 * more on llvmpipe). One marginal epoch for the 784→256→10 rows (an epoch there is seconds for
 * the peers on llvmpipe), two for altreg GPU, whose epoch is a fraction of a second.
 */
function marginalFor(name: string, spec: TaskSpec, o: Options): Marginal {
  const cpu = name === 'altreg CPU' || name === 'TF.js cpu';
  if (spec.kind === 'mlp') return { short: 1, long: name === 'altreg GPU' ? 3 : 2, runs: cpu ? Math.min(o.slowRuns, o.runs) : o.runs };
  const epochs: Record<string, [number, number]> = { 'altreg GPU': [10, 110], 'altreg CPU': [10, 510], 'TF.js webgpu': [2, 7], 'jax-js': [2, 12], 'TF.js cpu': [5, 55] };
  const [short, long] = epochs[name] ?? [2, 12];
  return { short, long, runs: o.runs };
}

/** A contender that could not be built: it reports `error` like one that failed while timed. */
function failedTrainer(name: string, rows: number, error: unknown): TrainingContender {
  const message = (error as Error).message ?? String(error);
  return { name, rows, train: () => Promise.reject(new Error(message)), dispose: () => undefined };
}

/**
 * The training rows: Iris-shaped epoch, then 784→256→10 at each batch size. GPU contenders
 * train `trainRows` synthetic rows, the CPU contenders `cpuTrainRows` (the same generator and
 * seed, the first rows of it); each row's contenders are timed interleaved (bench/training.ts).
 */
async function trainingRows(gpu: Gpu, peers: Peer[], cpuChild: TfjsCpuChild | null, o: Options, onRow: (rows: TrainingRow[]) => void): Promise<TrainingRow[]> {
  const trainRows = o.trainRows ?? (isCpuAdapter(gpu) ? 6144 : 60000);
  const specs: TaskSpec[] = [{ kind: 'iris' }, ...o.trainBatches.map((batchSize): TaskSpec => ({ kind: 'mlp', rows: trainRows, batchSize }))];
  const rows: TrainingRow[] = [];
  for (const spec of specs) {
    const cpuSpec: TaskSpec = spec.kind === 'mlp' ? { ...spec, rows: Math.min(o.cpuTrainRows, spec.rows) } : spec;
    const [task, cpuTask] = [await makeTask(spec), await makeTask(cpuSpec)];
    const build = async (name: string, rowCount: number, make: () => TrainingContender | Promise<TrainingContender>) => {
      try {
        return await make();
      } catch (error) {
        return failedTrainer(name, rowCount, error);
      }
    };
    const contenders: TrainingContender[] = [
      altregTrainer('altreg GPU', task, 'gpu', gpu),
      altregTrainer('altreg CPU', cpuTask, 'cpu', null),
    ];
    for (const p of peers) contenders.push(await build(p.name === 'TF.js' ? 'TF.js webgpu' : p.name, task.data.y.length, () => p.trainer(task)));
    if (cpuChild) contenders.push(await build('TF.js cpu', cpuTask.data.y.length, () => cpuChild.trainer(cpuSpec)));
    const name = spec.kind === 'iris' ? taskLabel(spec) : `784→256→10 relu, synthetic ${trainRows}×784 (uniform), batch ${spec.batchSize}`;
    process.stderr.write(`  ${name}\n`);
    try {
      const results = await measureTraining(
        contenders.map((c) => ({ contender: c, marginal: marginalFor(c.name, spec, o) })),
        (line) => process.stderr.write(`${line}\n`),
      );
      gpu.check();
      const unit = spec.kind === 'iris' ? 'ms/epoch' : 'samples/s';
      const cells = results.map((r) => `${r.name} ${r.error ? 'failed' : trainingValue(r, unit).toFixed(1)} (loss ${r.firstLoss.toFixed(3)} → ${r.finalLoss.toFixed(3)})`);
      process.stderr.write(`    ${unit}: ${cells.join(', ')}\n`);
      rows.push({ name, unit, results });
      onRow(rows);
    } finally {
      for (const c of contenders) await c.dispose();
    }
  }
  return rows;
}

/** The tuner's timings as markdown: GFLOP/s of every candidate on every product. */
function tuningTable(t: MatmulTuning): string {
  const header = ['matmul tuner candidate (GFLOP/s)', ...t.shapes.map((s) => s.name), 'geometric mean'];
  const body = t.candidates.map((c) => {
    const name = describeStrategy(c.strategy) + (c.error ? ` (${c.error})` : JSON.stringify(c.strategy) === JSON.stringify(t.best) ? ' (picked)' : '');
    return [name, ...c.gflops.map((g) => g.toPrecision(3)), c.score.toPrecision(3)];
  });
  return `altreg's rows below use the tuner's pick: ${describeStrategy(t.best)}.\n${markdownTable(header, body)}`;
}

async function main(): Promise<void> {
  if (process.argv[2] === CHILD_FLAG) return serveTfjsCpu();
  const o = parseOptions(process.argv);
  const gpu = await requestGpu({ backend: o.backend, dawnFlags: o.dawnFlag, timestamps: true });
  process.stderr.write(`adapter: ${gpu.name}\n`);
  const timing: TimingOptions = { runs: o.runs, targetSeconds: o.targetMs / 1000, maxReps: 1000 };
  const started = new Date();
  const load = loadavg().map((v) => v.toFixed(2)).join(' ');
  const file = resultsFile(o.out, started);
  const record = {
    date: started.toISOString(),
    command: process.argv.slice(1).join(' '),
    adapter: gpu.adapter,
    timestamps: gpu.hasTimestamps,
    limits: { maxStorageBufferBindingSize: gpu.device.limits.maxStorageBufferBindingSize, maxComputeInvocationsPerWorkgroup: gpu.device.limits.maxComputeInvocationsPerWorkgroup },
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.versions.node, loadAtStart: load, loadAtEnd: '' },
    options: o,
    peers: {} as Record<string, { version?: string; error?: string }>,
    matmul: [] as Row[],
    memory: { rows: [] as Row[], skipped: [] as string[] },
    training: [] as TrainingRow[],
    tuning: null as MatmulTuning | null,
  };
  if (o.tune) {
    process.stderr.write('tuning matmul\n');
    record.tuning = await tuneMatmul(gpu, {
      onCandidate: (done, total, t) => process.stderr.write(`  ${done}/${total} ${describeStrategy(t.strategy)}: ${t.gflops.map((g) => g.toFixed(1)).join(', ')} GFLOP/s\n`),
    });
    setMatmulStrategy(gpu, record.tuning.best);
    writeResults(file, record);
  }
  const peers: Peer[] = [];
  if (o.only.includes('matmul') || o.only.includes('training')) {
    const opened = await openPeers(gpu, o.peers);
    peers.push(...opened.peers);
    for (const p of peers) record.peers[p.name] = { version: p.version };
    for (const [name, error] of Object.entries(opened.failed)) record.peers[name] = { error };
  }
  if (o.only.includes('matmul')) {
    record.matmul = await matmulRows(gpu, peers, o, timing, record.tuning !== null && JSON.stringify(record.tuning.best) !== JSON.stringify(defaultStrategy(gpu)));
    writeResults(file, record);
  }
  if (o.only.includes('memory')) {
    record.memory = await memoryRows(gpu, timing);
    writeResults(file, record);
  }
  if (o.only.includes('training')) {
    const cpuChild = o.peers.includes('tfjs-cpu') ? new TfjsCpuChild(process.argv[1]) : null;
    try {
      // The results file is rewritten after every row: a run cut short keeps what it measured.
      record.training = await trainingRows(gpu, peers, cpuChild, o, (rows) => writeResults(file, { ...record, training: rows }));
      if (cpuChild) record.peers['TF.js cpu'] = { version: `@tensorflow/tfjs ${cpuChild.version} (cpu backend, child process)` };
    } finally {
      cpuChild?.close();
    }
  }
  record.host.loadAtEnd = loadavg().map((v) => v.toFixed(2)).join(' ');
  writeResults(file, record);

  const out: string[] = [`Adapter: ${gpu.name}`, `Date: ${record.date}; ${cpus().length} CPUs, load average (1, 5, 15 min) at start ${load}, at end ${record.host.loadAtEnd}`];
  out.push(`Median of ${o.runs} interleaved runs per contender${o.runs < 5 ? ' (fewer than 5: not for reporting)' : ''}.`);
  out.push(
    gpu.hasTimestamps
      ? "GPU timestamps: the adapter has timestamp-query; altreg's kernel rows also give their rate between the compute pass's begin and end timestamps (last column). Ratios are wall clock for every contender."
      : 'GPU timestamps: none (the adapter has no timestamp-query); every row is wall clock.',
  );
  for (const [name, p] of Object.entries(record.peers)) if (p.error) out.push(`Peer ${name} could not run: ${p.error}`);
  if (record.tuning) out.push('', tuningTable(record.tuning));
  if (record.matmul.length) out.push('', rateTable('matmul', 'GFLOP/s', record.matmul));
  if (record.memory.rows.length) out.push('', rateTable('memory-bound', 'GB/s', record.memory.rows));
  for (const s of record.memory.skipped) out.push(`Skipped ${s}`);
  if (record.training.length) {
    out.push(
      '',
      'End-to-end training, marginal time per epoch (t(long) − t(short)) / (long − short), median over interleaved runs; speed-up = peer time per training row / altreg GPU time per training row (> 1× means altreg GPU is faster).',
      "altreg GPU / CPU: train() (GPU trainer on this device / CPU reference trainer), each call resuming the previous call's checkpoint. TF.js webgpu: model.fit on this device; TF.js cpu: model.fit on the cpu backend in a child process. jax-js: one jit per minibatch (value-and-grad + Adam) on this device, a JS loop over a shuffled permutation.",
    );
    for (const unit of ['ms/epoch', 'samples/s'] as const) if (record.training.some((r) => r.unit === unit)) out.push('', trainingTable(record.training, unit));
    out.push('', trainingDetails(record.training));
  }
  process.stdout.write(out.join('\n') + '\n');
  process.stderr.write(`wrote ${file}\n`);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
