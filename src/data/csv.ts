// CSV text → Dataset: papaparse splits the text into fields (quotes, line endings), this file
// checks every field and builds the row-major feature matrix and class ids. Every problem is a
// CsvError that names the line and column it was found at.

import Papa from 'papaparse';
import type { Dataset } from './datasets.js';
import { optionsProblem, plural } from '../runtime/options.js';

/** A CSV text that cannot be read as a dataset; `line` and `column` are 1-based (header = line 1). */
export class CsvError extends Error {
  override name = 'CsvError';
  constructor(
    message: string,
    /** 1-based line in the text where the problem is (the header is line 1), if it has one. */
    readonly line?: number,
    /** 1-based column (field) of the problem, if it is one cell. */
    readonly column?: number,
  ) {
    super(message);
  }
}

/** A dataset that cannot be used as asked (e.g. too few rows of a class for the folds). */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

/** Options of parseCsv; an unknown key throws a CsvError. */
export interface CsvOptions {
  /** The label column: its header name or 0-based index (default: the last column). */
  label?: string | number;
  /**
   * What messages call the text, e.g. a file name (default 'csv'). The dataset's `name` is this
   * without a `.csv` extension.
   */
  name?: string;
}

const OPTION_KEYS: readonly string[] = ['label', 'name'];

// A plain decimal number: no hex, no 'NaN'/'Infinity', no empty string (which Number() reads as 0).
export const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses CSV text with a header row into a Dataset. The label column (by name, by 0-based
 * index, or the last column) holds class names; every other column must hold numbers.
 *
 * Class ids: when every label is a number ("0".."9", "-1", "2.5") ids follow numeric order and
 * equal decimal values are one class ("1", "1.0", "01" and "1e0" all are class 1), named by the
 * spelling that appears first in the file; values are compared exactly as written, not as the
 * nearest float64, so 9007199254740993 and 9007199254740992, 1e999 and 2e999, 1e-400 and 0 are
 * distinct classes. Otherwise ids follow the order in which the names first appear. So digits
 * get 0..9 in order, iris gets setosa, versicolor, virginica and breast_cancer malignant (0),
 * benign (1), as in scikit-learn.
 *
 * Blank lines (anywhere, including trailing ones) are skipped; Windows (CRLF), Unix (LF) and
 * old Mac (CR) line endings and quoted fields (with commas, quotes or line breaks inside) are
 * read as in RFC 4180. Surrounding spaces of header names, labels and numbers are ignored, and
 * header names and labels are read in Unicode NFC, so an "é" typed as one code point and one
 * typed as "e" and a combining accent, which print the same, are the same name and class.
 * An unknown option key (a misspelt `label`, say) is a CsvError rather than ignored.
 */
export function parseCsv(text: string, options: CsvOptions = {}): Dataset {
  const source = (options as CsvOptions | null)?.name ?? 'csv';
  const fail = (message: string, line?: number, column?: number, columnName?: string): never => {
    let where = line === undefined ? '' : ` line ${line}`;
    if (column !== undefined) where += `, column ${column}` + (columnName === undefined ? '' : ` ("${columnName}")`);
    throw new CsvError(`${source}${where}: ${message}`, line, column);
  };
  const problem = optionsProblem(options, OPTION_KEYS);
  if (problem !== null) fail(problem);

  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte order mark
  const { lineOf, lines } = lineFinder(text);

  // Each row is checked and converted as papaparse hands it over (the cursor is the offset just
  // after a row): the first row is the header, and no row's fields are kept, only its numbers and
  // its label, so a large file needs little more memory than its text and its float32 matrix.
  let header: string[] | null = null;
  let headerLine = 0;
  let labelColumn = 0;
  let featureColumns: number[] = [];
  let features = 0;
  let x = new Float32Array(0);
  const labels: string[] = [];
  let rowStart = 0;
  const headerRow = (fields: string[], line: number) => {
    const names = fields.map((h) => h.trim().normalize('NFC'));
    if (names.length < 2) {
      const separator = /;/.test(names[0]) ? 'semicolons' : /\t/.test(names[0]) ? 'tabs' : undefined;
      const hint = separator === undefined ? '' : ` (fields are separated by commas only; this header has ${separator})`;
      fail(`the header has ${names.length} column; expected at least one feature column and a label column${hint}`, line);
    }
    names.forEach((h, i) => {
      if (h === '') fail('empty column name in the header; every column needs a name', line, i + 1);
      const first = names.indexOf(h);
      // Two spellings of one name (é as one code point and as e + accent) print alike: say why they are one.
      const nfc = first !== i && fields[first].trim() !== fields[i].trim() ? ' (the same in Unicode NFC)' : '';
      if (first !== i) fail(`column name "${h}" appears twice (columns ${first + 1} and ${i + 1})${nfc}`, line, i + 1);
    });
    if (names.every((h) => DECIMAL.test(h))) fail('the first row holds only numbers; a header row naming the columns is required', line);
    labelColumn = findLabelColumn(names, options.label, (m) => fail(m));
    featureColumns = names.map((_, i) => i).filter((i) => i !== labelColumn);
    features = featureColumns.length;
    // Every later line may be a row: a matrix for all of them, trimmed at the end.
    x = new Float32Array((lines - line) * features);
    header = names;
    headerLine = line;
  };
  const dataRow = (fields: string[], line: number, names: string[]) => {
    if (fields.length !== names.length) fail(`expected ${names.length} fields (as in the header), found ${fields.length}`, line);
    const at = labels.length * features;
    for (let f = 0; f < features; f++) {
      const c = featureColumns[f];
      const cell = fields[c].trim();
      if (cell === '') fail(`empty cell; expected a number${NO_IMPUTATION}`, line, c + 1, names[c]);
      if (!DECIMAL.test(cell)) {
        const missing = MISSING.test(cell) ? NO_IMPUTATION : '';
        fail(`${quote(cell)} is not a number${missing}${missing ? '' : labelHint(text, names, c, labelColumn)}`, line, c + 1, names[c]);
      }
      const value = Number(cell);
      if (!Number.isFinite(Math.fround(value))) fail(`${cell} is outside the float32 range (±3.4e38)`, line, c + 1, names[c]);
      x[at + f] = value;
    }
    const label = fields[labelColumn].trim().normalize('NFC');
    if (label === '') fail('empty label; every row needs a class', line, labelColumn + 1, names[labelColumn]);
    labels.push(label);
  };
  Papa.parse<string[]>(text, {
    delimiter: ',',
    skipEmptyLines: false,
    step: (result) => {
      const line = lineOf(rowStart);
      rowStart = result.meta.cursor;
      if (result.errors.length > 0) {
        const e = result.errors[0];
        const hint =
          e.code === 'MissingQuotes'
            ? 'a field that starts with a quote must end with one'
            : 'a quote inside a quoted field must be doubled ("")';
        fail(`${e.message} (${e.code}); ${hint}`, line);
      }
      const fields = result.data;
      if (fields.length === 1 && fields[0].trim() === '') return; // a blank line
      if (header === null) headerRow(fields, line);
      else dataRow(fields, line, header);
    },
  });

  // (Assigned in the step callback, which TypeScript does not follow.)
  const names = header as string[] | null;
  if (names === null) return fail('the text is empty; expected a header row and at least one data row');
  if (labels.length === 0) fail('no data rows after the header', headerLine);
  if (x.length > labels.length * features) x = x.slice(0, labels.length * features);

  const { classNames, classKey, keys } = classesOf(labels);
  if (classNames.length < 2) {
    fail(
      `the label column "${names[labelColumn]}" has only one class (${quote(classNames[0])}) in ` +
        `${plural(labels.length, 'row')}; classification needs at least 2 classes`,
    );
  }
  const idOf = new Map(classNames.map((name, id) => [classKey(name), id]));
  // A first row of numbers with a label of the later rows is data: the file has no header.
  const headerLabel = names[labelColumn];
  if (featureColumns.every((c) => DECIMAL.test(names[c])) && idOf.has(classKey(headerLabel))) {
    fail(
      `the first row looks like data, not a header (its features are numbers and its label ${quote(headerLabel)} is a class of ` +
        'later rows); a header row naming the columns is required',
      headerLine,
    );
  }
  const y = Uint32Array.from(keys, (key) => idOf.get(key)!);

  return {
    name: source.replace(/\.csv$/i, ''),
    x,
    y,
    rows: labels.length,
    features,
    classes: classNames.length,
    featureNames: featureColumns.map((c) => names[c]),
    classNames,
  };
}

/**
 * Throws a DatasetError naming the first class with fewer than `folds` rows: stratified k-fold
 * needs at least one row of every class in every fold.
 */
export function requireRowsPerClass(dataset: Dataset, folds: number): void {
  const counts = new Array<number>(dataset.classes).fill(0);
  for (const id of dataset.y) counts[id]++;
  // A loop, not Math.min(...counts): a label column of ids has as many classes as rows, more
  // arguments than a call takes.
  const smallest = counts.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  counts.forEach((count, id) => {
    if (count < folds) {
      throw new DatasetError(
        `${dataset.name}: class "${dataset.classNames[id]}" (id ${id}) has ${count} row${count === 1 ? '' : 's'}, ` +
          `fewer than the ${folds} folds asked for; every class needs at least ${folds} rows ` +
          (smallest >= 2
            ? `(use at most ${smallest} folds for this dataset)`
            : dataset.classes === dataset.rows
              ? '(every row is a class of its own: a label column with a different value in every row is usually the wrong column)'
              : '(k-fold needs 2 rows of every class, so this dataset can only be split as a holdout)'),
      );
    }
  });
}

function findLabelColumn(header: string[], label: string | number | undefined, fail: (message: string) => never): number {
  const listing = `columns are ${header.map((h, i) => `${i}: "${h}"`).join(', ')}`;
  if (label === undefined) return header.length - 1;
  if (typeof label === 'number') {
    if (!Number.isInteger(label) || label < 0 || label >= header.length) {
      fail(`label column index ${label} does not exist; valid 0-based indices are 0..${header.length - 1} (${listing})`);
    }
    return label;
  }
  const index = header.indexOf(label.trim().normalize('NFC'));
  if (index < 0) fail(`no label column named "${label}"; ${listing}`);
  return index;
}

/**
 * The class names in id order, the key that identifies a label's class, and each label's key. Numeric labels are
 * keyed by their exact decimal value (so "1" and "1.0" are one class, named by the first
 * spelling, and 9007199254740993 is not 9007199254740992) and sorted by it; anything else is
 * keyed by its text, in order of first appearance.
 */
function classesOf(labels: string[]): { classNames: string[]; classKey: (label: string) => string; keys: string[] } {
  const numeric = labels.every((label) => DECIMAL.test(label));
  // In numeric mode a text that is no number (the header's label, say) gets a key no number has.
  const classKey = numeric ? (label: string) => (DECIMAL.test(label) ? decimalKey(label) : `text:${label}`) : (label: string) => label;
  const keys = labels.map(classKey);
  const firstSpelling = new Map<string, string>();
  keys.forEach((key, i) => {
    if (!firstSpelling.has(key)) firstSpelling.set(key, labels[i]);
  });
  if (!numeric) return { classNames: [...firstSpelling.values()], classKey, keys };
  // Number() is monotonic, so a float64 order is the exact order; equal float64s (two labels
  // past float64's precision or range) are ordered by their exact values.
  const classes = [...firstSpelling].map(([key, name]) => ({ key, name, value: Number(name) }));
  classes.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : compareDecimalKeys(a.key, b.key)));
  return { classNames: classes.map((c) => c.name), classKey, keys };
}

/**
 * The exact value of a decimal number (DECIMAL) as text: sign, significant digits without
 * leading or trailing zeros, and the power of ten that makes them an integer: "1", "1.0", "01",
 * "+1e0" and "0.1e1" are "1e0", "-2.50" is "-25e-1", every zero ("0", "-0.0", "0e9") is "0".
 * Equal values have equal keys and different values different ones, at any precision or exponent.
 */
function decimalKey(text: string): string {
  const m = /^([+-]?)(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (m === null) throw new Error(`decimalKey: not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction, exponent = '0'] = m;
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  // value = digits × 10^(exponent − fraction digits) = significant × 10^(that + trailing zeros)
  const shift = digits.length - significant.length - fraction.length;
  const power = exponent.length <= 15 ? String(Number(exponent) + shift) : String(BigInt(exponent) + BigInt(shift));
  return `${sign === '-' ? '-' : ''}${significant}e${power}`;
}

/** Orders two decimalKey() results by the values they stand for: negative, zero or positive. */
function compareDecimalKeys(a: string, b: string): number {
  if (a === b) return 0;
  const parse = (key: string) => {
    if (key === '0') return { sign: 0, digits: '', top: 0n };
    const [, minus, digits, power] = /^(-?)(\d+)e(-?\d+)$/.exec(key)!;
    // top: the power of ten just above the leading digit, which orders magnitudes first.
    return { sign: minus ? -1 : 1, digits, top: BigInt(power) + BigInt(digits.length) };
  };
  const x = parse(a);
  const y = parse(b);
  if (x.sign !== y.sign) return x.sign - y.sign;
  let magnitude = x.top === y.top ? 0 : x.top < y.top ? -1 : 1;
  if (magnitude === 0) {
    // Same leading position: the digits decide, the shorter padded with zeros.
    const n = Math.max(x.digits.length, y.digits.length);
    const dx = x.digits.padEnd(n, '0');
    const dy = y.digits.padEnd(n, '0');
    magnitude = dx === dy ? 0 : dx < dy ? -1 : 1;
  }
  return x.sign * magnitude;
}

/** A cell as messages show it: in double quotes, with line breaks and quotes escaped (one line). */
function quote(cell: string): string {
  return JSON.stringify(cell);
}

/** Maps a character offset to its 1-based line, counting CRLF, LF and CR as one break each. */
function lineFinder(text: string): { lineOf: (offset: number) => number; lines: number } {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 13 && text.charCodeAt(i + 1) === 10) i++;
    if (ch === 10 || ch === 13) starts.push(i + 1);
  }
  const lineOf = (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  return { lineOf, lines: starts.length };
}

/**
 * For a cell that is not a number, in column `c`: a hint when no data row holds a number there,
 * the column being likely the label column left unnamed. Reads the text again (only on this error).
 */
/** How data sets commonly write a missing value. */
const MISSING = /^(na|n\/a|nan|null|none|\?|-)$/i;
/** What to do about a missing value, which altreg does not fill in. */
const NO_IMPUTATION = ' (a missing value: altreg does not fill them in; remove the row or fill the value in first)';

function labelHint(text: string, header: string[], c: number, labelColumn: number): string {
  let number = false;
  let first = true;
  Papa.parse<string[]>(text, {
    delimiter: ',',
    skipEmptyLines: 'greedy',
    step: (result, parser) => {
      if (first) first = false;
      else if (result.data.length === header.length && DECIMAL.test(result.data[c].trim())) {
        number = true;
        parser.abort();
      }
    },
  });
  return number ? '' : ` (column "${header[c]}" holds no numbers; if it is the label column, choose it as such: the label column now is "${header[labelColumn]}")`;
}
