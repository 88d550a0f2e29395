// The epoch × tensor grid of penalty masks: before training, the masks the schedule will apply
// (computed with the library's Schedule on the model's own schedule stream, so random:P shows
// the same draws training makes); during training, each epoch's applied mask (EpochRecord.mask)
// fills its column in. A cell whose applied mask differs from the preview is marked. The grid is
// an image to assistive technology; the masks as text (per tensor, the epochs it is off) follow it.

import { mlpLayout, scheduleLabel, scheduleMasks, type ModelConfig, type ScheduleSpec, type Targets } from '../../src/index.js';
import { el, plural } from './dom.js';

/** Columns drawn at most; longer runs show their first epochs. */
export const MAX_GRID_EPOCHS = 1000;
/** Epochs listed by number in a tensor's line of the masks as text; the rest are counted. */
const LISTED_EPOCHS = 20;

export interface MaskPreview {
  /** The schedule's name (`alternate`, `random:0.5`): the grid shows Train's schedule, never Compare's. */
  schedule: string;
  /** Targeted tensors in schedule order (the rows). */
  tensors: string[];
  /** masks[epoch][tensor], for the first min(epochs, MAX_GRID_EPOCHS) epochs. */
  masks: boolean[][];
  /** All epochs of the run (may exceed masks.length). */
  epochs: number;
}

/** The masks training will apply: the same Schedule on the same stream as the trainer's planner. */
export function previewMasks(features: number, classes: number, model: ModelConfig, targets: Targets, schedule: ScheduleSpec, seed: number, epochs: number): MaskPreview {
  const shown = Math.min(epochs, MAX_GRID_EPOCHS);
  const { tensors, masks } = scheduleMasks(mlpLayout(features, classes, model), { targets, schedule }, seed, shown);
  return { schedule: scheduleLabel(schedule), tensors, masks, epochs };
}

/**
 * One tensor's masks in words: "dense_0/kernel: on in 6 of 8 epochs, off in epochs 1, 5". Epochs
 * are numbered from 0, as the schedules are; the state a tensor is in less often is listed.
 */
export function describeTensorMasks(name: string, masks: boolean[][], t: number): string {
  const n = masks.length;
  const on = masks.reduce((k, mask) => k + (mask[t] ? 1 : 0), 0);
  if (on === n) return `${name}: on in all ${plural(n, 'epoch')}`;
  if (on === 0) return `${name}: off in all ${plural(n, 'epoch')}`;
  const listOff = n - on <= on;
  const listed: number[] = [];
  for (let e = 0; e < n && listed.length < LISTED_EPOCHS; e++) if (masks[e][t] !== listOff) listed.push(e);
  const count = listOff ? n - on : on;
  const more = count > listed.length ? ` and ${count - listed.length} more` : '';
  return `${name}: on in ${on} of ${plural(n, 'epoch')}, ${listOff ? 'off' : 'on'} in epoch${count === 1 ? '' : 's'} ${listed.join(', ')}${more}`;
}

/** The grid in the page; cells carry data-epoch, data-tensor, data-on and (once run) data-applied. */
export class MaskGrid {
  private cells: HTMLElement[][] = [];
  private preview: MaskPreview | null = null;
  /** Epochs whose applied mask differed from the preview. */
  mismatches = 0;
  /** Epochs marked applied. */
  private applied = 0;
  private readonly appliedText = el('p');

  constructor(
    private readonly container: HTMLElement,
    private readonly note: HTMLElement,
    /** The masks as text: a <details> whose summary stays, its list and applied line redrawn. */
    private readonly text: HTMLDetailsElement,
  ) {}

  /** Draws the preview (every applied mark is cleared). */
  render(preview: MaskPreview): void {
    this.preview = preview;
    this.mismatches = 0;
    this.applied = 0;
    const label = `Penalty masks of ${preview.schedule}, ${plural(preview.tensors.length, 'tensor')} × ${plural(preview.masks.length, 'epoch')}: the masks as text follow`;
    const grid = el('div', { className: 'mask-grid', attrs: { role: 'img', 'aria-label': label } });
    grid.style.gridTemplateColumns = `max-content repeat(${preview.masks.length}, 9px)`;
    this.cells = preview.tensors.map(() => []);
    preview.tensors.forEach((name, t) => {
      grid.append(el('div', { className: 'mask-label', text: name }));
      preview.masks.forEach((mask, e) => {
        const on = mask[t];
        const cell = el('div', {
          className: on ? 'cell on' : 'cell off',
          title: `epoch ${e}, ${name}: ${on ? 'on' : 'off'}`,
          attrs: { 'data-epoch': String(e), 'data-tensor': String(t), 'data-on': on ? '1' : '0' },
        });
        this.cells[t].push(cell);
        grid.append(cell);
      });
    });
    this.container.replaceChildren(grid);
    const tail = preview.epochs > preview.masks.length ? ` (showing the first ${preview.masks.length} of ${preview.epochs} epochs)` : '';
    this.note.textContent =
      preview.tensors.length === 0
        ? 'No targeted tensors.'
        : `${preview.schedule}: ${preview.tensors.length} targeted tensor${preview.tensors.length === 1 ? '' : 's'} × ${plural(preview.epochs, 'epoch')}${tail}. Filled: on, hollow: off; light: planned, dark: applied.`;
    const first = preview.epochs > preview.masks.length ? ` (the first ${preview.masks.length} of ${preview.epochs})` : '';
    const lines = preview.tensors.map((name, t) => el('li', { text: describeTensorMasks(name, preview.masks, t) }));
    this.appliedText.textContent = '';
    this.text.replaceChildren(
      this.text.querySelector('summary') ?? el('summary', { text: 'Masks as text' }),
      el('p', { text: `Planned, ${preview.schedule}${first}, epochs counted from 0:` }),
      el('ul', {}, lines),
      this.appliedText,
    );
    this.text.hidden = preview.tensors.length === 0;
  }

  /** Removes the grid and its note (no valid dataset or configuration to preview). */
  clear(): void {
    this.preview = null;
    this.cells = [];
    this.mismatches = 0;
    this.container.replaceChildren();
    this.note.textContent = '';
    this.text.hidden = true;
  }

  /** Marks one trained epoch's applied mask. */
  markApplied(epoch: number, mask: boolean[]): void {
    if (!this.preview || epoch >= this.preview.masks.length) return;
    const planned = this.preview.masks[epoch];
    let differs = false;
    mask.forEach((on, t) => {
      const cell = this.cells[t]?.[epoch];
      if (!cell) return;
      cell.dataset.applied = on ? '1' : '0';
      cell.classList.add('applied');
      cell.classList.toggle('on', on);
      cell.classList.toggle('off', !on);
      if (on !== planned[t]) {
        differs = true;
        cell.classList.add('mismatch');
      }
    });
    if (differs) this.mismatches++;
    this.applied++;
    const shown = this.preview.masks.length;
    this.appliedText.textContent = `Applied in ${this.applied} of ${plural(shown, 'epoch')}, ${this.mismatches === 0 ? 'all as planned' : `${this.mismatches} not as planned`}.`;
  }
}
