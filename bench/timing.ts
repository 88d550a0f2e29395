// How every benchmark row is timed. A contender runs its operation `reps` times and waits until
// the GPU is done; contenders of one row are interleaved run by run (A, B, C, A, B, C, ...), so
// that load from other processes on this machine hits them alike, and each gets the median of
// its runs. Repetitions per run are calibrated so that one run lasts about `targetSeconds`.

import type { Gpu } from '../src/runtime/gpu.js';

/** One way of doing a row's operation (altreg's kernel, a peer's op, a copy). */
export interface Contender {
  name: string;
  /** Runs the operation `reps` times back to back and resolves when the GPU has finished. */
  run(reps: number): Promise<void>;
  /**
   * After the timed runs: null when the operation's output is right (checked against float64
   * at sampled entries), else what is wrong; the row then reports the contender as failed.
   */
  check?(): Promise<string | null>;
  /**
   * GPU seconds of the last run by timestamp queries, where the device has them (undefined
   * otherwise). Read after the run's wall time was taken, so it does not add to it.
   */
  gpuSeconds?(): Promise<number | undefined>;
  dispose(): void;
}

/** What one contender measured on one row. */
export interface Measured {
  name: string;
  /** Median over runs of seconds per operation. */
  seconds: number;
  /** Fastest run, seconds per operation. */
  best: number;
  reps: number;
  /** Seconds per operation of every run, in order. */
  samples: number[];
  /** Set instead of the timings when the contender failed. */
  error?: string;
  /** Flops or bytes of one operation, where they differ from the row's (copy yardsticks). */
  work?: number;
  /**
   * Median over runs of seconds per operation between the compute pass's begin and end
   * timestamps, where the device has timestamp queries and every run gave one.
   */
  gpuSeconds?: number;
  /** Those seconds per operation of every run, in order. */
  gpuSamples?: number[];
}

export interface TimingOptions {
  runs: number;
  targetSeconds: number;
  maxReps: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function secondsPerRep(c: Contender, reps: number): Promise<number> {
  const start = performance.now();
  await c.run(reps);
  return (performance.now() - start) / 1000 / reps;
}

/**
 * Times contenders interleaved. Each is warmed up (pipelines compiled, buffers allocated) and
 * calibrated first; one that throws gets `error` and drops out of the rounds.
 */
export async function measureInterleaved(contenders: Contender[], options: TimingOptions): Promise<Measured[]> {
  const results: Measured[] = contenders.map((c) => ({ name: c.name, seconds: NaN, best: NaN, reps: 0, samples: [] }));
  for (const [i, c] of contenders.entries()) {
    try {
      await secondsPerRep(c, 1);
      const single = await secondsPerRep(c, 1);
      results[i].reps = Math.max(1, Math.min(options.maxReps, Math.round(options.targetSeconds / Math.max(single, 1e-7))));
    } catch (error) {
      results[i].error = (error as Error).message;
    }
  }
  for (let run = 0; run < options.runs; run++) {
    for (const [i, c] of contenders.entries()) {
      const r = results[i];
      if (r.error) continue;
      try {
        r.samples.push(await secondsPerRep(c, r.reps));
        const gpuSeconds = await c.gpuSeconds?.();
        if (gpuSeconds !== undefined) (r.gpuSamples ??= []).push(gpuSeconds / r.reps);
      } catch (error) {
        r.error = (error as Error).message;
      }
    }
  }
  for (const [i, c] of contenders.entries()) {
    if (results[i].error || !c.check) continue;
    try {
      const wrong = await c.check();
      if (wrong) results[i].error = `wrong result: ${wrong}`;
    } catch (error) {
      results[i].error = (error as Error).message;
    }
  }
  for (const r of results) {
    if (r.error || r.samples.length === 0) continue;
    r.seconds = median(r.samples);
    r.best = Math.min(...r.samples);
    if (r.gpuSamples?.length === r.samples.length) r.gpuSeconds = median(r.gpuSamples);
  }
  return results;
}

/**
 * Seconds between two GPU timestamps (nanoseconds); undefined when the pair cannot be a
 * duration (end before begin, or both 0: the queries were never written).
 */
export function timestampSeconds(begin: bigint, end: bigint): number | undefined {
  if (end < begin || (begin === 0n && end === 0n)) return undefined;
  return Number(end - begin) / 1e9;
}

/**
 * Timestamps at the beginning and end of one compute pass, resolved into a buffer and read
 * after the pass is done (Gpu.readBytes). Made once per contender; null where the device has no
 * `timestamp-query` (requestGpu({ timestamps: true }) asks for it).
 */
class PassTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;

  static create(gpu: Gpu, label: string): PassTimer | null {
    return gpu.hasTimestamps ? new PassTimer(gpu, label) : null;
  }

  private constructor(
    private readonly gpu: Gpu,
    label: string,
  ) {
    this.querySet = gpu.device.createQuerySet({ label: `${label} timestamps`, type: 'timestamp', count: 2 });
    this.resolved = gpu.createBuffer(`${label} timestamps`, 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
  }

  /** For the pass's descriptor. */
  get timestampWrites(): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
  }

  /** After the pass, on the same encoder: resolves both timestamps into a buffer. */
  resolve(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, 2, this.resolved, 0);
  }

  /** The pass's duration in seconds, once its submission is done (read back outside the timed run). */
  async read(): Promise<number | undefined> {
    const [begin, end] = new BigUint64Array(await this.gpu.readBytes(this.resolved, 0, 16));
    return timestampSeconds(begin, end);
  }

  destroy(): void {
    this.querySet.destroy();
    this.gpu.destroyBuffer(this.resolved);
  }
}

/**
 * A contender that encodes `encode` `reps` times into one compute pass of one submission; where
 * the device has timestamp queries, the pass is timed on the GPU too (gpuSeconds).
 */
export function gpuContender(
  gpu: Gpu,
  name: string,
  encode: (pass: GPUComputePassEncoder) => void,
  dispose: () => void,
  check?: () => Promise<string | null>,
): Contender {
  const timer = PassTimer.create(gpu, name);
  return {
    name,
    async run(reps) {
      const fill = (pass: GPUComputePassEncoder) => {
        for (let i = 0; i < reps; i++) encode(pass);
      };
      gpu.submit(name, fill, timer ? { timestampWrites: timer.timestampWrites, afterPass: (encoder) => timer.resolve(encoder) } : {});
      await gpu.sync();
    },
    ...(check ? { check } : {}),
    ...(timer ? { gpuSeconds: () => timer.read() } : {}),
    dispose() {
      timer?.destroy();
      dispose();
    },
  };
}

/** A markdown table from a header and rows of cells. */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Uniform random floats in [-0.5, 0.5). */
export function randomData(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() - 0.5;
  return out;
}
