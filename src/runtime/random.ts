// The seeded generator behind every random choice altreg makes (initial weights, shuffles,
// splits, random schedules): xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that
// nearby seeds give unrelated streams. Its whole state is four u32 words, saved in checkpoints.

/** Four u32 words: the complete state of a Random. */
export type RandomState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * FNV-1a (32-bit) over the parts in turn, as 8 hex digits: a string by its UTF-16 code units, a
 * typed array by its bytes. For fingerprints (tuning keys, checkpoint tags), not for randomness.
 */
export function fnv1a(...parts: (string | ArrayBufferView)[]): string {
  let h = 0x811c9dc5;
  for (const part of parts) {
    if (typeof part === 'string') {
      for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193) >>> 0;
    } else {
      for (const byte of new Uint8Array(part.buffer, part.byteOffset, part.byteLength)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The seeded generator behind splits, shuffles, initial weights and random schedules: the same seed
 * gives the same numbers on every machine. Its state is four u32 words (`state()`), to resume it.
 * @example
 * const rows = new Random(42).shuffle(Uint32Array.from({ length: 10 }, (_, i) => i));
 */
export class Random {
  private s: Uint32Array;

  /**
   * A generator for `seed` (any integer; combine seeds with `Random.derive`), or one that resumes
   * a saved `state()`.
   * @throws RangeError for a seed that is not an integer.
   */
  constructor(seed: number | RandomState = 0) {
    this.s = new Uint32Array(4);
    if (Array.isArray(seed)) {
      this.s.set(seed);
    } else {
      if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
      const next = splitmix32(seed >>> 0 ^ Math.floor(seed / 2 ** 32));
      for (let i = 0; i < 4; i++) this.s[i] = next();
    }
    if (this.s.every((w) => w === 0)) this.s[0] = 1;
  }

  /** A seed for an independent stream: e.g. derive(seed, fold, 7) for fold's init. */
  static derive(...parts: number[]): number {
    let h = 0x811c9dc5;
    for (const p of parts) {
      const next = splitmix32((h ^ (p >>> 0)) >>> 0);
      h = next() ^ Math.imul(p >>> 0, 0x27d4eb2d);
    }
    return h >>> 0;
  }

  /** The next u32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextU32() / 2 ** 32;
  }

  /** A float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`int(n) needs 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A copy of the state, to resume the stream later with `new Random(state)`. */
  state(): RandomState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
