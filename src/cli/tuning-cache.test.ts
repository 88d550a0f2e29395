import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultStrategy, matmulStrategy, setMatmulStrategy, type MatmulStrategy } from '../kernels/matmul.js';
import { tuneMatmul, type MatmulTuning } from '../kernels/tune.js';
import { testGpu } from '../testing/gpu.js';
import { TuningCacheError, applySavedTuning, loadTunings, saveTuning, tuningCacheFile } from './tuning-cache.js';

const temp = mkdtempSync(join(tmpdir(), 'altreg-tuning-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const TILED: MatmulStrategy = { strategy: 'tiled', tiles: { wgX: 8, wgY: 16, bk: 16 } };

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
    const mine = await tuningFor(TILED);
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
      const mine = await tuningFor(TILED);
      await saveTuning(file, { ...mine, kernel: 'deadbeef' });
      const stale = applySavedTuning(gpu, file);
      expect(stale.tuning).toBeNull();
      expect(stale.reason).toMatch(/another version of the matmul kernel; run `altreg tune` again/);
      expect(matmulStrategy(gpu)).toEqual(defaultStrategy(gpu));
      await saveTuning(file, mine);
      const applied = applySavedTuning(gpu, file);
      expect(applied.tuning).toEqual(mine);
      expect(applied.reason).toMatch(/^tuned by `altreg tune` on \d{4}-\d\d-\d\d/);
      expect(matmulStrategy(gpu)).toEqual(TILED);
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
});
