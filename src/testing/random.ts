// Helpers for tests and self-checks: fresh random inputs, NaN poisoning, error norms.

/** Uniform floats in [lo, hi) from Math.random: every run sees fresh inputs. */
export function randomFloats(length: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = lo + (hi - lo) * Math.random();
  return out;
}

/** A Float32Array of NaN: whatever a kernel leaves unwritten stays NaN and fails a check. */
export function poisoned(length: number): Float32Array {
  return new Float32Array(length).fill(Number.NaN);
}

/** ‖out − ref‖₂ / ‖ref‖₂ (NaN anywhere gives NaN, which fails every ≤ check). */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`length ${out.length} vs reference ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

/** Largest |out − ref| / max(|ref|, floor) over all elements. */
export function maxRelativeError(out: ArrayLike<number>, ref: ArrayLike<number>, floor = 1e-6): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(out[i] - ref[i]) / Math.max(Math.abs(ref[i]), floor);
    if (!(e <= worst)) worst = e; // NaN propagates as worst
    if (Number.isNaN(e)) return Number.NaN;
  }
  return worst;
}
