import { describe, expect, it } from 'vitest';
import { fnv1a, Random } from './random.js';

describe('Random (xoshiro128**)', () => {
  it('matches the reference sequence for state [1, 2, 3, 4]', () => {
    // Hand-checked: first output rotl(2·5, 7)·9 = 11520; the state update makes the second 0.
    const r = new Random([1, 2, 3, 4]);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040]);
  });

  it('resumes exactly from a saved state', () => {
    const a = new Random(42);
    for (let i = 0; i < 10; i++) a.next();
    const b = new Random(a.state());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(Array.from({ length: 5 }, () => a.nextU32()));
  });

  it('gives different streams for different seeds and the same for the same seed', () => {
    expect(new Random(1).nextU32()).not.toBe(new Random(2).nextU32());
    expect(new Random(7).nextU32()).toBe(new Random(7).nextU32());
    expect(Random.derive(1, 2)).not.toBe(Random.derive(2, 1));
  });

  it('int(n) is uniform: chi-square over 6 buckets stays below the 0.1% critical value', () => {
    const r = new Random(3);
    const counts = new Array(6).fill(0);
    const n = 60000;
    for (let i = 0; i < n; i++) counts[r.int(6)]++;
    const chi2 = counts.reduce((s, c) => s + (c - n / 6) ** 2 / (n / 6), 0);
    expect(chi2).toBeLessThan(20.5); // df 5, p = 0.001
  });

  it('shuffle is a permutation', () => {
    const a = new Random(5).shuffle(Uint32Array.from({ length: 100 }, (_, i) => i));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('fnv1a', () => {
  it('gives the published FNV-1a 32-bit values, for strings by code unit and typed arrays by byte', () => {
    // Test vectors of the FNV reference (Fowler, Noll, Vo): '' → 811c9dc5, 'a' → e40c292c, 'foobar' → bf9cf968.
    expect(fnv1a('')).toBe('811c9dc5');
    expect(fnv1a('a')).toBe('e40c292c');
    expect(fnv1a('foobar')).toBe('bf9cf968');
    expect(fnv1a(new TextEncoder().encode('foobar'))).toBe('bf9cf968');
    // Parts continue one hash; a view hashes only its own bytes.
    expect(fnv1a('foo', new Uint8Array([0x62, 0x61, 0x72]))).toBe('bf9cf968');
    const bytes = new TextEncoder().encode('xxfoobarxx');
    expect(fnv1a(bytes.subarray(2, 8))).toBe('bf9cf968');
    // Float32 data by its little-endian bytes (checkpoints' standardization tags depend on it).
    expect(fnv1a(new Float32Array([1]))).toBe(fnv1a(new Uint8Array([0, 0, 0x80, 0x3f])));
  });
});
