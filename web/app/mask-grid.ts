// The epoch × tensor grid of penalty masks: before training, the masks the schedule will apply
// (computed with the library's Schedule on the model's own schedule stream, so random:P shows
// the same draws training makes); during training, each epoch's applied mask (EpochRecord.mask)
// fills its column in. A cell whose applied mask differs from the preview is marked.

import { mlpLayout, scheduleLabel, scheduleMasks, type ModelConfig, type ScheduleSpec, type Targets } from '../../src/index.js';
import { el, plural } from './dom.js';

/** Columns drawn at most; longer runs show their first epochs. */
export const MAX_GRID_EPOCHS = 1000;

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

/** The grid in the page; cells carry data-epoch, data-tensor, data-on and (once run) data-applied. */
export class MaskGrid {
  private cells: HTMLElement[][] = [];
  private preview: MaskPreview | null = null;
  /** Epochs whose applied mask differed from the preview. */
  mismatches = 0;

  constructor(
    private readonly container: HTMLElement,
    private readonly note: HTMLElement,
  ) {}

  /** Draws the preview (every applied mark is cleared). */
  render(preview: MaskPreview): void {
    this.preview = preview;
    this.mismatches = 0;
    const grid = el('div', { className: 'mask-grid', attrs: { role: 'grid', 'aria-label': 'penalty mask per epoch and tensor' } });
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
        : `${preview.schedule}: ${preview.tensors.length} targeted tensor${preview.tensors.length === 1 ? '' : 's'} × ${plural(preview.epochs, 'epoch')}${tail}. Light: planned; dark: applied.`;
  }

  /** Removes the grid and its note (no valid dataset or configuration to preview). */
  clear(): void {
    this.preview = null;
    this.cells = [];
    this.mismatches = 0;
    this.container.replaceChildren();
    this.note.textContent = '';
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
  }
}
