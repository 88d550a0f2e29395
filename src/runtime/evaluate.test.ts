// Evaluation in chunks: rows that would not fit one storage binding are evaluated a chunk at a
// time, and the joined result is the one-pass result.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { glorotInit, mlpLayout } from '../model/mlp.js';
import { testGpu } from '../testing/gpu.js';
import { evaluateModels } from './evaluate.js';

describe('evaluateModels in chunks', () => {
  it('gives the one-pass evaluation, also for models with fewer rows than others, and frees its buffers', async () => {
    const gpu = await testGpu();
    const iris = await loadDataset('iris');
    const layout = mlpLayout(4, 3, { hidden: [10], activation: 'relu' });
    const params = [0, 1].map((seed) => glorotInit(layout, seed));
    const everyRow = Uint32Array.from({ length: 150 }, (_, i) => i);
    const some = Uint32Array.from({ length: 40 }, (_, i) => (i * 7) % 150);
    const rows = [everyRow, some];
    const whole = await evaluateModels(gpu, layout, params, iris, rows);
    const before = gpu.liveBuffers;
    // 2 models × 10 values (the widest per-row buffer, the hidden layer) × 4 bytes × 7 rows.
    const chunked = await evaluateModels(gpu, layout, params, iris, rows, undefined, 2 * 10 * 4 * 7);
    expect(gpu.liveBuffers).toBe(before);
    const cpu = await evaluateModels(null, layout, params, iris, rows);
    // On the CPU too, in chunks of 7 rows: the same evaluation as in one pass.
    const cpuChunked = await evaluateModels(null, layout, params, iris, rows, undefined, 2 * 10 * 4 * 7);
    for (const m of [0, 1]) {
      const [a, b, c] = [whole[m], chunked[m], cpu[m]];
      expect(b.rows).toBe(rows[m].length);
      expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
      expect(Array.from(b.predictions)).toEqual(Array.from(a.predictions));
      expect(Array.from(b.labels)).toEqual(Array.from(rows[m], (r) => iris.y[r]));
      expect(Array.from(b.confusion)).toEqual(Array.from(a.confusion));
      expect(Array.from(b.confusion)).toEqual(Array.from(c.confusion));
      expect(b.accuracy).toBeCloseTo(a.accuracy, 12);
      expect(Math.abs(b.loss - c.loss) / c.loss).toBeLessThan(1e-5);
      expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-6);
      const d = cpuChunked[m];
      expect({ ...d, loss: 0, accuracy: 0 }).toEqual({ ...c, loss: 0, accuracy: 0 });
      expect(d.loss).toBeCloseTo(c.loss, 12);
      expect(d.accuracy).toBeCloseTo(c.accuracy, 12);
    }
  });

  it('says so when not even one row fits a binding', async () => {
    const gpu = await testGpu();
    const iris = await loadDataset('iris');
    const layout = mlpLayout(4, 3, { hidden: [10], activation: 'relu' });
    const params = [glorotInit(layout, 0)];
    await expect(evaluateModels(gpu, layout, params, iris, [Uint32Array.of(0)], undefined, 16)).rejects.toThrow(/^evaluating 1 models of 10 values per row needs more than .+'s storage binding of 16 bytes$/);
    // The CPU path chunks by the same measure (64 MiB by default).
    await expect(evaluateModels(null, layout, params, iris, [Uint32Array.of(0)], undefined, 16)).rejects.toThrow(/^evaluating 1 models of 10 values per row needs more than a chunk of 16 bytes$/);
  });
});
