// The benchmark page. Kernels: GFLOP/s of altreg's matmul on this page's WebGPU adapter for
// square sizes 64..512, timed by bench/matmul.ts (the same code `npm run bench` runs in Node),
// as a table and a chart. Training: the Iris-shaped epoch of bench/training.ts (same code as
// `npm run bench`) for altreg's GPU and CPU trainers against TF.js (webgpu on this page's device,
// webgl, cpu), contenders interleaved. `?parts=kernels` or `?parts=training` runs one part,
// `?runs=N` sets the training runs. Nothing heavy runs until the Start button is pressed. The
// end-to-end tests press it and read window.__bench and window.__benchTraining.
import 'uplot/dist/uPlot.min.css';
import './app/app.css';
import uPlot from 'uplot';
import { gflops, squareCases, timeAltregMatmul } from '../bench/matmul.js';
import { tfjsTrainer, webgpuSettle } from '../bench/peers/tfjs-train.js';
import {
  altregTrainer,
  makeTask,
  measureTraining,
  taskLabel,
  trainingDetails,
  trainingTable,
  type Marginal,
  type TrainingContender,
  type TrainingMeasured,
  type TrainingRow,
} from '../bench/training.js';
import { requestGpu, type AdapterDescription, type Gpu } from '../src/index.js';
import { byId, el, showMessage } from './app/dom.js';

export const SIZES = [64, 128, 256, 384, 512];

export interface BenchRow {
  name: string;
  m: number;
  n: number;
  k: number;
  seconds: number;
  gflops: number;
  /** By GPU timestamps, where the adapter has timestamp-query. */
  gpuSeconds?: number;
  gpuGflops?: number;
}

export interface TrainingState {
  done: boolean;
  error?: string;
  rows: TrainingRow[];
  /** How each TF.js contender ran (which device the webgpu backend got, or why one is missing). */
  notes: string[];
  /** The tables as markdown, as `npm run bench` prints them. */
  table: string;
}

declare global {
  interface Window {
    __bench?: { adapter: AdapterDescription | null; rows: BenchRow[]; done: boolean; error?: string };
    __benchTraining?: TrainingState;
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

async function kernels(gpu: Gpu): Promise<void> {
  const status = byId('status');
  const state = { adapter: gpu.adapter as AdapterDescription | null, rows: [] as BenchRow[], done: false };
  window.__bench = state;
  try {
    status.dataset.state = 'running';
    const body = byId('bench-rows');
    for (const c of squareCases(SIZES)) {
      status.textContent = `Timing ${c.name}…`;
      const { seconds, gpuSeconds } = await timeAltregMatmul(gpu, c);
      const row: BenchRow = { name: c.name, m: c.m, n: c.n, k: c.k, seconds, gflops: gflops(c, seconds) };
      if (gpuSeconds !== undefined) Object.assign(row, { gpuSeconds, gpuGflops: gflops(c, gpuSeconds) });
      state.rows.push(row);
      body.append(
        el('tr', { attrs: { 'data-size': String(c.m) } }, [
          el('td', { text: c.name }),
          el('td', { text: String(c.m) }),
          el('td', { text: String(c.n) }),
          el('td', { text: String(c.k) }),
          el('td', { text: (seconds * 1000).toFixed(3) }),
          el('td', { text: row.gflops.toFixed(2), className: 'gflops' }),
          el('td', { text: row.gpuGflops === undefined ? '–' : row.gpuGflops.toFixed(2), className: 'gpu-gflops' }),
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

type Tfjs = typeof import('@tensorflow/tfjs');

/**
 * Puts TF.js's webgpu backend on `gpu`'s device (the page's), like bench/peers/tfjs.ts does in
 * Node; when that fails, TF.js's own factory opens a device of its own through navigator.gpu.
 * Returns how it ran.
 */
async function tfjsWebgpu(tf: Tfjs, gpu: Gpu): Promise<string> {
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  const own = tf.findBackendFactory('webgpu');
  tf.removeBackend('webgpu');
  const info = { vendor: gpu.adapter.vendor, architecture: gpu.adapter.architecture } as GPUAdapterInfo;
  tf.registerBackend('webgpu', () => new WebGPUBackend(gpu.device, info), 3);
  if (await tf.setBackend('webgpu')) return "TF.js webgpu: on the page's GPUDevice (the one altreg uses)";
  tf.removeBackend('webgpu');
  if (own) tf.registerBackend('webgpu', own, 3);
  if (await tf.setBackend('webgpu')) return "TF.js webgpu: on its own navigator.gpu device (the page's device was refused)";
  throw new Error('TF.js could not start its webgpu backend');
}

/** A TF.js contender on `backend`: the backend is selected before every call (TF.js's is global). */
async function onBackend(tf: Tfjs, backend: string, make: () => TrainingContender): Promise<TrainingContender> {
  const select = async () => {
    if (!(await tf.setBackend(backend))) throw new Error(`TF.js could not start its ${backend} backend`);
  };
  await select();
  const c = make();
  return {
    ...c,
    train: async (epochs) => {
      await select();
      return c.train(epochs);
    },
    dispose: async () => {
      await select();
      await c.dispose();
    },
  };
}

const failed = (name: string, error: unknown): TrainingContender => {
  const message = (error as Error).message ?? String(error);
  return { name, rows: 150, train: () => Promise.reject(new Error(message)), dispose: () => undefined };
};

/** Epochs of the marginal timing on SwiftShader (short, long): a few, it is slow. */
const BROWSER_EPOCHS: Record<string, [number, number]> = {
  'altreg GPU': [5, 45],
  'altreg CPU': [10, 510],
  'TF.js webgpu': [1, 4],
  'TF.js webgl': [2, 8],
  'TF.js cpu': [5, 35],
};

function showTraining(state: TrainingState): void {
  const body = byId('training-rows');
  body.replaceChildren();
  const [row] = state.rows;
  if (!row) return;
  const altreg = row.results[0];
  const ms = (m: TrainingMeasured) => m.secondsPerEpoch * 1000;
  for (const m of row.results) {
    const ok = !m.error && Number.isFinite(m.secondsPerEpoch);
    body.append(
      el('tr', { attrs: { 'data-contender': m.name } }, [
        el('td', { text: m.name }),
        el('td', { text: ok ? ms(m).toFixed(2) : `failed: ${m.error ?? 'no samples'}`, className: 'ms' }),
        el('td', { text: ok && !altreg.error ? `${(ms(m) / ms(altreg)).toFixed(2)}×` : '–' }),
        el('td', { text: `${m.short} / ${m.long} epochs, ${m.samples.length} runs` }),
        el('td', { text: `${m.firstLoss.toFixed(4)} → ${m.finalLoss.toFixed(4)}${m.lossDecreased ? '' : ' (did not decrease)'}` }),
      ]),
    );
  }
  byId('training-markdown').textContent = state.table;
}

async function training(gpu: Gpu, runs: number): Promise<void> {
  const status = byId('training-status');
  const state: TrainingState = { done: false, rows: [], notes: [], table: '' };
  window.__benchTraining = state;
  const contenders: TrainingContender[] = [];
  try {
    status.dataset.state = 'running';
    status.textContent = 'Loading TF.js…';
    const spec = { kind: 'iris' } as const;
    const task = await makeTask(spec);
    contenders.push(altregTrainer('altreg GPU', task, 'gpu', gpu), altregTrainer('altreg CPU', task, 'cpu', null));
    const tf = await import('@tensorflow/tfjs');
    try {
      state.notes.push(await tfjsWebgpu(tf, gpu));
      const settle = webgpuSettle(tf.backend(), () => gpu.device.queue.onSubmittedWorkDone());
      contenders.push(await onBackend(tf, 'webgpu', () => tfjsTrainer(tf, 'TF.js webgpu', task, settle)));
    } catch (error) {
      state.notes.push(`TF.js webgpu: unavailable (${(error as Error).message})`);
      contenders.push(failed('TF.js webgpu', error));
    }
    for (const backend of ['webgl', 'cpu']) {
      const name = `TF.js ${backend}`;
      try {
        contenders.push(await onBackend(tf, backend, () => tfjsTrainer(tf, name, task)));
        state.notes.push(`${name}: TF.js ${tf.version.tfjs}, backend selected before every call`);
      } catch (error) {
        state.notes.push(`${name}: unavailable (${(error as Error).message})`);
        contenders.push(failed(name, error));
      }
    }
    status.textContent = `Training ${contenders.map((c) => c.name).join(', ')} (${runs} interleaved runs)…`;
    const results = await measureTraining(
      contenders.map((contender) => {
        const [short, long] = BROWSER_EPOCHS[contender.name] ?? [1, 3];
        const marginal: Marginal = { short, long, runs };
        return { contender, marginal };
      }),
    );
    state.rows.push({ name: taskLabel(spec), unit: 'ms/epoch', results });
    const adapter = `Adapter: ${gpu.name}${gpu.adapter.architecture ? ` (${gpu.adapter.architecture})` : ''}`;
    state.table = [adapter, ...state.notes, '', trainingTable(state.rows, 'ms/epoch'), '', trainingDetails(state.rows)].join('\n');
    showTraining(state);
    state.done = true;
    status.dataset.state = 'done';
    status.textContent = `Done: ${results.filter((r) => !r.error).length} of ${results.length} contenders timed.`;
  } catch (error) {
    state.error = (error as Error).message;
    state.done = true;
    status.dataset.state = 'error';
    status.textContent = 'The training benchmark failed.';
    showMessage(byId('training-error'), state.error);
  } finally {
    for (const c of contenders) await Promise.resolve(c.dispose()).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const parts = (params.get('parts') ?? 'kernels,training').split(',');
  const runs = Math.max(1, Math.floor(Number(params.get('runs') ?? 5)) || 5);
  let gpu: Gpu;
  try {
    gpu = await requestGpu({ timestamps: true });
    byId('adapter').textContent = `WebGPU adapter: ${gpu.name}${gpu.adapter.architecture ? ` · architecture ${gpu.adapter.architecture}` : ''}`;
  } catch (error) {
    const message = (error as Error).message;
    window.__bench = { adapter: null, rows: [], done: true, error: message };
    window.__benchTraining = { done: true, error: message, rows: [], notes: [], table: '' };
    byId('status').dataset.state = 'error';
    byId('status').textContent = 'The benchmark failed.';
    showMessage(byId('error'), message);
    return;
  }
  const start = byId<HTMLButtonElement>('start');
  start.disabled = false;
  byId('status').textContent = `Ready: press Start (${parts.join(' and ')}).`;
  await new Promise((resolve) => start.addEventListener('click', resolve, { once: true }));
  start.disabled = true;
  if (parts.includes('kernels')) await kernels(gpu);
  else byId('status').textContent = 'Kernels skipped (?parts).';
  if (parts.includes('training')) await training(gpu, runs);
  else byId('training-status').textContent = 'Training skipped (?parts).';
}

void main();
