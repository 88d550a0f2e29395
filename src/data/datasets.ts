// The datasets altreg ships (data/*.csv, UCI via scikit-learn, CC BY 4.0: see data/SOURCES.md)
// and the in-memory shape every dataset takes. Each CSV is imported as text through Vite's `?raw`
// suffix, one dynamic import per dataset, so the same code runs in browsers and in Node without
// file-system access and only the dataset asked for is loaded.

import { DatasetError, parseCsv } from './csv.js';

/** A classification dataset held in memory. */
export interface Dataset {
  /** Short name, e.g. 'iris'. */
  name: string;
  /** Features, rows × features, row-major. */
  x: Float32Array;
  /** Class id of each row, 0 ≤ y[i] < classes. */
  y: Uint32Array;
  rows: number;
  features: number;
  /** Number of classes; ids 0..classes−1 (see parseCsv for how names map to ids). */
  classes: number;
  /** Column name of each feature, in the order of x's columns. */
  featureNames: string[];
  /** Name of each class id. */
  classNames: string[];
}

/**
 * The shipped datasets: iris (150 rows × 4 features, 3 classes), wine (178 × 13, 3),
 * breast_cancer (569 × 30, 2) and digits (1,797 × 64, 10).
 */
export const DATASET_NAMES = ['iris', 'wine', 'breast_cancer', 'digits'] as const;
/** The name of a shipped dataset (DATASET_NAMES). */
export type DatasetName = (typeof DATASET_NAMES)[number];

/**
 * Loads one of the shipped datasets by name.
 * @throws DatasetError for a name that is not one of DATASET_NAMES.
 */
export async function loadDataset(name: DatasetName): Promise<Dataset> {
  const text = await importCsv(name);
  const dataset = parseCsv(text, { name: `${name}.csv` });
  return { ...dataset, name };
}

// Each import is a literal so that bundlers see (and split out) every file.
async function importCsv(name: DatasetName): Promise<string> {
  switch (name) {
    case 'iris':
      return (await import('../../data/iris.csv?raw')).default;
    case 'wine':
      return (await import('../../data/wine.csv?raw')).default;
    case 'breast_cancer':
      return (await import('../../data/breast_cancer.csv?raw')).default;
    case 'digits':
      return (await import('../../data/digits.csv?raw')).default;
    default:
      throw new DatasetError(`unknown dataset "${String(name)}"; valid names are ${DATASET_NAMES.join(', ')}`);
  }
}

/** The shipped datasets: `await datasets.load('iris')`. */
export const datasets = { load: loadDataset, names: DATASET_NAMES };
