// Paired comparison of two arms evaluated on the same folds: the mean difference, its sample
// standard deviation, and a two-sided paired t-test (Student's t with n − 1 degrees of freedom),
// plain or, for cross-validation folds, with Nadeau & Bengio's correction for their overlap.
// The t distribution's tail comes from the regularized incomplete beta function, evaluated with
// its continued fraction (Lentz's method) and a Lanczos log-gamma.

import { MetricsError } from './classification.js';

export interface PairedTest {
  /** Folds compared. */
  n: number;
  /** Mean of b − a. */
  meanDiff: number;
  /** Sample standard deviation of b − a (n − 1). */
  stdDiff: number;
  /** t statistic; ±Infinity when every difference is equal and nonzero, NaN when all are 0. */
  t: number;
  df: number;
  /** Two-sided p-value; 1 when every difference is 0. */
  p: number;
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
  const meanDiff = d.reduce((s, x) => s + x, 0) / n;
  const stdDiff = Math.sqrt(d.reduce((s, x) => s + (x - meanDiff) ** 2, 0) / (n - 1));
  const df = n - 1;
  const base = { n, meanDiff, stdDiff, df, testTrainRatio };
  if (stdDiff === 0) {
    if (meanDiff === 0) return { ...base, t: Number.NaN, p: 1 };
    return { ...base, t: meanDiff > 0 ? Infinity : -Infinity, p: 0 };
  }
  const t = meanDiff / (stdDiff * Math.sqrt(1 / n + testTrainRatio));
  return { ...base, t, p: studentTwoSidedP(t, df) };
}
