// Paired comparison of two arms evaluated on the same folds: the mean difference, its sample
// standard deviation, and a two-sided paired t-test (Student's t with n − 1 degrees of freedom),
// plain or, for cross-validation folds, with Nadeau & Bengio's correction for their overlap.
// The t distribution's tail comes from the regularized incomplete beta function, evaluated with
// its continued fraction (Lentz's method) and a Lanczos log-gamma.

import { MetricsError } from './classification.js';

/**
 * pairedTTest's result: the mean and spread of the paired differences b − a (e.g. over folds),
 * the two-sided t-test of their mean, and its 95% confidence interval.
 */
export interface PairedTest {
  /** Folds compared. */
  n: number;
  /** Mean of b − a. */
  meanDiff: number;
  /** Sample standard deviation of b − a (n − 1). */
  stdDiff: number;
  /** t statistic; NaN when every difference is the same (no spread to test). */
  t: number;
  /** Degrees of freedom, n − 1. */
  df: number;
  /**
   * Two-sided p-value; 1 when every difference is 0, NaN when every difference is the same
   * nonzero value (the test needs spread: two folds that both gain one row are not p 0).
   */
  p: number;
  /**
   * The 95% confidence interval of the mean difference, [low, high], with the same correction as
   * p: meanDiff ± t₀.₉₇₅,df · stdDiff · √(1/n + testTrainRatio). A p ≥ 0.05 means this interval
   * holds 0; its ends say how large a difference the folds cannot rule out. [0, 0] when every
   * difference is 0; [NaN, NaN] where p is NaN (equal nonzero differences: no spread to size it).
   */
  ci95: [number, number];
  /** Test rows over training rows of the correction (Nadeau & Bengio); 0: the plain paired t-test. */
  testTrainRatio: number;
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; about 15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(a, b, x)) / a;
  return 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** Two-sided tail probability P(|T| ≥ |t|) of Student's t with df degrees of freedom. */
export function studentTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t)) return 1;
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The t value that |T| exceeds with probability `p` (two-sided; `p` in (0, 1)), df degrees of freedom. */
export function studentTwoSidedQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new MetricsError(`studentTwoSidedQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new MetricsError(`studentTwoSidedQuantile: df must be > 0, got ${df}`);
  // The tail falls as t grows: find a bracket, then bisect to the last bit.
  let low = 0;
  let high = 1;
  while (studentTwoSidedP(high, df) > p) high *= 2;
  for (let i = 0; i < 200 && high - low > 1e-15 * high; i++) {
    const mid = (low + high) / 2;
    if (studentTwoSidedP(mid, df) > p) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/**
 * Holm's step-down adjustment of p-values for testing them together: the i-th smallest is
 * multiplied by (m − i), made no smaller than the one before, capped at 1. Rejecting where the
 * adjusted p < α keeps the chance of any false finding among the m tests below α. NaN stays NaN
 * and is not counted in m.
 */
export function holmAdjust(p: readonly number[]): number[] {
  const order = p.map((v, i) => ({ v, i })).filter((e) => !Number.isNaN(e.v)).sort((x, y) => x.v - y.v);
  const out = p.map(() => Number.NaN);
  let running = 0;
  order.forEach((e, rank) => {
    if (!(e.v >= 0 && e.v <= 1)) throw new MetricsError(`holmAdjust: p[${e.i}] = ${e.v}; expected a p-value in [0, 1] or NaN`);
    running = Math.max(running, Math.min(1, (order.length - rank) * e.v));
    out[e.i] = running;
  });
  return out;
}

/**
 * Paired t-test of b against a (same folds, same order). Throws a MetricsError for arrays of
 * different lengths, fewer than 2 pairs, or a NaN or infinite value (it would make p
 * meaningless rather than small or large).
 *
 * With `testTrainRatio` > 0 it is the corrected resampled t-test (Nadeau & Bengio 2003, applied to
 * repeated k-fold cross-validation by Bouckaert & Frank 2004): t = mean / √(s²·(1/n + ratio)),
 * where ratio is test rows / training rows of a fold (1/(k − 1) for k-fold). Folds of a
 * cross-validation share most of their training rows, so their differences are correlated and the
 * plain test (ratio 0, t = mean / √(s²/n)) gives p-values that are too small: it finds
 * differences that are not there far more often than 5% of the time at p < 0.05.
 */
export function pairedTTest(a: number[], b: number[], testTrainRatio = 0): PairedTest {
  if (a.length !== b.length) throw new MetricsError(`pairedTTest: a has ${a.length} values but b has ${b.length}; pair them fold by fold`);
  const n = a.length;
  if (n < 2) throw new MetricsError(`pairedTTest: needs at least 2 pairs, got ${n}`);
  for (const [field, values] of [['a', a], ['b', b]] as const) {
    const i = values.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new MetricsError(`pairedTTest: ${field}[${i}] = ${values[i]}; expected a finite number`);
  }
  if (typeof testTrainRatio !== 'number' || !(testTrainRatio >= 0) || !Number.isFinite(testTrainRatio)) {
    throw new MetricsError(`pairedTTest: testTrainRatio must be a finite number ≥ 0 (test rows / training rows; 0: the plain test), got ${testTrainRatio}`);
  }
  const d = a.map((x, i) => b[i] - x);
  let meanDiff = d.reduce((s, x) => s + x, 0) / n;
  let stdDiff = Math.sqrt(d.reduce((s, x) => s + (x - meanDiff) ** 2, 0) / (n - 1));
  // Rounding, not data: equal differences computed from different values (13/15 − 12/15 and
  // 27/30 − 25/30) differ in their last bits, which is no spread and would give t ≈ 1e16; and
  // differences that cancel (+1/15, −1/15) leave a mean of about 1e-18, which is no difference.
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(a[i]), Math.abs(b[i]));
  if (stdDiff <= 1e-12 * scale) stdDiff = 0;
  if (Math.abs(meanDiff) <= 1e-12 * scale) meanDiff = 0;
  const df = n - 1;
  const se = stdDiff * Math.sqrt(1 / n + testTrainRatio);
  const base = { n, meanDiff, stdDiff, df, testTrainRatio };
  if (stdDiff === 0) {
    return meanDiff === 0 ? { ...base, t: Number.NaN, p: 1, ci95: [0, 0] } : { ...base, t: Number.NaN, p: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  }
  const half = studentTwoSidedQuantile(0.05, df) * se;
  const t = meanDiff / se;
  return { ...base, t, p: studentTwoSidedP(t, df), ci95: [meanDiff - half, meanDiff + half] };
}
