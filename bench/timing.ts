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
  }
  return results;
}

/** A contender that encodes `encode` `reps` times into one compute pass of one submission. */
export function gpuContender(
  gpu: Gpu,
  name: string,
  encode: (pass: GPUComputePassEncoder) => void,
  dispose: () => void,
  check?: () => Promise<string | null>,
): Contender {
  return {
    name,
    async run(reps) {
      gpu.submit(name, (pass) => {
        for (let i = 0; i < reps; i++) encode(pass);
      });
      await gpu.sync();
    },
    ...(check ? { check } : {}),
    dispose,
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
