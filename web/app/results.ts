// What a finished run offers for download: a results JSON (configuration, data split, adapter,
// history, test metrics, verification) and the checkpoint as its two files,
// weights.safetensors and manifest.json (the library's encodeCheckpoint, the same bytes the CLI
// writes), so that a run can be resumed or inspected elsewhere.

import { encodeCheckpoint, jsonText, type AdapterDescription, type ClassificationReport, type Evaluation, type Run } from '../../src/index.js';
import type { AppConfig } from './config.js';
import type { PreparedData } from './data.js';
import { download } from './dom.js';
import type { Comparison } from './training.js';

/** One finished run with everything the page shows about it. */
export interface FinishedRun {
  config: AppConfig;
  data: PreparedData;
  run: Run;
  test: Evaluation;
  report: ClassificationReport;
  adapter: AdapterDescription | null;
  seconds: number;
  verification?: Comparison;
}

/** The results as plain JSON-able data. */
export function resultsJson(f: FinishedRun): unknown {
  const d = f.data.source.dataset;
  const k = d.classes;
  const confusion = Array.from({ length: k }, (_, t) => Array.from(f.test.confusion.subarray(t * k, (t + 1) * k)));
  const { schedule: _schedule, ...config } = f.config;
  return {
    format: 'altreg-web-results',
    version: 1,
    createdAt: new Date().toISOString(),
    dataset: { label: f.data.source.label, origin: f.data.source.origin, rows: d.rows, features: d.features, classes: d.classes, featureNames: d.featureNames, classNames: d.classNames },
    split: { train: f.data.rows.train.length, validation: f.data.rows.validation.length, test: f.data.rows.test.length },
    standardizer: { mean: Array.from(f.data.standardizer.mean), std: Array.from(f.data.standardizer.std) },
    config,
    device: f.run.device,
    adapter: f.adapter,
    seconds: f.seconds,
    targets: f.run.targets,
    history: f.run.history,
    test: {
      rows: f.test.rows,
      loss: f.test.loss,
      accuracy: f.test.accuracy,
      confusion,
      report: { classes: f.report.classes, accuracy: f.report.accuracy, macroAvg: f.report.macroAvg, weightedAvg: f.report.weightedAvg, text: f.report.text },
    },
    ...(f.verification ? { verification: f.verification } : {}),
  };
}

export function downloadResults(f: FinishedRun): void {
  download(`altreg-results-${f.data.source.dataset.name}.json`, jsonText(resultsJson(f), 2) + '\n', 'application/json');
}

/** Downloads one of the checkpoint's two files. */
export function downloadCheckpoint(f: FinishedRun, file: 'weights' | 'manifest'): void {
  const files = encodeCheckpoint(f.run.checkpoint());
  if (file === 'weights') download('weights.safetensors', files.weights.slice(), 'application/octet-stream');
  else download('manifest.json', files.manifest, 'application/json');
}
