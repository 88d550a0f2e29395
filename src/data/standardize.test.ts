import { describe, expect, it } from 'vitest';
import { DatasetError } from './csv.js';
import { applyStandardizer, fitStandardizer } from './standardize.js';

// 5 rows × 3 features: feature 1 is constant on rows 0..2, feature 2 is 0.1 everywhere.
const X = Float32Array.of(1, 10, 0.1, 3, 10, 0.1, 5, 10, 0.1, 100, -7, 0.1, -40, 3, 0.1);
const TRAIN = Uint32Array.of(0, 1, 2);

describe('fitStandardizer', () => {
  it('gives the mean and population std (ddof 0) over the given rows', () => {
    const s = fitStandardizer(X, 3, TRAIN);
    expect(s.mean[0]).toBe(3);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(8 / 3), 14); // (4 + 0 + 4) / 3
    expect(s.scale[0]).toBe(Math.fround(1 / Math.sqrt(8 / 3)));
    expect(s.shift[0]).toBe(Math.fround(-3 / Math.sqrt(8 / 3)));
  });

  it('gives a constant feature std 1 (scale 1, shift −mean), a nearly constant one its tiny std', () => {
    const s = fitStandardizer(X, 3, TRAIN);
    expect([s.std[1], s.scale[1], s.shift[1]]).toEqual([1, 1, -10]);
    expect(s.std[2]).toBe(1);
    expect(s.shift[2]).toBe(Math.fround(-0.1));
    // 1 and the next float32 differ by 2^-23: a real (if tiny) spread, as scikit-learn sees it.
    const near = fitStandardizer(Float32Array.of(1, 1 + 2 ** -23), 1, Uint32Array.of(0, 1));
    expect(near.std[0]).toBe(2 ** -24);
  });

  it('does not look at rows outside the fitted ones (no leakage from test rows)', () => {
    const other = X.slice();
    other.set([1e6, -1e6, 42], 9); // row 3
    other.set([-5, 5, 0], 12); // row 4
    expect(fitStandardizer(other, 3, TRAIN)).toEqual(fitStandardizer(X, 3, TRAIN));
    expect(fitStandardizer(other, 3, Uint32Array.of(0, 1, 2, 3)).mean[0]).not.toBe(3);
  });

  it('counts a row as often as it is listed', () => {
    expect(fitStandardizer(X, 3, Uint32Array.of(0, 0, 1)).mean[0]).toBeCloseTo(5 / 3, 14);
  });

  it('rejects no rows, rows out of range and shapes that do not divide', () => {
    expect(() => fitStandardizer(X, 3, new Uint32Array(0))).toThrow(DatasetError);
    expect(() => fitStandardizer(X, 3, new Uint32Array(0))).toThrow('fitStandardizer: rows is empty; fit on at least one row');
    expect(() => fitStandardizer(X, 3, Uint32Array.of(0, 5))).toThrow('fitStandardizer: rows[1] = 5, but x has 5 rows (0..4)');
    expect(() => fitStandardizer(X, 4, TRAIN)).toThrow('fitStandardizer: x has 15 values, not a whole number of rows of 4 features');
    expect(() => fitStandardizer(X, 0, TRAIN)).toThrow('features must be an integer ≥ 1, got 0');
  });

  // These used to be bare TypeErrors ("Cannot read properties of undefined (reading 'length')").
  it('rejects missing rows and an x that is not a Float32Array with a DatasetError', () => {
    const call = (...args: unknown[]) => () => (fitStandardizer as (...a: unknown[]) => unknown)(...args);
    expect(call(X, 3)).toThrow(DatasetError);
    expect(call(X, 3)).toThrow(/^fitStandardizer: rows must be a Uint32Array of the row indices to fit on \(the training rows only\), got undefined$/);
    expect(call(X, 3, [0, 1])).toThrow(/^fitStandardizer: rows must be a Uint32Array .*, got Array$/);
    expect(call(undefined, 3, TRAIN)).toThrow(DatasetError);
    expect(call(undefined, 3, TRAIN)).toThrow(/^fitStandardizer: x must be a Float32Array \(rows × features, row-major\), got undefined$/);
    expect(() => applyStandardizer([1, 2, 3] as never, 3, fitStandardizer(X, 3, TRAIN))).toThrow(/^applyStandardizer: x must be a Float32Array \(rows × features, row-major\), got Array$/);
  });
});

describe('applyStandardizer', () => {
  it('maps the fitted rows to mean 0 and population std 1, x·scale + shift', () => {
    const s = fitStandardizer(X, 3, TRAIN);
    const z = applyStandardizer(X, 3, s);
    const col0 = [z[0], z[3], z[6]];
    expect(col0.reduce((a, b) => a + b, 0) / 3).toBeCloseTo(0, 6);
    expect(Math.sqrt(col0.reduce((a, b) => a + b * b, 0) / 3)).toBeCloseTo(1, 6);
    expect(z[9]).toBe(Math.fround(100 * s.scale[0] + s.shift[0])); // a test row: same affine, not refitted
    expect(z[1]).toBe(0); // the constant feature becomes x − mean
    expect(z[10]).toBe(-17);
  });

  it('rejects a standardizer fitted with another feature count', () => {
    const s = fitStandardizer(X, 3, TRAIN);
    expect(() => applyStandardizer(Float32Array.of(1, 2), 2, s)).toThrow(
      'applyStandardizer: the standardizer has 3 scales and 3 shifts, but x has 2 features',
    );
  });
});
