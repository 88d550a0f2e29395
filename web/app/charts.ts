// Live training charts drawn with uPlot: loss (train, validation), accuracy (train,
// validation), the active penalty value and the ‖w‖₂ of every tensor, one point per epoch.
// Records arrive in bursts (the GPU trainer reads a few epochs at a time); redraws are batched to
// one per animation frame so that the page stays responsive. Each chart's caption says its
// numbers (each series' first and last value), the text alternative of the drawn lines.

import uPlot from 'uplot';
import type { EpochRecord } from '../../src/index.js';
import { el, plural } from './dom.js';

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
  /** The series' labels, in the order of `data`'s arrays after the epochs. */
  labels: string[];
  /** The chart's figcaption: its numbers as text (see `redrawChart`). */
  caption: HTMLElement;
}

/** Plot width in CSS pixels at most, and at least (when `parent` is narrower or not laid out). */
const MAX_WIDTH = 400;
const MIN_WIDTH = 160;
const HEIGHT = 220;

/**
 * The y axis' labels. uPlot writes numbers out in full (λ 1e20 gives "100,000,000,000,000,000,000")
 * and to 3 decimals (1e-5 gives "0"), which no axis holds; an axis of very large or very small
 * values is labelled 1e20, 9.2218e20, 2.5e-5 instead, with as many digits as its step `incr` needs.
 */
function tickLabels(splits: number[], incr: number): string[] {
  const largest = Math.max(...splits.map(Math.abs));
  if (largest < 1e5 && (largest >= 1e-3 || largest === 0)) return splits.map(uPlot.fmtNum);
  let digits = 0;
  while (digits < 16 && !splits.every((v) => Math.abs(Number(v.toExponential(digits)) - v) <= incr * 1e-6)) digits++;
  return splits.map((v) => (v === 0 ? '0' : v.toExponential(digits).replace(/\.?0+e/, 'e').replace('e+', 'e')));
}

/** The y axis' width: its longest label at about 7 px a character (uPlot's 12 px font), its ticks and gap, 56 px at least. */
function yAxisSize(_: uPlot, values: string[] | null): number {
  return Math.max(56, 20 + 7 * Math.max(0, ...(values ?? []).map((v) => v.length)));
}

/** A value of a caption: 4 significant digits, whatever its scale (a penalty can be 1e-9, a norm 1e20). */
function captionValue(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : v.toPrecision(4);
}

/**
 * Draws what `c.data` holds and says it in its caption: "Over 8 epochs: train 1.099 → 0.5123;
 * validation …", each series' first and last value (its trend, in the numbers the plot shows).
 */
export function redrawChart(c: LineChart): void {
  c.plot.setData(c.data as uPlot.AlignedData);
  const series = c.labels.map((label, i) => {
    const values = c.data[i + 1];
    const first = values.find((v) => v !== null);
    let end = values.length - 1;
    while (end >= 0 && values[end] === null) end--;
    const last = values[end];
    return `${label} ${captionValue(first)} → ${captionValue(last)}`;
  });
  c.caption.textContent = c.data[0].length === 0 ? 'No epoch yet.' : `Over ${plural(c.data[0].length, 'epoch')}: ${series.join('; ')}.`;
}

/** The plot width that fits the chart's box (its padding and border included) into `parent`. */
function fittedWidth(parent: HTMLElement, box: HTMLElement): number {
  const s = getComputedStyle(box);
  const frame = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight) + parseFloat(s.borderLeftWidth) + parseFloat(s.borderRightWidth);
  return Math.floor(Math.max(MIN_WIDTH, Math.min(MAX_WIDTH, parent.clientWidth - frame)));
}

/**
 * A line chart with epoch on x, in its own titled box appended to `parent`. uPlot draws at a
 * fixed pixel size, so the width follows `parent` (a narrow window, a resized one) through a
 * ResizeObserver that the chart's destroy() disconnects.
 */
export function lineChart(parent: HTMLElement, id: string, title: string, series: SeriesSpec[], yRange?: [number, number]): LineChart {
  const box = el('figure', { className: 'chart', attrs: { id } });
  parent.append(box);
  const data: (number | null)[][] = [[], ...series.map(() => [])];
  const resize = new ResizeObserver(() => {
    const width = fittedWidth(parent, box);
    if (width !== plot.width) plot.setSize({ width, height: HEIGHT });
  });
  const opts: uPlot.Options = {
    title,
    width: fittedWidth(parent, box),
    height: HEIGHT,
    scales: { x: { time: false }, ...(yRange ? { y: { range: yRange } } : {}) },
    axes: [{ label: 'epoch' }, { size: yAxisSize, values: (_, splits, _axis, _space, incr) => tickLabels(splits, incr) }],
    series: [{ label: 'epoch' }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true, ...(s.dash ? { dash: s.dash } : {}) }))],
    // A dashed series has a dashed marker in the legend: the line and its name match without colour.
    legend: { markers: { dash: (u, i) => (u.series[i].dash ? 'dashed' : 'solid') } },
    cursor: { drag: { x: true, y: false } },
    hooks: { destroy: [() => resize.disconnect()] },
  };
  const plot = new uPlot(opts, data as uPlot.AlignedData, box);
  const caption = el('figcaption', { text: 'No epoch yet.' });
  box.append(caption);
  resize.observe(parent);
  return { plot, data, labels: series.map((s) => s.label), caption };
}

interface RunCharts {
  loss: LineChart;
  accuracy: LineChart;
  penalty: LineChart;
  norms: LineChart;
}

/** The four live charts of one run. */
export class TrainingCharts {
  private charts: RunCharts | null = null;
  private tensors: string[] = [];
  private frame = 0;

  constructor(private readonly container: HTMLElement) {}

  /** New empty charts; `tensors` are the model's tensor names (one norm series each). */
  reset(tensors: string[]): void {
    this.clear();
    this.tensors = tensors;
    const train = { label: 'train', color: PALETTE[0] };
    // Dashed: train and validation differ without their colours.
    const validation = { label: 'validation', color: PALETTE[1], dash: [6, 3] };
    this.charts = {
      loss: lineChart(this.container, 'chart-loss', 'Loss (cross-entropy)', [train, validation]),
      accuracy: lineChart(this.container, 'chart-accuracy', 'Accuracy', [train, validation], [0, 1]),
      penalty: lineChart(this.container, 'chart-penalty', 'Active penalty value', [{ label: 'penalty', color: PALETTE[2] }]),
      norms: lineChart(
        this.container,
        'chart-norms',
        'Weight norms ‖w‖₂',
        tensors.map((name, i) => ({ label: name, color: PALETTE[Math.floor(i / 2) % PALETTE.length], ...(name.endsWith('/bias') ? { dash: [4, 3] } : {}) })),
      ),
    };
  }

  add(r: EpochRecord): void {
    if (!this.charts) return;
    const push = (c: LineChart, values: (number | undefined)[]) => {
      c.data[0].push(r.epoch);
      values.forEach((v, i) => c.data[i + 1].push(v ?? null));
    };
    const { loss, accuracy, penalty, norms } = this.charts;
    push(loss, [r.loss, r.valLoss]);
    push(accuracy, [r.trainAccuracy, r.valAccuracy]);
    push(penalty, [r.penalty]);
    push(
      norms,
      this.tensors.map((t) => r.weightNorms[t]),
    );
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  /** Draws what has arrived (also called once at the end of a run). */
  redraw(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    for (const c of this.all()) redrawChart(c);
  }

  /** Removes the charts (also when the dataset they were trained on is no longer the one chosen). */
  clear(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    for (const c of this.all()) c.plot.destroy();
    this.charts = null;
    this.container.replaceChildren();
  }

  private all(): LineChart[] {
    const c = this.charts;
    return c ? [c.loss, c.accuracy, c.penalty, c.norms] : [];
  }
}
