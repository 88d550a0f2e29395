// `npm run bench`: benchmarks on the chosen adapter, printed as markdown tables and written as
// JSON to bench/results/. For now: matmul GFLOP/s of altreg's kernel, 128…1024.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { sharedGpu } from '../src/runtime/gpu.js';
import { gflops, squareCases, timeAltregMatmul } from './matmul.js';
import { markdownTable } from './timing.js';

process.env.EGL_PLATFORM ??= 'surfaceless';

async function main(): Promise<void> {
  const gpu = await sharedGpu();
  process.stderr.write(`adapter: ${gpu.name}\n`);
  const rows: (string | number)[][] = [];
  const records: Record<string, unknown>[] = [];
  for (const c of squareCases([128, 256, 384, 512, 768, 1024])) {
    const seconds = await timeAltregMatmul(gpu, c);
    const rate = gflops(c, seconds);
    rows.push([c.name, (seconds * 1e3).toFixed(3), rate.toFixed(2)]);
    records.push({ case: c.name, m: c.m, n: c.n, k: c.k, seconds, gflops: rate });
    process.stderr.write(`  ${c.name}: ${rate.toFixed(2)} GFLOP/s\n`);
  }
  const table = markdownTable(['matmul', 'ms', 'altreg GFLOP/s'], rows);
  process.stdout.write(`\nAdapter: ${gpu.name}\n\n${table}\n`);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/matmul-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(`${file}.tmp`, JSON.stringify({ adapter: gpu.adapter, date: new Date().toISOString(), matmul: records }, null, 2));
  renameSync(`${file}.tmp`, file);
  process.stderr.write(`wrote ${file}\n`);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exit(1);
});
