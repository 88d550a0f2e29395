import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultStrategy, describeStrategy, matmulStrategy, setMatmulStrategy, type MatmulStrategy } from '../kernels/matmul.js';
import { adapterKey, candidateStrategies, kernelHash, tuneMatmul, type MatmulTuning } from '../kernels/tune.js';
import { testGpu } from '../testing/gpu.js';
import { TuningCacheError, applySavedTuning, loadTunings, saveTuning, tuningCacheFile } from './tuning-cache.js';

const temp = mkdtempSync(join(tmpdir(), 'altreg-tuning-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** A strategy `altreg tune` times on this adapter that is not its default (so applying it shows). */
async function tunedStrategy(): Promise<MatmulStrategy> {
  const gpu = await testGpu();
  return candidateStrategies(gpu).find((s) => describeStrategy(s) !== describeStrategy(defaultStrategy(gpu)))!;
}

/** A tuning of this adapter whose best is `best`, from a fake measurement. */
async function tuningFor(best: MatmulStrategy): Promise<MatmulTuning> {
  const gpu = await testGpu();
  const shapes = [{ name: 's', variant: {}, dims: { batch: 1, m: 8, n: 8, k: 8 } }];
  return tuneMatmul(gpu, { shapes, candidates: [best], measure: async () => 1e-3 });
}

describe('tuning cache', () => {
  it('lives in $ALTREG_CACHE_DIR, else $XDG_CACHE_HOME/altreg, else ~/.cache/altreg', () => {
    expect(tuningCacheFile({ ALTREG_CACHE_DIR: '/x', XDG_CACHE_HOME: '/y' })).toBe('/x/matmul-tuning.json');
    expect(tuningCacheFile({ XDG_CACHE_HOME: '/y' })).toBe('/y/altreg/matmul-tuning.json');
    expect(tuningCacheFile({})).toBe(join(homedir(), '.cache', 'altreg', 'matmul-tuning.json'));
  });

  it('saves one entry per adapter, atomically, and reads them back', async () => {
    const file = join(temp, 'a', 'matmul-tuning.json');
    expect(loadTunings(file)).toEqual({});
    const mine = await tuningFor(await tunedStrategy());
    const other = { ...mine, adapter: 'nvidia | hopper | H200 | | dawn-vulkan', best: { strategy: 'direct' as const } };
    await saveTuning(file, other);
    await saveTuning(file, mine);
    const back = loadTunings(file);
    expect(Object.keys(back).sort()).toEqual([mine.adapter, other.adapter].sort());
    expect(back[mine.adapter]).toEqual(mine);
    expect(back[other.adapter].best).toEqual({ strategy: 'direct' });
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe('altreg-matmul-tuning/1');
    expect(readdirSync(join(temp, 'a'))).toEqual(['matmul-tuning.json']);
  });

  it('a broken file is an error naming the file and the field', () => {
    const file = join(temp, 'broken.json');
    writeFileSync(file, '{"format": "altreg-matmul-tuning/1", "adapters": ');
    expect(() => loadTunings(file)).toThrow(TuningCacheError);
    expect(() => loadTunings(file)).toThrow(new RegExp(`^${file}: not readable as JSON`));
    writeFileSync(file, '{"adapters": {}}');
    expect(() => loadTunings(file)).toThrow(/not an altreg tuning file \(expected "format": "altreg-matmul-tuning\/1"/);
    writeFileSync(file, JSON.stringify({ format: 'altreg-matmul-tuning/1', adapters: { gpu: { kernel: 'x', best: { strategy: 'tiled', tiles: { wgX: 0, wgY: 8, bk: 8 } } } } }));
    expect(() => loadTunings(file)).toThrow(/adapters\["gpu"\].best.tiles.wgX must be an integer in \[1, 1024\], got 0/);
  });

  it('applySavedTuning sets the saved strategy of this adapter, and only a current one', async () => {
    const gpu = await testGpu();
    const file = join(temp, 'apply', 'matmul-tuning.json');
    try {
      expect(applySavedTuning(gpu, file)).toEqual({ tuning: null, reason: `no tuning for this adapter in ${file}` });
      const mine = await tuningFor(await tunedStrategy());
      await saveTuning(file, { ...mine, kernel: 'deadbeef' });
      const stale = applySavedTuning(gpu, file);
      expect(stale.tuning).toBeNull();
      expect(stale.reason).toMatch(/another version of the matmul kernel; run `altreg tune` again/);
      expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
      await saveTuning(file, mine);
      const applied = applySavedTuning(gpu, file);
      expect(applied.tuning).toEqual(mine);
      expect(applied.reason).toMatch(/^tuned by `altreg tune` on \d{4}-\d\d-\d\d/);
      expect(matmulStrategy(gpu)).toEqual(await tunedStrategy());
      setMatmulStrategy(gpu, undefined);
      writeFileSync(file, 'not json');
      const broken = applySavedTuning(gpu, file);
      expect(broken.tuning).toBeNull();
      expect(broken.reason).toMatch(/not readable as JSON/);
      expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
      expect(existsSync(file)).toBe(true);
    } finally {
      setMatmulStrategy(gpu, undefined);
    }
  });

  // A saved entry was trusted as far as its fields' ranges: tiles beyond the adapter's limits were
  // applied and failed only once the trainer was built (a GpuError from the shader compiler), an
  // entry without a date ended in a TypeError, and an adapter named "__proto__" became the
  // prototype of the entries, so that a lookup could find an entry no check had seen.
  describe('a hostile or hand-edited tuning file', () => {
    const entry = (best: unknown, extra: object = {}) => ({ kernel: kernelHash(), best, date: '2026-01-02T03:04:05.000Z', shapes: [], candidates: [], ...extra });
    const write = (file: string, adapters: unknown) => writeFileSync(file, JSON.stringify({ format: 'altreg-matmul-tuning/1', adapters }));

    it('tiles that `altreg tune` would not pick on this adapter are not applied', async () => {
      const gpu = await testGpu();
      const file = join(temp, 'limits.json');
      const key = adapterKey(gpu);
      const valid = candidateStrategies(gpu).map(describeStrategy).join('; ');
      for (const tiles of [{ wgX: 1024, wgY: 1, bk: 1024 }, { wgX: 3, wgY: 1000, bk: 7 }]) {
        write(file, { [key]: entry({ strategy: 'tiled', tiles }) });
        const r = applySavedTuning(gpu, file);
        expect(r.tuning).toBeNull();
        expect(r.reason).toBe(`${file}: adapters["${key}"].best is tiled ${tiles.wgX}×${tiles.wgY}, BK ${tiles.bk}, not one of the strategies \`altreg tune\` times on this adapter (${valid}); run \`altreg tune\` again`);
        expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
      }
      // What the tuner can pick is applied.
      write(file, { [key]: entry(await tunedStrategy()) });
      try {
        expect(applySavedTuning(gpu, file).reason).toBe(`tuned by \`altreg tune\` on 2026-01-02 (${file})`);
        expect(matmulStrategy(gpu)).toEqual(await tunedStrategy());
      } finally {
        setMatmulStrategy(gpu, undefined);
      }
    });

    it('an entry without its date is refused by name', async () => {
      const gpu = await testGpu();
      const file = join(temp, 'no-date.json');
      write(file, { [adapterKey(gpu)]: entry(await tunedStrategy(), { date: 20260102 }) });
      const r = applySavedTuning(gpu, file);
      expect(r.tuning).toBeNull();
      expect(r.reason).toBe(`${file}: adapters["${adapterKey(gpu)}"].date must be the measurement's ISO date, got 20260102; delete the file or run \`altreg tune\` again`);
      expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
    });

    it('an adapter named "__proto__" is an entry, not the prototype of the others', async () => {
      const gpu = await testGpu();
      const file = join(temp, 'proto.json');
      const key = adapterKey(gpu);
      // Written as text: JSON.stringify of an object literal would not write a "__proto__" key.
      const inherited = JSON.stringify({ [key]: { ...(entry(await tunedStrategy())), adapter: key } });
      // The "__proto__" entry also holds, as a member, an entry for this adapter that no check sees.
      writeFileSync(file, `{"format": "altreg-matmul-tuning/1", "adapters": {"__proto__": ${JSON.stringify(entry({ strategy: 'direct' })).slice(0, -1)}, ${inherited.slice(1)}}}`);
      const tunings = loadTunings(file);
      expect(Object.keys(tunings)).toEqual(['__proto__']);
      expect(tunings[key]).toBeUndefined();
      expect(applySavedTuning(gpu, file)).toEqual({ tuning: null, reason: `no tuning for this adapter in ${file}` });
      expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
      // Saving another adapter's tuning keeps it.
      await saveTuning(file, { ...(await tuningFor(await tunedStrategy())), adapter: 'other' });
      expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).adapters)).toEqual(['__proto__', 'other']);
    });
  });
});
