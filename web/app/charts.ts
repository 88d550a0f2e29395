// Live training charts drawn with uPlot: loss (train, validation), accuracy (train,
// validation), the active penalty value and the ‖w‖₂ of every tensor, one point per epoch.
// Records arrive in bursts (the GPU trainer reads a few epochs at a time); redraws are batched to
// one per animation frame so that the page stays responsive.

import uPlot from 'uplot';
import type { EpochRecord } from '../../src/index.js';
import { el } from './dom.js';

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: number[];
}

export interface LineChart {
  plot: uPlot;
  /** [epochs, ...one array per series]; null where a series has no value. */
  data: (number | null)[][];
}

/** A line chart with epoch on x, in its own titled box appended to `parent`. */
export function lineChart(parent: HTMLElement, id: string, title: string, series: SeriesSpec[], yRange?: [number, number]): LineChart {
  const box = el('figure', { className: 'chart', attrs: { id } });
  parent.append(box);
  const data: (number | null)[][] = [[], ...series.map(() => [])];
  const opts: uPlot.Options = {
    title,
    width: 400,
    height: 220,
    scales: { x: { time: false }, ...(yRange ? { y: { range: yRange } } : {}) },
    axes: [{ label: 'epoch' }, { size: 56 }],
    series: [{ label: 'epoch' }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true, ...(s.dash ? { dash: s.dash } : {}) }))],
    cursor: { drag: { x: true, y: false } },
  };
  return { plot: new uPlot(opts, data as uPlot.AlignedData, box), data };
}

/** The four live charts of one run. */
export class TrainingCharts {
  private loss!: LineChart;
  private accuracy!: LineChart;
  private penalty!: LineChart;
  private norms!: LineChart;
  private tensors: string[] = [];
  private frame = 0;

  constructor(private readonly container: HTMLElement) {}

  /** New empty charts; `tensors` are the model's tensor names (one norm series each). */
  reset(tensors: string[]): void {
    this.destroy();
    this.tensors = tensors;
    this.container.replaceChildren();
    this.loss = lineChart(this.container, 'chart-loss', 'Loss (cross-entropy)', [
      { label: 'train', color: PALETTE[0] },
      { label: 'validation', color: PALETTE[1] },
    ]);
    this.accuracy = lineChart(
      this.container,
      'chart-accuracy',
      'Accuracy',
      [
        { label: 'train', color: PALETTE[0] },
        { label: 'validation', color: PALETTE[1] },
      ],
      [0, 1],
    );
    this.penalty = lineChart(this.container, 'chart-penalty', 'Active penalty value', [{ label: 'penalty', color: PALETTE[2] }]);
    this.norms = lineChart(
      this.container,
      'chart-norms',
      'Weight norms ‖w‖₂',
      tensors.map((name, i) => ({ label: name, color: PALETTE[Math.floor(i / 2) % PALETTE.length], ...(name.endsWith('/bias') ? { dash: [4, 3] } : {}) })),
    );
  }

  add(r: EpochRecord): void {
    const push = (c: LineChart, values: (number | undefined)[]) => {
      c.data[0].push(r.epoch);
      values.forEach((v, i) => c.data[i + 1].push(v ?? null));
    };
    push(this.loss, [r.loss, r.valLoss]);
    push(this.accuracy, [r.trainAccuracy, r.valAccuracy]);
    push(this.penalty, [r.penalty]);
    push(
      this.norms,
      this.tensors.map((t) => r.weightNorms[t]),
    );
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  /** Draws what has arrived (also called once at the end of a run). */
  redraw(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    for (const c of [this.loss, this.accuracy, this.penalty, this.norms]) c?.plot.setData(c.data as uPlot.AlignedData);
  }

  private destroy(): void {
    for (const c of [this.loss, this.accuracy, this.penalty, this.norms]) c?.plot.destroy();
  }
}
