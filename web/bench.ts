// The kernel benchmark page: GFLOP/s of altreg's matmul on this page's WebGPU adapter for square
// sizes 64..512, timed by bench/matmul.ts (the same code `npm run bench` runs in Node), as a
// table and a chart. The end-to-end tests read the results from window.__bench.
import 'uplot/dist/uPlot.min.css';
import './app/app.css';
import uPlot from 'uplot';
import { gflops, squareCases, timeAltregMatmul } from '../bench/matmul.js';
import { requestGpu, type AdapterDescription } from '../src/index.js';
import { byId, el, showMessage } from './app/dom.js';

export const SIZES = [64, 128, 256, 384, 512];

export interface BenchRow {
  name: string;
  m: number;
  n: number;
  k: number;
  seconds: number;
  gflops: number;
}

declare global {
  interface Window {
    __bench?: { adapter: AdapterDescription | null; rows: BenchRow[]; done: boolean; error?: string };
  }
}

function drawChart(rows: BenchRow[]): void {
  const box = byId('bench-chart');
  box.replaceChildren();
  const opts: uPlot.Options = {
    title: 'matmul GFLOP/s by size (m = n = k)',
    width: 520,
    height: 260,
    scales: { x: { time: false } },
    axes: [{ label: 'size' }, { label: 'GFLOP/s', size: 60 }],
    series: [{ label: 'size' }, { label: 'GFLOP/s', stroke: '#1f77b4', width: 2, points: { size: 7 } }],
  };
  new uPlot(opts, [rows.map((r) => r.m), rows.map((r) => r.gflops)], box);
}

async function main(): Promise<void> {
  const status = byId('status');
  const state = { adapter: null as AdapterDescription | null, rows: [] as BenchRow[], done: false };
  window.__bench = state;
  try {
    const gpu = await requestGpu();
    state.adapter = gpu.adapter;
    byId('adapter').textContent = `WebGPU adapter: ${gpu.name}${gpu.adapter.architecture ? ` · architecture ${gpu.adapter.architecture}` : ''}`;
    status.dataset.state = 'running';
    const body = byId('bench-rows');
    for (const c of squareCases(SIZES)) {
      status.textContent = `Timing ${c.name}…`;
      const seconds = await timeAltregMatmul(gpu, c);
      const row: BenchRow = { name: c.name, m: c.m, n: c.n, k: c.k, seconds, gflops: gflops(c, seconds) };
      state.rows.push(row);
      body.append(
        el('tr', { attrs: { 'data-size': String(c.m) } }, [
          el('td', { text: c.name }),
          el('td', { text: String(c.m) }),
          el('td', { text: String(c.n) }),
          el('td', { text: String(c.k) }),
          el('td', { text: (seconds * 1000).toFixed(3) }),
          el('td', { text: row.gflops.toFixed(2), className: 'gflops' }),
        ]),
      );
      drawChart(state.rows);
    }
    state.done = true;
    status.dataset.state = 'done';
    status.textContent = `Done: ${state.rows.length} sizes.`;
  } catch (error) {
    const message = (error as Error).message;
    window.__bench = { ...state, done: true, error: message };
    status.dataset.state = 'error';
    status.textContent = 'The benchmark failed.';
    showMessage(byId('error'), message);
  }
}

void main();
