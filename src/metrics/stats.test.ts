import { describe, expect, it } from 'vitest';
import { MetricsError } from './classification.js';
import { incompleteBeta, logGamma, pairedTTest, studentTwoSidedP } from './stats.js';

describe('paired t-test', () => {
  it('log-gamma matches factorials and Γ(½) = √π', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(10.5)).toBeCloseTo(13.940625219403763, 10);
  });
  it('incomplete beta has closed forms for a = 1 and b = 1', () => {
    // I_x(1, b) = 1 − (1 − x)^b and I_x(a, 1) = x^a
    expect(incompleteBeta(0.3, 1, 4)).toBeCloseTo(1 - 0.7 ** 4, 12);
    expect(incompleteBeta(0.6, 2.5, 1)).toBeCloseTo(0.6 ** 2.5, 12);
  });
  it('Student t tails match published critical values', () => {
    // Two-sided 5% critical values: df 9 → 2.262157, df 1 → 12.706205, df 30 → 2.042272
    expect(studentTwoSidedP(2.262157, 9)).toBeCloseTo(0.05, 6);
    expect(studentTwoSidedP(12.706205, 1)).toBeCloseTo(0.05, 6);
    expect(studentTwoSidedP(2.042272, 30)).toBeCloseTo(0.05, 6);
    // df 1 is Cauchy: P(|T| ≥ 1) = 1/2
    expect(studentTwoSidedP(1, 1)).toBeCloseTo(0.5, 12);
    expect(studentTwoSidedP(0, 5)).toBeCloseTo(1, 12);
  });
  it('a hand-checked paired case', () => {
    // differences 1, 2, 3, 4: mean 2.5, sd √(5/3), t = 2.5 / (√(5/3)/2) = 3.872983, df 3, p = 0.030466
    const r = pairedTTest([10, 10, 10, 10], [11, 12, 13, 14]);
    expect(r.meanDiff).toBeCloseTo(2.5, 12);
    expect(r.stdDiff).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(r.t).toBeCloseTo(3.872983, 5);
    expect(r.p).toBeCloseTo(0.030466, 5);
  });
  it('the corrected resampled t-test (Nadeau & Bengio): a hand-checked case, and the plain test at ratio 0', () => {
    // differences 1, 2, 3, 4 with ratio 1/9 (10-fold): t = 2.5 / √((5/3)(1/4 + 1/9)) = 3.222517,
    // df 3, p = 0.048491 (scipy.stats.t.sf(3.222517, 3) · 2).
    const r = pairedTTest([10, 10, 10, 10], [11, 12, 13, 14], 1 / 9);
    expect(r.t).toBeCloseTo(3.222517, 5);
    expect(r.p).toBeCloseTo(0.048491, 5);
    expect([r.n, r.df, r.meanDiff, r.testTrainRatio]).toEqual([4, 3, 2.5, 1 / 9]);
    expect(pairedTTest([10, 10, 10, 10], [11, 12, 13, 14], 0)).toEqual(pairedTTest([10, 10, 10, 10], [11, 12, 13, 14]));
    // The correction only widens: the same differences are never more significant with it.
    expect(r.p).toBeGreaterThan(pairedTTest([10, 10, 10, 10], [11, 12, 13, 14]).p);
    expect(pairedTTest([0.9, 0.8], [1, 0.9], 0.25).p).toBe(0);
    expect(() => pairedTTest([1, 2], [2, 3], -0.1)).toThrow('pairedTTest: testTrainRatio must be a finite number ≥ 0 (test rows / training rows; 0: the plain test), got -0.1');
    expect(() => pairedTTest([1, 2], [2, 3], NaN)).toThrow(MetricsError);
  });
  it('identical arms: no difference, p = 1; a constant shift: p = 0', () => {
    expect(pairedTTest([0.9, 0.8], [0.9, 0.8]).p).toBe(1);
    expect(pairedTTest([0.9, 0.8], [1, 0.9]).p).toBe(0);
  });
  it('rejects unpaired arrays, fewer than 2 pairs and non-finite values with a MetricsError naming the index', () => {
    const error = (a: number[], b: number[]) => {
      try {
        pairedTTest(a, b);
      } catch (e) {
        expect(e).toBeInstanceOf(MetricsError);
        return (e as Error).message;
      }
      throw new Error('pairedTTest did not throw');
    };
    expect(error([1, 2, 3], [1, 2])).toBe('pairedTTest: a has 3 values but b has 2; pair them fold by fold');
    expect(error([1], [2])).toBe('pairedTTest: needs at least 2 pairs, got 1');
    expect(error([1, NaN], [2, 3])).toBe('pairedTTest: a[1] = NaN; expected a finite number');
    expect(error([1, 2, 3], [2, 3, -Infinity])).toBe('pairedTTest: b[2] = -Infinity; expected a finite number');
  });
});
