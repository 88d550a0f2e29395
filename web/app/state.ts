// The app's state as the end-to-end tests (and curious users, from the console) read it:
// window.__altreg mirrors what the page shows, updated as it changes.

import type { AdapterDescription, EpochRecord, ExperimentResult } from '../../src/index.js';
import type { Comparison } from './training.js';

/** The page's lifecycle; also the data-state attribute of #status. */
export type AppPhase = 'init' | 'ready' | 'training' | 'done' | 'stopped' | 'error' | 'verifying' | 'comparing';

export interface AppSnapshot {
  phase: AppPhase;
  /** The WebGPU adapter the page trains on; null without WebGPU. */
  adapter: AdapterDescription | null;
  /** Why WebGPU is not used, when it is not. */
  gpuUnavailable: string | null;
  /** The device of the current or last run. */
  device: 'gpu' | 'cpu' | null;
  /** Epoch records of the current or last run (emptied when another dataset is chosen). */
  history: EpochRecord[];
  /** Tensors of the mask grid and the masks it previews: masks[epoch][tensor]. */
  maskTensors: string[];
  maskPreview: boolean[][];
  /** Test rows of the finished run on screen, its accuracy and confusion matrix [true][predicted]. */
  testRows: number | null;
  testAccuracy: number | null;
  confusion: number[][] | null;
  verification: Comparison | null;
  /** Progress of the current or last Compare: epoch (1-based) of batch (1-based) of runExperiment. */
  compareProgress: { epoch: number; epochs: number; batch: number; batches: number } | null;
  /** The result of the last finished Compare, as runExperiment returned it (null while none is shown). */
  comparison: ExperimentResult | null;
  /** GPU buffers alive on the page's device after the last run (0 when nothing leaked). */
  liveBuffers: number | null;
  error: string | null;
}

declare global {
  interface Window {
    __altreg?: AppSnapshot;
  }
}

export function initialSnapshot(): AppSnapshot {
  return {
    phase: 'init',
    adapter: null,
    gpuUnavailable: null,
    device: null,
    history: [],
    maskTensors: [],
    maskPreview: [],
    testRows: null,
    testAccuracy: null,
    confusion: null,
    verification: null,
    compareProgress: null,
    comparison: null,
    liveBuffers: null,
    error: null,
  };
}
