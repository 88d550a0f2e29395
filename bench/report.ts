// Turns measured rows into the benchmark's outputs: markdown tables for stdout (and for
// bench/RESULTS.md) and one JSON file per run in bench/results/, written atomically.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { markdownTable, type Measured } from './timing.js';

/** One table row: the contenders measured together, and the work of one operation. */
export interface Row {
  name: string;
  /** Flops (matmul) or bytes moved (memory) per operation. */
  work: number;
  results: Measured[];
}

const cellRate = (r: Measured | undefined, work: number) => {
  if (!r) return '–';
  if (r.error) return `failed: ${r.error.slice(0, 60)}`;
  const rate = (r.work ?? work) / r.seconds / 1e9;
  return rate >= 1 ? rate.toFixed(2) : rate.toPrecision(3);
};

/** Throughput of `mine` over that of `other`. */
const cellRatio = (mine: Measured | undefined, other: Measured | undefined, work: number) => {
  if (!mine || !other || mine.error || other.error) return '–';
  const rate = (r: Measured) => (r.work ?? work) / r.seconds;
  return `${(rate(mine) / rate(other)).toFixed(2)}×`;
};

/**
 * A table with one rate column per contender (`unit` per second) and one `mine/other` ratio
 * column per other contender; the first contender of each row is altreg's. Rates and ratios are
 * wall clock, the same for every contender. Where altreg's rows were also timed by GPU
 * timestamps (adapters with timestamp-query), a last column gives that rate.
 */
export function rateTable(title: string, unit: string, rows: Row[]): string {
  const names = [...new Set(rows.flatMap((r) => r.results.map((m) => m.name)))];
  const [mine, ...others] = names;
  const byName = (row: Row, n: string) => row.results.find((m) => m.name === n);
  const timestamped = rows.some((row) => byName(row, mine)?.gpuSeconds !== undefined);
  const header = [title, ...names.map((n) => `${n} ${unit}`), ...others.map((o) => `${mine}/${o}`), ...(timestamped ? [`${mine} ${unit} by GPU timestamps`] : [])];
  const body = rows.map((row) => {
    const by = (n: string) => byName(row, n);
    const cells = [row.name, ...names.map((n) => cellRate(by(n), row.work)), ...others.map((o) => cellRatio(by(mine), by(o), row.work))];
    if (timestamped) {
      const m = by(mine);
      cells.push(m && !m.error && m.gpuSeconds !== undefined ? cellRate({ ...m, seconds: m.gpuSeconds }, row.work) : '–');
    }
    return cells;
  });
  return markdownTable(header, body);
}

/** `dir/bench-<time>.json` for a run started at `started`. */
export function resultsFile(dir: string, started: Date): string {
  return join(dir, `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
}

/**
 * Writes `data` as JSON to `file` through a temporary file and a rename, so that a reader never
 * sees half a file; called again as parts finish, so a run cut short keeps what it measured.
 */
export function writeResults(file: string, data: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(data, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
}
