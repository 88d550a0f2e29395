// Timing helpers for benchmarks: GPU work timed by wall clock around a submission and its
// completion (one submit of `repeats` dispatches amortizes the submit cost), median of runs.

import type { Gpu } from '../src/runtime/gpu.js';

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Seconds per repetition of `encode`, median over `runs` submissions of `repeats` repetitions
 * each, after one warm-up submission.
 */
export async function timeGpu(gpu: Gpu, encode: (pass: GPUComputePassEncoder) => void, repeats: number, runs = 5): Promise<number> {
  const once = async () => {
    const start = performance.now();
    gpu.submit('bench', (pass) => {
      for (let i = 0; i < repeats; i++) encode(pass);
    });
    await gpu.sync();
    return (performance.now() - start) / 1000 / repeats;
  };
  await once();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once());
  return median(samples);
}

/** Picks repeats so that one submission takes roughly `targetSeconds`. */
export async function calibrate(gpu: Gpu, encode: (pass: GPUComputePassEncoder) => void, targetSeconds = 0.2): Promise<number> {
  const single = await timeGpu(gpu, encode, 1, 1);
  return Math.max(1, Math.min(1000, Math.round(targetSeconds / Math.max(single, 1e-6))));
}

/** A markdown table from a header and rows of cells. */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
