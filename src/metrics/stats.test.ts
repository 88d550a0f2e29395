import { describe, expect, it } from 'vitest';
import { MetricsError } from './classification.js';
import { holmAdjust, incompleteBeta, logGamma, pairedTTest, studentTwoSidedP, studentTwoSidedQuantile } from './stats.js';

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
    expect(() => pairedTTest([1, 2], [2, 3], -0.1)).toThrow('pairedTTest: testTrainRatio must be a finite number ≥ 0 (test rows / training rows; 0: the plain test), got -0.1');
    expect(() => pairedTTest([1, 2], [2, 3], NaN)).toThrow(MetricsError);
  });
  it('identical arms: no difference, p = 1; a constant shift has no spread to test: p NaN, not 0', () => {
    expect(pairedTTest([0.9, 0.8], [0.9, 0.8]).p).toBe(1);
    expect(pairedTTest([0.9, 0.8], [0.9, 0.8]).ci95).toEqual([0, 0]);
    // Two folds that each gain one test row of 15 (and 30): the same difference, but not p 0.
    for (const ratio of [0, 0.25]) {
      const shift = pairedTTest([12 / 15, 25 / 30], [13 / 15, 27 / 30], ratio);
      expect([shift.p, shift.t, shift.stdDiff]).toEqual([NaN, NaN, 0]);
      expect(shift.meanDiff).toBeCloseTo(1 / 15, 15);
      // No interval either: a zero-width one would claim certainty that p says is not there.
      expect(shift.ci95).toEqual([NaN, NaN]);
    }
    // Differences that cancel but for rounding: a mean of 0, not 9.3e-18 (shown as a signed difference).
    const cancel = pairedTTest([1 / 15, 5 / 30, 0.1], [2 / 15, 3 / 30, 0.1]);
    expect(cancel.meanDiff).toBe(0);
    expect(cancel.p).toBe(1);
    // A spread at the 1e-9 level is a spread.
    expect(pairedTTest([1, 1, 1], [2, 2 + 1e-9, 2 - 1e-9]).p).toBeLessThan(1e-6);
  });
  it('the 95% confidence interval of the difference: hand-checked, with and without the correction, and consistent with p', () => {
    // t₀.₉₇₅,₃ = 3.182446305 (published); differences 1, 2, 3, 4: se = √(5/3)/2 plain,
    // √((5/3)(1/4 + 1/9)) corrected.
    expect(studentTwoSidedQuantile(0.05, 3)).toBeCloseTo(3.182446305284263, 9);
    expect(studentTwoSidedQuantile(0.05, 9)).toBeCloseTo(2.262157162740991, 9);
    expect(studentTwoSidedQuantile(0.05, 1)).toBeCloseTo(12.706204736174705, 8);
    expect(studentTwoSidedQuantile(0.5, 1)).toBeCloseTo(1, 12);
    const plain = pairedTTest([10, 10, 10, 10], [11, 12, 13, 14]);
    expect(plain.ci95[0]).toBeCloseTo(0.445739743239121, 9);
    expect(plain.ci95[1]).toBeCloseTo(4.5542602567608785, 9);
    const corrected = pairedTTest([10, 10, 10, 10], [11, 12, 13, 14], 1 / 9);
    expect(corrected.ci95[0]).toBeCloseTo(0.031086437033609915, 9);
    expect(corrected.ci95[1]).toBeCloseTo(4.9689135629663905, 9);
    // p < 0.05 exactly when the interval leaves out 0, on fresh random differences.
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + Math.floor(random() * 20);
      const a = Array.from({ length: n }, () => random());
      const b = a.map((x) => x + (random() - 0.3) * 0.2);
      const r = pairedTTest(a, b, random() * 0.3);
      if (Math.abs(r.p - 0.05) < 1e-9) continue;
      expect(r.ci95[0] > 0 || r.ci95[1] < 0, `p ${r.p}`).toBe(r.p < 0.05);
      expect((r.ci95[0] + r.ci95[1]) / 2).toBeCloseTo(r.meanDiff, 12);
    }
    expect(() => studentTwoSidedQuantile(0, 3)).toThrow(MetricsError);
  });
  it("Holm's adjustment: hand-checked, ties and NaN", () => {
    // p 0.01, 0.04, 0.03, 0.005 (m 4): sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → max(0.06, 0.04) = 0.06.
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((v, i) => expect(adjusted[i]).toBeCloseTo(v, 15));
    expect(holmAdjust([0.5, 0.9])).toEqual([1, 1]);
    // Ties: equal p get equal adjusted p (0.01·3, then max(0.03, 0.02·2), 0.02·1 → 0.04).
    const tied = holmAdjust([0.02, 0.01, 0.02]);
    [0.04, 0.03, 0.04].forEach((v, i) => expect(tied[i]).toBeCloseTo(v, 15));
    const withNaN = holmAdjust([0.02, NaN, 0.01]);
    expect(withNaN[1]).toBeNaN();
    expect([withNaN[0], withNaN[2]]).toEqual([0.02, 0.02]);
    expect(holmAdjust([])).toEqual([]);
    expect(() => holmAdjust([0.1, 1.5])).toThrow('holmAdjust: p[1] = 1.5; expected a p-value in [0, 1] or NaN');
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
