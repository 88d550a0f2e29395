// Stratified splits of row indices: one train/test split, k-fold, repeated k-fold and the
// validation split inside a training set. Every random choice comes from a seeded Random, so the
// same seed gives the same rows on every machine. Every returned index list is sorted ascending
// (the trainer shuffles rows per epoch itself; sorted lists are easy to compare and to gather).

import { Random } from '../runtime/random.js';

/** The split function a SplitError comes from; its message starts with this name. */
export type SplitStep = 'stratifiedSplit' | 'stratifiedKFold' | 'repeatedStratifiedKFold' | 'validationSplit';

/**
 * Bad arguments to a split (fraction, fold count, labels); thrown before anything is drawn. The
 * message is `${step}: ${detail}`, with the way out that a `reason` names appended; callers that
 * say it in their own terms (the CLI names the data and the flag) build theirs from the fields.
 */
export class SplitError extends Error {
  override name = 'SplitError';
  constructor(
    /** The split function that refused (the message's first word). */
    readonly step: SplitStep,
    /** What is wrong, without the `step: ` prefix and without the way out a `reason` adds. */
    readonly detail: string,
    /**
     * `'no-validation-rows'`: every class has a single row, so a validation split can draw none;
     * asking for no validation rows (fraction 0) is the way out, which the message says.
     */
    readonly reason?: 'no-validation-rows',
  ) {
    super(`${step}: ${detail}${reason === 'no-validation-rows' ? '; a fraction of 0 asks for none' : ''}`);
  }
}

/** A split of row indices into training and test rows, each list sorted ascending. */
export interface Split {
  train: Uint32Array;
  test: Uint32Array;
}

/** One fold of repeatedStratifiedKFold: its split, and which repeat and fold it is. */
export interface RepeatedFold extends Split {
  /** 0-based repeat. */
  repeat: number;
  /** 0-based fold within the repeat. */
  fold: number;
}

/**
 * One stratified train/test split of all rows, in the manner of scikit-learn's
 * StratifiedShuffleSplit:
 * - test size = ceil(testFraction · rows) (scikit-learn's rule, same float arithmetic), train
 *   size = rows − test size;
 * - each class's train count is the approximate mode of drawing the train size from the class
 *   counts (`approximateMode`: floor of the proportional share, leftovers to the largest remainders,
 *   ties broken at random), the rest of the class goes to test;
 * - unlike scikit-learn, every class with ≥ 2 rows then keeps at least one row on each side (a
 *   class with 1 row goes to train), taking the row from / giving it to the class furthest above
 *   / below its proportional share so that the total sizes stay as above where that is possible;
 * - which rows of a class go to test is a uniform random choice.
 */
export function stratifiedSplit(y: Uint32Array, classes: number, testFraction: number, seed: number): Split {
  const where = 'stratifiedSplit';
  requireFraction(where, 'testFraction', testFraction);
  const rowsOf = rowsByClass(where, y, classes);
  const r = new Random(seed);
  const { train, test } = splitRows(where, rowsOf, testFraction, r, 'test');
  return { train: sorted(train), test: sorted(test) };
}

/**
 * Stratified k-fold: each class's rows are shuffled and dealt round-robin into the k folds, the
 * dealing continuing from fold to fold across classes (class 0 from fold 0, the next class where
 * the previous one stopped). So each fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ rows of class c and the fold
 * sizes differ by at most one, as in scikit-learn's StratifiedKFold(shuffle=True). Every row is in
 * exactly one test fold; each fold's train rows are all the others.
 */
export function stratifiedKFold(y: Uint32Array, classes: number, k: number, seed: number): Split[] {
  const where = 'stratifiedKFold';
  if (!Number.isInteger(k) || k < 2) throw new SplitError(where, `k must be an integer ≥ 2, got ${k}`);
  const rowsOf = rowsByClass(where, y, classes);
  // A loop, not Math.min(...): there may be as many classes as rows.
  const smallest = rowsOf.reduce((n, rows) => Math.min(n, rows.length), Number.POSITIVE_INFINITY);
  rowsOf.forEach((rows, c) => {
    if (rows.length < k) {
      throw new SplitError(
        where,
        `class ${c} has ${rows.length} row${rows.length === 1 ? '' : 's'}, fewer than k = ${k}; ` +
          `every class needs at least k rows so that each test fold holds one of each ` +
          `(the smallest class has ${smallest} row${smallest === 1 ? '' : 's'})`,
      );
    }
  });

  const r = new Random(seed);
  const foldOf = new Uint32Array(y.length);
  let next = 0;
  for (const rows of rowsOf) {
    r.shuffle(rows);
    for (const row of rows) {
      foldOf[row] = next;
      next = (next + 1) % k;
    }
  }
  return Array.from({ length: k }, (_, fold) => {
    const test: number[] = [];
    const train: number[] = [];
    for (let row = 0; row < y.length; row++) (foldOf[row] === fold ? test : train).push(row);
    return { train: Uint32Array.from(train), test: Uint32Array.from(test) };
  });
}

/**
 * `repeats` independent stratified k-folds, repeat r seeded with Random.derive(seed, r); returned
 * repeat by repeat, fold by fold (k · repeats splits).
 */
export function repeatedStratifiedKFold(
  y: Uint32Array,
  classes: number,
  k: number,
  repeats: number,
  seed: number,
): RepeatedFold[] {
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new SplitError('repeatedStratifiedKFold', `repeats must be an integer ≥ 1, got ${repeats}`);
  }
  const out: RepeatedFold[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    stratifiedKFold(y, classes, k, Random.derive(seed, repeat)).forEach((split, fold) => out.push({ repeat, fold, ...split }));
  }
  return out;
}

/**
 * Splits the rows `rowsIdx` (e.g. one fold's training rows) into train and validation rows,
 * stratified by class with the same rule as stratifiedSplit (validation size =
 * ceil(fraction · rows)). Like Keras' `validation_split` (default 0.1) but stratified and
 * random rather than the last rows.
 */
export function validationSplit(
  y: Uint32Array,
  rowsIdx: Uint32Array,
  classes: number,
  fraction = 0.1,
  seed = 0,
): { train: Uint32Array; validation: Uint32Array } {
  const where = 'validationSplit';
  requireFraction(where, 'fraction', fraction);
  requireClasses(where, classes);
  const rowsOf: number[][] = Array.from({ length: classes }, () => []);
  const seen = new Uint8Array(y.length);
  rowsIdx.forEach((row, i) => {
    if (row >= y.length) throw new SplitError(where, `rowsIdx[${i}] = ${row} is not a row (y has ${y.length} rows)`);
    if (seen[row]) throw new SplitError(where, `row ${row} appears twice in rowsIdx (again at index ${i})`);
    seen[row] = 1;
    const c = y[row];
    if (c >= classes) throw new SplitError(where, `y[${row}] = ${c}, but classes = ${classes} (ids 0..${classes - 1})`);
    rowsOf[c].push(row);
  });
  const { train, test } = splitRows(where, rowsOf, fraction, new Random(seed), 'validation');
  return { train: sorted(train), validation: sorted(test) };
}

/**
 * The approximate mode of drawing `draws` items from a population with `counts` per class (the
 * most likely per-class counts, off by at most one): each class gets the floor of its
 * proportional share, the draws left over go one each to the classes with the largest
 * remainders, ties between equal remainders broken at random. Same rule as scikit-learn's
 * `_approximate_mode`, but in exact integer arithmetic (remainder = counts·draws mod total).
 */
export function approximateMode(counts: number[], draws: number, r: Random): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return counts.map(() => 0);
  const taken = counts.map((c) => Math.floor((c * draws) / total));
  const remainder = counts.map((c) => (c * draws) % total);
  let left = draws - taken.reduce((a, b) => a + b, 0);
  const values = [...new Set(remainder)].sort((a, b) => b - a);
  for (const value of values) {
    if (left <= 0) break;
    const tied = r.shuffle(remainder.flatMap((v, c) => (v === value ? [c] : [])));
    for (const c of tied.slice(0, left)) taken[c]++;
    left -= Math.min(left, tied.length);
  }
  return taken;
}

// The shared core of stratifiedSplit and validationSplit; `side` names the held-out part.
function splitRows(where: SplitStep, rowsOf: number[][], fraction: number, r: Random, side: 'test' | 'validation'): { train: number[]; test: number[] } {
  const counts = rowsOf.map((rows) => rows.length);
  const n = counts.reduce((a, b) => a + b, 0);
  const nTest = Math.ceil(fraction * n);
  const nTrain = n - nTest;
  if (nTrain < 1 || nTest < 1) {
    throw new SplitError(
      where,
      `${side} fraction ${fraction} of ${n} rows leaves ${nTrain} train and ${nTest} ${side} rows; ` +
        `both sides need at least one row`,
    );
  }
  const trainCounts = approximateMode(counts, nTrain, r);
  const testCounts = counts.map((c, i) => c - trainCounts[i]);
  keepBothSides(counts, testCounts, nTest);
  if (testCounts.every((t) => t === 0)) {
    // Only when every class has a single row: stratifying keeps each class in training.
    throw new SplitError(
      where,
      `all ${counts.length} classes have a single row, so a stratified split puts none on the ${side} side; ` +
        `at least one class needs 2 rows` +
        (side === 'test' ? ' (a label column with a different value in every row is usually the wrong column)' : ''),
      side === 'test' ? undefined : 'no-validation-rows',
    );
  }

  const train: number[] = [];
  const test: number[] = [];
  rowsOf.forEach((rows, c) => {
    const shuffled = r.shuffle(rows.slice());
    test.push(...shuffled.slice(0, testCounts[c]));
    train.push(...shuffled.slice(testCounts[c]));
  });
  return { train, test };
}

// Moves rows so that a class with ≥ 2 rows has ≥ 1 on each side, then moves rows back from the
// classes furthest from their proportional share (ties: lowest id) to restore the test total.
function keepBothSides(counts: number[], testCounts: number[], nTest: number): void {
  const n = counts.reduce((a, b) => a + b, 0);
  const lo = counts.map((c) => (c >= 2 ? 1 : 0));
  const hi = counts.map((c) => Math.max(0, c - 1));
  testCounts.forEach((t, c) => (testCounts[c] = Math.min(hi[c], Math.max(lo[c], t))));
  const share = (c: number) => testCounts[c] - (counts[c] * nTest) / n; // > 0: above its share
  let total = testCounts.reduce((a, b) => a + b, 0);
  while (total !== nTest) {
    const up = total < nTest;
    let best = -1;
    for (let c = 0; c < counts.length; c++) {
      if (up ? testCounts[c] >= hi[c] : testCounts[c] <= lo[c]) continue;
      if (best < 0 || (up ? share(c) < share(best) : share(c) > share(best))) best = c;
    }
    if (best < 0) break; // the per-class minimums take precedence over the total
    testCounts[best] += up ? 1 : -1;
    total += up ? 1 : -1;
  }
}

function rowsByClass(where: SplitStep, y: Uint32Array, classes: number): number[][] {
  requireClasses(where, classes);
  const rowsOf: number[][] = Array.from({ length: classes }, () => []);
  y.forEach((c, row) => {
    if (c >= classes) throw new SplitError(where, `y[${row}] = ${c}, but classes = ${classes} (ids 0..${classes - 1})`);
    rowsOf[c].push(row);
  });
  return rowsOf;
}

function requireClasses(where: SplitStep, classes: number): void {
  if (!Number.isInteger(classes) || classes < 1) throw new SplitError(where, `classes must be an integer ≥ 1, got ${classes}`);
}

function requireFraction(where: SplitStep, field: string, value: number): void {
  if (!(value > 0 && value < 1)) throw new SplitError(where, `${field} must be strictly between 0 and 1, got ${value}`);
}

function sorted(rows: number[]): Uint32Array {
  return Uint32Array.from(rows).sort();
}
