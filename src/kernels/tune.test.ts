import { describe, expect, it } from 'vitest';
import { testGpu } from '../testing/gpu.js';
import { checkDenseProduct } from './selfcheck-matmul.js';
import { KernelInputError, isCpuAdapter } from './common.js';
import {
  DEFAULT_TILES,
  chooseTiles,
  defaultStrategy,
  directTiles,
  matmulStrategy,
  parseStrategy,
  setMatmulStrategy,
  type MatmulStrategy,
} from './matmul.js';
import { adapterKey, candidateStrategies, kernelHash, tuneMatmul, tuningMismatch, type TuneShape } from './tune.js';

const SHAPES: TuneShape[] = [
  { name: 'a', variant: {}, dims: { batch: 1, m: 40, n: 24, k: 12 } },
  { name: 'b', variant: { transA: true, onesRow: true }, dims: { batch: 2, m: 13, n: 10, k: 7 } },
];
const TILED: MatmulStrategy = { strategy: 'tiled', tiles: { wgX: 8, wgY: 8, bk: 16 } };

describe('matmul tuner', () => {
  it('scores every candidate by the geometric mean of its GFLOP/s and picks the best', async () => {
    const gpu = await testGpu();
    const candidates: MatmulStrategy[] = [{ strategy: 'direct' }, TILED, { strategy: 'tiled', tiles: DEFAULT_TILES }];
    // Seconds per dispatch by candidate and shape: the second candidate is slower on shape a and
    // much faster on shape b, so it wins on the geometric mean but not on shape a.
    const seconds = [
      [1e-3, 1e-3],
      [2e-3, 1e-4],
      [4e-3, 4e-3],
    ];
    let call = 0;
    const seen: number[] = [];
    const live = gpu.liveBuffers;
    const t = await tuneMatmul(gpu, {
      shapes: SHAPES,
      candidates,
      measure: async () => seconds[Math.floor(call / 2)][call++ % 2],
      onCandidate: (done, total) => seen.push(done * 10 + total),
    });
    expect(gpu.liveBuffers).toBe(live);
    expect(seen).toEqual([13, 23, 33]);
    const flops = [2 * 40 * 24 * 12, 2 * 2 * 13 * 10 * 7];
    t.candidates.forEach((c, i) => {
      expect(c.strategy).toEqual(candidates[i]);
      c.gflops.forEach((g, s) => expect(g).toBeCloseTo(flops[s] / seconds[i][s] / 1e9, 12));
      expect(c.score).toBeCloseTo(Math.sqrt(c.gflops[0] * c.gflops[1]), 12);
    });
    expect(t.best).toEqual(TILED);
    expect(t.adapter).toBe(adapterKey(gpu));
    expect(t.kernel).toBe(kernelHash());
    expect(t.shapes.map((s) => s.name)).toEqual(['a', 'b']);
    expect(Date.parse(t.date)).toBeGreaterThan(Date.parse('2026-01-01'));
  });

  it('a candidate with wrong results is never picked, however fast', async () => {
    const gpu = await testGpu();
    const candidates: MatmulStrategy[] = [{ strategy: 'direct' }, TILED];
    let timed = 0;
    const t = await tuneMatmul(gpu, {
      shapes: SHAPES,
      candidates,
      // The tiled candidate (timed after direct's two products) is 10× faster, but its second
      // product is called wrong.
      measure: async () => (timed++ < 2 ? 1e-3 : 1e-4),
      verdict: (strategy, shape, found) => (strategy === TILED && shape.name === 'b' ? 'wrong result on b: planted' : found),
    });
    expect(t.candidates[1].error).toBe('wrong result on b: planted');
    expect(t.candidates[1].score).toBe(0);
    expect(t.candidates[1].gflops[0]).toBeGreaterThan(t.candidates[0].gflops[0]);
    expect(t.candidates[0].error).toBeUndefined();
    expect(t.best).toEqual({ strategy: 'direct' });
    await expect(tuneMatmul(gpu, { shapes: SHAPES, candidates: [TILED], measure: async () => 1e-3, verdict: () => 'bad' })).rejects.toThrow(
      /every candidate computed wrong results on this adapter, e.g. bad/,
    );
  });

  it('times real dispatches on this adapter, and every candidate computes the right product', async () => {
    const gpu = await testGpu();
    const t = await tuneMatmul(gpu, { shapes: SHAPES, runs: 1, targetMs: 5 });
    expect(t.candidates.map((c) => c.strategy)).toEqual(candidateStrategies(gpu));
    for (const c of t.candidates) {
      expect(c.error).toBeUndefined();
      for (const g of c.gflops) expect(g).toBeGreaterThan(0);
      expect(Number.isFinite(c.score)).toBe(true);
    }
    expect(t.candidates.some((c) => c.strategy === t.best)).toBe(true);
  });

  it('candidates: direct and the default tiles on CPU adapters, the tiled grid fitted and without repeats on GPUs', async () => {
    const gpu = await testGpu();
    const list = candidateStrategies(gpu);
    if (isCpuAdapter(gpu)) {
      expect(list).toEqual([{ strategy: 'direct' }, { strategy: 'tiled', tiles: DEFAULT_TILES }]);
    } else {
      const keys = list.map((s) => JSON.stringify(s));
      expect(new Set(keys).size).toBe(keys.length);
      expect(list[0]).toEqual({ strategy: 'tiled', tiles: DEFAULT_TILES });
    }
  });

  it('bad input is refused before any GPU work', async () => {
    const gpu = await testGpu();
    await expect(tuneMatmul(gpu, { shapes: [] })).rejects.toThrow(/shapes is empty/);
    await expect(tuneMatmul(gpu, { shapes: SHAPES, candidates: [] })).rejects.toThrow(/candidates is empty/);
    await expect(tuneMatmul(gpu, { shapes: SHAPES, runs: 0 })).rejects.toThrow(/runs must be an integer ≥ 1, got 0/);
  });
});

describe('matmul strategy per device', () => {
  it('a set strategy reaches every product built without tiles, and the products stay correct', async () => {
    const gpu = await testGpu();
    const dims = { batch: 1, m: 70, n: 30, k: 20 };
    expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
    try {
      setMatmulStrategy(gpu, TILED);
      expect(chooseTiles(gpu, dims)).toEqual(TILED.strategy === 'tiled' && TILED.tiles);
      for (const product of ['forward', 'inputGrad', 'weightGrad'] as const) {
        const r = await checkDenseProduct(gpu, product, { batch: 2, rows: 70, inputs: 20, outputs: 30 }, 'relu');
        expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
      }
      setMatmulStrategy(gpu, { strategy: 'direct' });
      expect(chooseTiles(gpu, dims)).toEqual(directTiles(30, 70));
    } finally {
      setMatmulStrategy(gpu, undefined);
    }
    expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
  });

  it('parseStrategy names the bad field', () => {
    expect(parseStrategy({ strategy: 'direct', tiles: { wgX: 99 } })).toEqual({ strategy: 'direct' });
    expect(() => parseStrategy({ strategy: 'fast' })).toThrow(KernelInputError);
    expect(() => parseStrategy({ strategy: 'fast' })).toThrow(/strategy.strategy must be 'direct' or 'tiled', got "fast"/);
    expect(() => parseStrategy({ strategy: 'tiled' }, 'best')).toThrow(/best.tiles is missing/);
    expect(() => parseStrategy({ strategy: 'tiled', tiles: { wgX: 16, wgY: 0, bk: 8 } })).toThrow(/tiles.wgY must be an integer in \[1, 1024\], got 0/);
    expect(() => parseStrategy({ strategy: 'tiled', tiles: { wgX: 16, wgY: 16, bk: '8' } })).toThrow(/tiles.bk must be an integer in \[4, 1024\], got "8"/);
  });

  it('a saved tuning holds only for its adapter and kernel', async () => {
    const gpu = await testGpu();
    const t = await tuneMatmul(gpu, { shapes: SHAPES, candidates: [TILED], measure: async () => 1e-3 });
    expect(tuningMismatch(gpu, t)).toBeNull();
    expect(tuningMismatch(gpu, { ...t, adapter: 'nvidia | hopper | H200 | | dawn-vulkan' })).toMatch(/another adapter \(nvidia \| hopper/);
    expect(tuningMismatch(gpu, { ...t, kernel: '00000000' })).toMatch(/another version of the matmul kernel/);
    expect(kernelHash('a')).not.toBe(kernelHash('b'));
    expect(kernelHash('')).toBe('811c9dc5');
  });
});
