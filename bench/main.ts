// `npm run bench`: altreg's kernels against TF.js and jax-js in one process, on one adapter and
// one device, contenders interleaved and medians taken (bench/timing.ts). Prints markdown
// tables to stdout (progress goes to stderr) and writes the numbers as JSON to bench/results/.
// `npm run bench -- --help` lists the options.

import { loadavg, cpus } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isCpuAdapter } from '../src/kernels/matmul.js';
import { requestGpu, type Gpu } from '../src/runtime/gpu.js';
import { altregMatmul, mlpCases, squareCases, type MatmulCase } from './matmul.js';
import { adamCase, bufferCopyCase, kernelCopyCase, softmaxCase, type MemoryCase } from './memory.js';
import type { Peer } from './peers/types.js';
import { rateTable, resultsFile, writeResults, type Row } from './report.js';
import { measureInterleaved, type Contender, type TimingOptions } from './timing.js';

process.env.EGL_PLATFORM ??= 'surfaceless';

const PARTS = ['matmul', 'memory'] as const;
const PEERS = ['tfjs', 'jax'] as const;

interface Options {
  only: (typeof PARTS)[number][];
  sizes?: number[];
  peers: (typeof PEERS)[number][];
  runs: number;
  targetMs: number;
  strategies: boolean;
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
    .description("altreg's kernels against TF.js and jax-js on one WebGPU adapter, in one process")
    .addOption(new Option('--only <parts>', `comma-separated parts to run: ${PARTS.join(', ')}`).argParser(list(PARTS)).default([...PARTS], PARTS.join(',')))
    .option('--sizes <list>', 'square matmul sizes (default 256,512,1024; 2048,4096 too on a GPU adapter)', positiveInts)
    .addOption(new Option('--peers <list>', `peers to compare with: ${PEERS.join(', ')} or none`).argParser(list(PEERS)).default([...PEERS], PEERS.join(',')))
    .option('--runs <n>', 'interleaved runs per contender; the median is reported (use ≥ 5)', positiveInt, 5)
    .option('--target-ms <ms>', 'duration of one run; repetitions per run are calibrated to it', positiveInt, 200)
    .option('--strategies', "also time altreg's matmul with the tiled and the direct strategy forced", false)
    .addOption(new Option('--backend <name>', "Dawn backend in Node (default: requestGpu's choice)").choices(['default', 'vulkan', 'opengles']))
    .addOption(new Option('--dawn-flag <flag>', 'extra Dawn toggle, e.g. disable-dawn-features=timestamp_quantization (repeatable)').argParser((v: string, all: string[]) => [...all, v]).default([], 'none'))
    .option('--out <dir>', 'folder for the JSON results', 'bench/results')
    .addHelpText('after', '\nExamples:\n  npm run bench -- --only matmul --sizes 256,512\n  node bench/dist/main.js --peers none --runs 7');
  program.parse(argv);
  return program.opts<Options>();
}

/** Opens the requested peers on gpu's device; a peer that cannot start is reported, not fatal. */
async function openPeers(gpu: Gpu, names: Options['peers']): Promise<{ peers: Peer[]; failed: Record<string, string> }> {
  const peers: Peer[] = [];
  const failed: Record<string, string> = {};
  for (const name of names) {
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

async function matmulRows(gpu: Gpu, peers: Peer[], o: Options, timing: TimingOptions): Promise<Row[]> {
  const sizes = o.sizes ?? (isCpuAdapter(gpu) ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096]);
  const rows: Row[] = [];
  // The MLP step's products at MNIST scale, then at Iris scale (where dispatch cost dominates).
  for (const c of [...squareCases(sizes), ...mlpCases(128, 784, 256), ...mlpCases(16, 4, 10)] as MatmulCase[]) {
    const entries: Entry[] = [{ name: 'altreg', build: () => altregMatmul(gpu, c) }];
    if (o.strategies) for (const s of ['tiled', 'direct'] as const) entries.push({ name: `altreg ${s}`, build: () => altregMatmul(gpu, c, s) });
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
    rows.push(await measureRow(gpu, c.name, c.bytes, entries, timing));
  }
  return { rows, skipped };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv);
  const gpu = await requestGpu({ backend: o.backend, dawnFlags: o.dawnFlag });
  process.stderr.write(`adapter: ${gpu.name}\n`);
  const timing: TimingOptions = { runs: o.runs, targetSeconds: o.targetMs / 1000, maxReps: 1000 };
  const started = new Date();
  const load = loadavg().map((v) => v.toFixed(2)).join(' ');
  const file = resultsFile(o.out, started);
  const record = {
    date: started.toISOString(),
    command: process.argv.slice(1).join(' '),
    adapter: gpu.adapter,
    limits: { maxStorageBufferBindingSize: gpu.device.limits.maxStorageBufferBindingSize, maxComputeInvocationsPerWorkgroup: gpu.device.limits.maxComputeInvocationsPerWorkgroup },
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.versions.node, loadAtStart: load, loadAtEnd: '' },
    options: o,
    peers: {} as Record<string, { version?: string; error?: string }>,
    matmul: [] as Row[],
    memory: { rows: [] as Row[], skipped: [] as string[] },
  };
  if (o.only.includes('matmul')) {
    const { peers, failed } = await openPeers(gpu, o.peers);
    for (const p of peers) record.peers[p.name] = { version: p.version };
    for (const [name, error] of Object.entries(failed)) record.peers[name] = { error };
    record.matmul = await matmulRows(gpu, peers, o, timing);
    writeResults(file, record);
  }
  if (o.only.includes('memory')) record.memory = await memoryRows(gpu, timing);
  record.host.loadAtEnd = loadavg().map((v) => v.toFixed(2)).join(' ');
  writeResults(file, record);

  const out: string[] = [`Adapter: ${gpu.name}`, `Date: ${record.date}; ${cpus().length} CPUs, load average (1, 5, 15 min) at start ${load}, at end ${record.host.loadAtEnd}`];
  out.push(`Median of ${o.runs} interleaved runs per contender${o.runs < 5 ? ' (fewer than 5: not for reporting)' : ''}.`);
  for (const [name, p] of Object.entries(record.peers)) if (p.error) out.push(`Peer ${name} could not run: ${p.error}`);
  if (record.matmul.length) out.push('', rateTable('matmul', 'GFLOP/s', record.matmul));
  if (record.memory.rows.length) out.push('', rateTable('memory-bound', 'GB/s', record.memory.rows));
  for (const s of record.memory.skipped) out.push(`Skipped ${s}`);
  process.stdout.write(out.join('\n') + '\n');
  process.stderr.write(`wrote ${file}\n`);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
