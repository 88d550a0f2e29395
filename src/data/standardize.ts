// Per-feature standardization fitted on training rows only (no leakage from test rows), in the
// form the GPU gather kernel applies: x·scale + shift, with scale = 1/std and shift = −mean/std.

import { describeValue } from '../runtime/options.js';
import { DatasetError } from './csv.js';

/**
 * A per-feature standardization from fitStandardizer: x·scale + shift gives the fitted rows mean 0
 * and std 1 (constant features x − mean). Pass it as train()'s `standardize`.
 */
export interface Standardizer {
  /** Per-feature mean over the fitted rows. */
  mean: Float64Array;
  /** Per-feature population standard deviation (ddof 0); 1 for a constant feature. */
  std: Float64Array;
  /** 1/std, as float32 for the GPU. */
  scale: Float32Array;
  /** −mean/std, as float32 for the GPU. */
  shift: Float32Array;
}

/**
 * Fits mean and standard deviation of every feature over `rows` only, like scikit-learn's
 * StandardScaler: float64 two-pass mean and variance, population std (divide by the row count),
 * and std 1 for a feature that is constant over these rows (variance within scikit-learn's
 * rounding bound n·ε·var + (n·mean·ε)², ε = 2⁻⁵²), so constant features map to x − mean.
 */
export function fitStandardizer(x: Float32Array, features: number, rows: Uint32Array): Standardizer {
  const total = requireShape('fitStandardizer', x, features);
  // No default of every row: fitting on test rows too would leak them into the training.
  if (!(rows instanceof Uint32Array)) {
    throw new DatasetError(`fitStandardizer: rows must be a Uint32Array of the row indices to fit on (the training rows only), got ${describeValue(rows)}`);
  }
  if (rows.length === 0) throw new DatasetError('fitStandardizer: rows is empty; fit on at least one row');
  rows.forEach((row, i) => {
    if (row >= total) throw new DatasetError(`fitStandardizer: rows[${i}] = ${row}, but x has ${total} rows (0..${total - 1})`);
  });

  const n = rows.length;
  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  for (const row of rows) for (let f = 0; f < features; f++) mean[f] += x[row * features + f];
  for (let f = 0; f < features; f++) mean[f] /= n;
  for (const row of rows) {
    for (let f = 0; f < features; f++) {
      const d = x[row * features + f] - mean[f];
      std[f] += d * d;
    }
  }
  const eps = 2 ** -52;
  for (let f = 0; f < features; f++) {
    const variance = std[f] / n;
    const constant = variance <= n * eps * variance + (n * mean[f] * eps) ** 2;
    std[f] = constant ? 1 : Math.sqrt(variance);
  }
  return {
    mean,
    std,
    scale: Float32Array.from(std, (s) => 1 / s),
    shift: Float32Array.from(mean, (m, f) => -m / std[f]),
  };
}

/** x·scale + shift for every row (a new array; the CPU twin of what the gather kernel applies). */
export function applyStandardizer(x: Float32Array, features: number, s: Standardizer): Float32Array {
  requireShape('applyStandardizer', x, features);
  if (s.scale.length !== features || s.shift.length !== features) {
    throw new DatasetError(
      `applyStandardizer: the standardizer has ${s.scale.length} scales and ${s.shift.length} shifts, ` +
        `but x has ${features} features`,
    );
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const f = i % features;
    out[i] = x[i] * s.scale[f] + s.shift[f];
  }
  return out;
}

function requireShape(where: string, x: Float32Array, features: number): number {
  if (!(x instanceof Float32Array)) throw new DatasetError(`${where}: x must be a Float32Array (rows × features, row-major), got ${describeValue(x)}`);
  if (!Number.isInteger(features) || features < 1) throw new DatasetError(`${where}: features must be an integer ≥ 1, got ${features}`);
  if (x.length % features !== 0) {
    throw new DatasetError(`${where}: x has ${x.length} values, not a whole number of rows of ${features} features`);
  }
  return x.length / features;
}
