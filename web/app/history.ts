// Past runs of this page (kept in memory only) to compare schedules: a table of their settings
// and results, and their validation-loss curves overlaid in one chart.

import type { EpochRecord } from '../../src/index.js';
import type { AppConfig } from './config.js';
import { lineChart, PALETTE, redrawChart, type LineChart } from './charts.js';
import { el, fmt } from './dom.js';

export interface PastRun {
  /** 1-based, in order of the runs. */
  id: number;
  /** Dataset label (a shipped name or a CSV file name). */
  dataset: string;
  config: AppConfig;
  device: 'gpu' | 'cpu';
  status: 'done' | 'stopped';
  history: EpochRecord[];
  testAccuracy: number | null;
  seconds: number;
}

export class RunHistory {
  readonly runs: PastRun[] = [];
  private chart: LineChart | null = null;

  constructor(
    private readonly table: HTMLTableSectionElement,
    private readonly chartBox: HTMLElement,
  ) {}

  add(run: Omit<PastRun, 'id'>): PastRun {
    const entry = { ...run, id: this.runs.length + 1 };
    this.runs.push(entry);
    this.render();
    return entry;
  }

  clear(): void {
    this.runs.length = 0;
    this.render();
  }

  private render(): void {
    this.table.replaceChildren(
      ...this.runs.map((r) => {
        const last = r.history[r.history.length - 1];
        const c = r.config;
        return el('tr', { attrs: { 'data-run': String(r.id) } }, [
          el('td', { text: String(r.id) }),
          el('td', { text: r.dataset }),
          el('td', { text: c.scheduleText }),
          el('td', { text: `${c.lambda} ${c.mode} ${c.convention} ${c.targets}` }),
          el('td', { text: `[${c.hidden.join(', ')}] ${c.activation}, lr ${c.lr}, batch ${c.batchSize}, seed ${c.seed}` }),
          el('td', { text: r.device === 'gpu' ? 'WebGPU' : 'CPU' }),
          el('td', { text: `${r.history.length}${r.status === 'stopped' ? ' (stopped)' : ''}` }),
          el('td', { text: fmt(last?.valLoss) }),
          el('td', { text: r.testAccuracy === null ? '–' : fmt(r.testAccuracy) }),
          el('td', { text: r.seconds.toFixed(1) }),
        ]);
      }),
    );
    this.chart?.plot.destroy();
    this.chart = null;
    this.chartBox.replaceChildren();
    if (this.runs.length === 0) return;
    this.chart = lineChart(
      this.chartBox,
      'chart-history',
      'Validation loss of every run',
      this.runs.map((r, i) => ({ label: `#${r.id} ${r.config.scheduleText} λ=${r.config.lambda}`, color: PALETTE[i % PALETTE.length] })),
    );
    const epochs = Math.max(...this.runs.map((r) => r.history.length));
    const data = this.chart.data;
    for (let e = 0; e < epochs; e++) {
      data[0].push(e);
      this.runs.forEach((r, i) => data[i + 1].push(r.history[e]?.valLoss ?? null));
    }
    redrawChart(this.chart);
  }
}
