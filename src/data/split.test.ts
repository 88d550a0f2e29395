import { describe, expect, it } from 'vitest';
import { Random } from '../runtime/random.js';
import {
  SplitError,
  approximateMode,
  repeatedStratifiedKFold,
  stratifiedKFold,
  stratifiedSplit,
  validationSplit,
  type Split,
} from './split.js';

/** Labels with `counts[c]` rows of class c, classes interleaved so that rows are not grouped. */
function labels(counts: number[], seed = 99): Uint32Array {
  const y = counts.flatMap((n, c) => new Array<number>(n).fill(c));
  return new Random(seed).shuffle(Uint32Array.from(y));
}

function countsOf(y: Uint32Array, rows: Uint32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const r of rows) counts[y[r]]++;
  return counts;
}

function isSortedUnique(a: Uint32Array): boolean {
  return a.every((v, i) => i === 0 || a[i - 1] < v);
}

function expectPartition(parts: Uint32Array[], all: number[]): void {
  const seen = parts.flatMap((p) => Array.from(p)).sort((a, b) => a - b);
  expect(seen).toEqual([...all].sort((a, b) => a - b));
}

const WINE = [59, 71, 48];
const IRIS = [50, 50, 50];

describe('approximateMode', () => {
  it('gives floors plus leftovers to the largest remainders (scikit-learn docstring cases)', () => {
    expect(approximateMode([4, 2], 3, new Random(0))).toEqual([2, 1]);
    expect(approximateMode([5, 2], 4, new Random(0))).toEqual([3, 1]);
    expect(approximateMode([59, 71, 48], 142, new Random(0))).toEqual([47, 57, 38]);
  });

  it('breaks ties between equal remainders at random, always drawing exactly n', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const a = approximateMode([2, 1, 1], 3, new Random(seed));
      expect(a.reduce((s, v) => s + v, 0)).toBe(3);
      seen.add(a.join());
    }
    // [2,1,1]·3/4 = [1.5, .75, .75]: floors [1,0,0], remainders [.5,.75,.75] → classes 1 and 2 first.
    expect([...seen]).toEqual(['1,1,1']);
    const tied = new Set<string>();
    for (let seed = 0; seed < 40; seed++) tied.add(approximateMode([1, 1, 1], 2, new Random(seed)).join());
    expect(tied.size).toBe(3);
  });
});

describe('stratifiedSplit', () => {
  it('iris at 0.2: 120 / 30 rows, 40 / 10 of each class, sorted, disjoint, covering', () => {
    const y = labels(IRIS);
    const { train, test } = stratifiedSplit(y, 3, 0.2, 1);
    expect([train.length, test.length]).toEqual([120, 30]);
    expect(countsOf(y, train, 3)).toEqual([40, 40, 40]);
    expect(countsOf(y, test, 3)).toEqual([10, 10, 10]);
    expect(isSortedUnique(train) && isSortedUnique(test)).toBe(true);
    expectPartition([train, test], [...y.keys()]);
  });

  it('test size is ceil(fraction · rows) and classes stay proportional within one row', () => {
    const y = labels(WINE);
    for (const fraction of [0.1, 0.25, 0.3, 0.5, 0.9]) {
      const { train, test } = stratifiedSplit(y, 3, fraction, 7);
      expect(test.length).toBe(Math.ceil(fraction * 178));
      expect(train.length).toBe(178 - test.length);
      countsOf(y, test, 3).forEach((n, c) => expect(Math.abs(n - (WINE[c] * test.length) / 178)).toBeLessThan(1));
      expectPartition([train, test], [...y.keys()]);
    }
  });

  it('keeps one row of every class with ≥ 2 rows on each side, holding the total where it can', () => {
    // scikit-learn would put both rows of class 0 in train: 2·90/100 = 1.8 has the larger remainder.
    const y = labels([2, 98]);
    const { train, test } = stratifiedSplit(y, 2, 0.1, 3);
    expect(countsOf(y, test, 2)).toEqual([1, 9]);
    expect(countsOf(y, train, 2)).toEqual([1, 89]);
    // A class with one row stays in train (and class 1 makes up the test size, ceil(5.5) = 6);
    // an empty class is fine.
    const z = labels([1, 10, 0]);
    const s = stratifiedSplit(z, 3, 0.5, 3);
    expect(countsOf(z, s.train, 3)).toEqual([1, 4, 0]);
    expect(countsOf(z, s.test, 3)).toEqual([0, 6, 0]);
    // When the minimums cannot fit the size asked for, they win.
    const w = labels([2, 2, 2]);
    expect(countsOf(w, stratifiedSplit(w, 3, 0.1, 3).test, 3)).toEqual([1, 1, 1]);
  });

  it('is reproducible by seed and differs between seeds', () => {
    const y = labels(WINE);
    expect(stratifiedSplit(y, 3, 0.2, 5)).toEqual(stratifiedSplit(y, 3, 0.2, 5));
    expect(stratifiedSplit(y, 3, 0.2, 5).test).not.toEqual(stratifiedSplit(y, 3, 0.2, 6).test);
  });

  it('rejects fractions outside (0, 1), labels ≥ classes and sizes that leave a side empty', () => {
    const y = labels(IRIS);
    for (const f of [0, 1, -0.1, 1.5, NaN]) {
      expect(() => stratifiedSplit(y, 3, f, 0)).toThrow(`stratifiedSplit: testFraction must be strictly between 0 and 1, got ${f}`);
    }
    expect(() => stratifiedSplit(y, 2, 0.2, 0)).toThrow(SplitError);
    expect(() => stratifiedSplit(y, 2, 0.2, 0)).toThrow(/y\[\d+\] = 2, but classes = 2 \(ids 0\.\.1\)/);
    expect(() => stratifiedSplit(Uint32Array.of(0, 1), 2, 0.6, 0)).toThrow(
      'stratifiedSplit: test fraction 0.6 of 2 rows leaves 0 train and 2 test rows; both sides need at least one row',
    );
    // One row per class: stratification cannot give the test side any row.
    expect(() => stratifiedSplit(Uint32Array.of(0, 1, 2, 3, 4), 5, 0.2, 0)).toThrow(
      'stratifiedSplit: all 5 classes have a single row, so a stratified split puts none on the test side; at least one class needs 2 rows (a label column',
    );
    const one = stratifiedSplit(Uint32Array.of(0, 1, 2, 3, 3), 4, 0.2, 0);
    expect([one.test.length, one.train.length, Array.from(one.test).every((row) => row >= 3)]).toEqual([1, 4, true]);
    expect(() => validationSplit(Uint32Array.of(0, 1, 2), Uint32Array.of(0, 1, 2), 3, 0.5, 0)).toThrow(
      'validationSplit: all 3 classes have a single row, so a stratified split puts none on the validation side; at least one class needs 2 rows; a fraction of 0 asks for none',
    );
  });
});

describe('stratifiedKFold', () => {
  it("gives each fold scikit-learn StratifiedKFold's class counts: position p of the class-sorted labels goes to fold p mod k", () => {
    // scikit-learn (_make_test_folds): allocation[i] = bincount(sorted(y)[i::k]).
    for (let trial = 0; trial < 20; trial++) {
      const classes = 2 + Math.floor(Math.random() * 5);
      const k = 2 + Math.floor(Math.random() * 6);
      const counts = Array.from({ length: classes }, () => k + Math.floor(Math.random() * 30));
      const labels = counts.flatMap((n, c) => Array<number>(n).fill(c));
      // Rows in a random order: the allocation depends on the class counts only.
      const y = Uint32Array.from(labels.sort(() => Math.random() - 0.5));
      const expected = Array.from({ length: k }, (_, i) => {
        const sorted = [...y].sort((a, b) => a - b);
        const row = new Array<number>(classes).fill(0);
        for (let p = i; p < sorted.length; p += k) row[sorted[p]]++;
        return row;
      });
      const got = stratifiedKFold(y, classes, k, trial).map((f) => {
        const row = new Array<number>(classes).fill(0);
        for (const r of f.test) row[y[r]]++;
        return row;
      });
      expect(got, JSON.stringify({ counts, k })).toEqual(expected);
    }
  });

  function checkFolds(y: Uint32Array, counts: number[], folds: Split[], k: number): void {
    expect(folds).toHaveLength(k);
    const all = [...y.keys()];
    expectPartition(
      folds.map((f) => f.test),
      all,
    );
    for (const { train, test } of folds) {
      expect(isSortedUnique(train) && isSortedUnique(test)).toBe(true);
      expectPartition([train, test], all); // train is exactly the other rows
      countsOf(y, test, counts.length).forEach((n, c) => expect(Math.abs(n - counts[c] / k)).toBeLessThan(1));
    }
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  }

  it('iris 5-fold: every fold holds exactly 10 rows of each class', () => {
    const y = labels(IRIS);
    const folds = stratifiedKFold(y, 3, 5, 42);
    checkFolds(y, IRIS, folds, 5);
    for (const f of folds) expect(countsOf(y, f.test, 3)).toEqual([10, 10, 10]);
  });

  it('uneven classes: counts within one row of proportional, fold sizes within one row', () => {
    const y = labels(WINE);
    for (const k of [2, 3, 4, 5, 7, 10]) checkFolds(y, WINE, stratifiedKFold(y, 3, k, k), k);
    const z = labels([5, 17, 3, 9]);
    checkFolds(z, [5, 17, 3, 9], stratifiedKFold(z, 4, 3, 1), 3);
  });

  it('is reproducible by seed and differs between seeds', () => {
    const y = labels(WINE);
    expect(stratifiedKFold(y, 3, 5, 11)).toEqual(stratifiedKFold(y, 3, 5, 11));
    expect(stratifiedKFold(y, 3, 5, 11)[0].test).not.toEqual(stratifiedKFold(y, 3, 5, 12)[0].test);
  });

  it('rejects k < 2 and classes with fewer than k rows, naming the class and its count', () => {
    const y = labels([10, 3, 8]);
    expect(() => stratifiedKFold(y, 3, 1, 0)).toThrow('stratifiedKFold: k must be an integer ≥ 2, got 1');
    expect(() => stratifiedKFold(y, 3, 2.5, 0)).toThrow('k must be an integer ≥ 2, got 2.5');
    expect(() => stratifiedKFold(y, 3, 4, 0)).toThrow(SplitError);
    expect(() => stratifiedKFold(y, 3, 4, 0)).toThrow(
      'stratifiedKFold: class 1 has 3 rows, fewer than k = 4; every class needs at least k rows so that each test fold ' +
        'holds one of each (the smallest class has 3 rows)',
    );
    expect(() => stratifiedKFold(y, 4, 3, 0)).toThrow('class 3 has 0 rows, fewer than k = 3');
  });
});

describe('repeatedStratifiedKFold', () => {
  it('gives k · repeats folds, repeat r equal to stratifiedKFold seeded Random.derive(seed, r)', () => {
    const y = labels(WINE);
    const folds = repeatedStratifiedKFold(y, 3, 5, 3, 8);
    expect(folds).toHaveLength(15);
    expect(folds.map((f) => `${f.repeat}:${f.fold}`)).toEqual(
      [0, 1, 2].flatMap((r) => [0, 1, 2, 3, 4].map((k) => `${r}:${k}`)),
    );
    for (let r = 0; r < 3; r++) {
      const expected = stratifiedKFold(y, 3, 5, Random.derive(8, r));
      expected.forEach((split, k) => expect(folds[r * 5 + k]).toEqual({ repeat: r, fold: k, ...split }));
    }
    expect(folds[0].test).not.toEqual(folds[5].test);
    expect(repeatedStratifiedKFold(y, 3, 5, 3, 8)).toEqual(folds);
  });

  it('rejects repeats < 1', () => {
    expect(() => repeatedStratifiedKFold(labels(IRIS), 3, 5, 0, 0)).toThrow('repeats must be an integer ≥ 1, got 0');
  });
});

describe('validationSplit', () => {
  it('splits one fold’s training rows into train and validation, stratified, 10% by default', () => {
    const y = labels(IRIS);
    const fold = stratifiedKFold(y, 3, 5, 1)[0];
    const { train, validation } = validationSplit(y, fold.train, 3);
    expect([train.length, validation.length]).toEqual([108, 12]);
    expect(countsOf(y, validation, 3)).toEqual([4, 4, 4]);
    expect(isSortedUnique(train) && isSortedUnique(validation)).toBe(true);
    expectPartition([train, validation], Array.from(fold.train));
    expect(validationSplit(y, fold.train, 3, 0.1, 0)).toEqual(validationSplit(y, fold.train, 3));
    expect(validationSplit(y, fold.train, 3, 0.1, 1).validation).not.toEqual(validation);
  });

  it('rejects rows out of range, repeated rows and bad fractions', () => {
    const y = labels(IRIS);
    expect(() => validationSplit(y, Uint32Array.of(1, 150), 3)).toThrow(
      'validationSplit: rowsIdx[1] = 150 is not a row (y has 150 rows)',
    );
    expect(() => validationSplit(y, Uint32Array.of(4, 5, 4), 3)).toThrow('validationSplit: row 4 appears twice in rowsIdx (again at index 2)');
    expect(() => validationSplit(y, Uint32Array.of(1, 2), 3, 1)).toThrow(
      'validationSplit: fraction must be strictly between 0 and 1, got 1',
    );
  });
});

describe('SplitError', () => {
  const thrown = (fn: () => unknown): SplitError => {
    try {
      fn();
    } catch (error) {
      if (error instanceof SplitError) return error;
      throw error;
    }
    throw new Error('no SplitError thrown');
  };

  it('names the split function in step and says the rest in detail, so callers need not parse the message', () => {
    const y = labels([10, 3, 8]);
    const cases: [SplitError, string, string][] = [
      [thrown(() => stratifiedSplit(y, 3, 0, 0)), 'stratifiedSplit', 'testFraction must be strictly between 0 and 1, got 0'],
      [thrown(() => stratifiedKFold(y, 3, 1, 0)), 'stratifiedKFold', 'k must be an integer ≥ 2, got 1'],
      [thrown(() => repeatedStratifiedKFold(y, 3, 2, 0, 0)), 'repeatedStratifiedKFold', 'repeats must be an integer ≥ 1, got 0'],
      [thrown(() => validationSplit(y, Uint32Array.of(4, 4), 3)), 'validationSplit', 'row 4 appears twice in rowsIdx (again at index 1)'],
    ];
    for (const [error, step, detail] of cases) {
      expect([error.step, error.detail, error.reason]).toEqual([step, detail, undefined]);
      expect(error.message).toBe(`${step}: ${detail}`);
    }
    // A test side with single-row classes has no way out to name; the validation side's is asking for none.
    expect(thrown(() => stratifiedSplit(Uint32Array.of(0, 1, 2), 3, 0.5, 0)).reason).toBeUndefined();
    const validation = thrown(() => validationSplit(Uint32Array.of(0, 1, 2), Uint32Array.of(0, 1, 2), 3, 0.5, 0));
    expect([validation.step, validation.reason]).toEqual(['validationSplit', 'no-validation-rows']);
    expect(validation.detail).toBe('all 3 classes have a single row, so a stratified split puts none on the validation side; at least one class needs 2 rows');
    expect(validation.message).toBe(`validationSplit: ${validation.detail}; a fraction of 0 asks for none`);
  });
});
