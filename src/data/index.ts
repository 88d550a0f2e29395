// The data side of altreg: shipped datasets, CSV parsing, stratified splits and the
// standardizer fitted on training rows.

export { DATASET_NAMES, datasets, loadDataset, type Dataset, type DatasetName } from './datasets.js';
export { CsvError, DatasetError, parseCsv, requireRowsPerClass, type CsvOptions } from './csv.js';
export {
  SplitError,
  approximateMode,
  repeatedStratifiedKFold,
  stratifiedKFold,
  stratifiedSplit,
  validationSplit,
  type RepeatedFold,
  type Split,
  type SplitStep,
} from './split.js';
export { applyStandardizer, fitStandardizer, type Standardizer } from './standardize.js';
