// Where the app's data comes from and how it is split: a shipped dataset or a user's CSV file
// (parsed by the library's parseCsv, whose CsvError names the line), then a stratified
// train/test split, a stratified validation split (10 %) of the train part, and a standardizer
// fitted on the remaining training rows only, applied to every row.

import {
  applyStandardizer,
  fitStandardizer,
  loadDataset,
  parseCsv,
  stratifiedSplit,
  validationSplit,
  type Dataset,
  type DatasetName,
  type Standardizer,
  type TrainData,
} from '../../src/index.js';
import { fileSize } from './dom.js';

/** Share of the train part held out for per-epoch validation. */
export const VALIDATION_FRACTION = 0.1;

/** A dataset together with where it came from. */
export interface DataSource {
  dataset: Dataset;
  /** `iris`, ... for shipped sets; the file name for a CSV. */
  label: string;
  origin: 'shipped' | 'csv';
}

/** A dataset split and standardized, ready for train(). */
export interface PreparedData {
  source: DataSource;
  /** Row indices into the dataset, sorted. */
  rows: { train: Uint32Array; validation: Uint32Array; test: Uint32Array };
  standardizer: Standardizer;
  train: TrainData;
  validation: TrainData;
  test: TrainData;
}

export async function loadShipped(name: DatasetName): Promise<DataSource> {
  return { dataset: await loadDataset(name), label: name, origin: 'shipped' };
}

/**
 * The longest file read as text: V8's longest string is 2^29 − 24 characters, and Chromium's
 * File.text() gives '' (no error) for a longer file, which would read as an empty CSV.
 */
const MAX_TEXT_BYTES = 2 ** 29 - 24;

/** Why a file of `size` bytes cannot be read as text, or null when it can. */
export function tooLargeForText(fileName: string, size: number): string | null {
  return size >= MAX_TEXT_BYTES ? tooLargeMessage(fileName, size) : null;
}

/** A file that is too large for the browser to read as text. */
export function tooLargeMessage(fileName: string, size: number): string {
  return `${fileName} is ${fileSize(size)}; the browser cannot read a CSV over about 512 MiB as text: use a smaller file (fewer rows or columns).`;
}

/** Parses a CSV file's text; throws the library's CsvError (with its line) on a bad file. */
export function parseCsvFile(text: string, fileName: string, labelColumn: string): DataSource {
  const trimmed = labelColumn.trim();
  const label = trimmed === '' ? undefined : /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
  const dataset = parseCsv(text, { name: fileName, ...(label === undefined ? {} : { label }) });
  return { dataset, label: fileName, origin: 'csv' };
}

/** The rows `rows` of standardized features `x` with their labels. */
function subset(x: Float32Array, d: Dataset, rows: Uint32Array): TrainData {
  const out = new Float32Array(rows.length * d.features);
  rows.forEach((row, i) => out.set(x.subarray(row * d.features, (row + 1) * d.features), i * d.features));
  return { x: out, y: Uint32Array.from(rows, (row) => d.y[row]), features: d.features, classes: d.classes };
}

/** Splits (seeded) and standardizes; throws the library's SplitError when a side would be empty. */
export function prepareData(source: DataSource, testFraction: number, seed: number): PreparedData {
  const d = source.dataset;
  const outer = stratifiedSplit(d.y, d.classes, testFraction, seed);
  const inner = validationSplit(d.y, outer.train, d.classes, VALIDATION_FRACTION, seed);
  const standardizer = fitStandardizer(d.x, d.features, inner.train);
  const x = applyStandardizer(d.x, d.features, standardizer);
  return {
    source,
    rows: { train: inner.train, validation: inner.validation, test: outer.test },
    standardizer,
    train: subset(x, d, inner.train),
    validation: subset(x, d, inner.validation),
    test: subset(x, d, outer.test),
  };
}

/**
 * What a SplitError from prepareData means in the app's terms: the dataset has too few rows (per
 * class) to hold out test rows and then 10 % of the rest for validation, both stratified.
 */
export function tooFewRows(source: DataSource, testFraction: number): string {
  const d = source.dataset;
  const counts = new Array<number>(d.classes).fill(0);
  d.y.forEach((c) => counts[c]++);
  // A loop, not Math.min(...counts): spreading thousands of classes overflows the stack.
  let smallestClass = 0;
  for (let c = 1; c < counts.length; c++) if (counts[c] < counts[smallestClass]) smallestClass = c;
  const smallest = counts[smallestClass];
  const name = d.classNames[smallestClass];
  return (
    `${source.label} has too few rows per class for a test and a validation split: ${d.rows} rows in ${d.classes} classes, the smallest ("${name}") has ${smallest}. ` +
    `The app holds out test rows (test fraction ${testFraction}), then ${VALIDATION_FRACTION * 100} % of the rest for validation, both stratified by class; ` +
    'give each class at least 3 rows (for training, validation and test).'
  );
}

/** Up to `max` names joined, with how many more there are. */
function someNames(names: string[], max = 12): string {
  return names.slice(0, max).join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');
}

/** A few lines about the dataset: "iris: 150 rows, 4 features, 3 classes (setosa, ...)". */
export function describeDataset(s: DataSource): string {
  const d = s.dataset;
  return `${s.label}: ${d.rows} rows, ${d.features} features, ${d.classes} classes (${someNames(d.classNames)}).\nFeatures: ${someNames(d.featureNames)}.`;
}
