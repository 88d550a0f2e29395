// The benchmark's timing and tables: GPU timestamps where the adapter has them (the browser
// test, e2e/bench.spec.ts, times real passes on SwiftShader), wall clock everywhere.
import { describe, expect, it } from 'vitest';
import { requestGpu } from '../src/runtime/gpu.js';
import { rateTable, type Row } from './report.js';
import { gpuContender, measureInterleaved, timestampSeconds, type Contender } from './timing.js';

/** A contender whose runs take `wall` seconds each and report `gpu` seconds by timestamps. */
function fake(name: string, wall: number[], gpu?: (number | undefined)[]): Contender {
  let run = -2; // two calibration runs come first
  return {
    name,
    async run() {
      const start = performance.now();
      const ms = wall[Math.max(0, run++)] * 1000;
      while (performance.now() - start < ms);
    },
    ...(gpu ? { gpuSeconds: async () => gpu[run - 1] } : {}),
    dispose() {},
  };
}

describe('timestampSeconds', () => {
  it('is the difference in seconds, undefined for a pair that cannot be a duration', () => {
    expect(timestampSeconds(1_000n, 2_501_000n)).toBe(0.0025);
    expect(timestampSeconds(5n, 5n)).toBe(0);
    expect(timestampSeconds(10n, 9n)).toBeUndefined();
    expect(timestampSeconds(0n, 0n)).toBeUndefined();
  });
});

describe('measureInterleaved', () => {
  it('takes the median of the GPU-timed seconds per operation beside the wall clock', async () => {
    const [m] = await measureInterleaved([fake('a', [0.004, 0.004, 0.004], [0.009, 0.003, 0.006])], { runs: 3, targetSeconds: 0.002, maxReps: 1 });
    expect(m.reps).toBe(1);
    expect(m.gpuSamples).toEqual([0.009, 0.003, 0.006]);
    expect(m.gpuSeconds).toBe(0.006);
    expect(m.seconds).toBeGreaterThanOrEqual(0.004);
  });

  it('gives no GPU time when a run had none, or the contender cannot time', async () => {
    const [partly, never] = await measureInterleaved([fake('a', [0.001, 0.001], [0.0005, undefined]), fake('b', [0.001, 0.001])], { runs: 2, targetSeconds: 0.001, maxReps: 1 });
    expect(partly.gpuSamples).toEqual([0.0005]);
    expect(partly.gpuSeconds).toBeUndefined();
    expect(never.gpuSamples).toBeUndefined();
    expect(never.gpuSeconds).toBeUndefined();
  });
});

describe('rateTable', () => {
  const measured = (name: string, seconds: number, gpuSeconds?: number) => ({ name, seconds, best: seconds, reps: 1, samples: [seconds], ...(gpuSeconds ? { gpuSeconds } : {}) });
  it("adds altreg's rate by GPU timestamps as a last column only when some row has it", () => {
    const rows: Row[] = [
      { name: 'square 256', work: 2e9, results: [measured('altreg', 0.1, 0.08), measured('TF.js', 0.4)] },
      { name: 'square 512', work: 4e9, results: [measured('altreg', 0.5), measured('TF.js', 1)] },
    ];
    expect(rateTable('matmul', 'GFLOP/s', rows).split('\n')).toEqual([
      '| matmul | altreg GFLOP/s | TF.js GFLOP/s | altreg/TF.js | altreg GFLOP/s by GPU timestamps |',
      '| --- | --- | --- | --- | --- |',
      '| square 256 | 20.00 | 5.00 | 4.00× | 25.00 |',
      '| square 512 | 8.00 | 4.00 | 2.00× | – |',
    ]);
    rows[0].results[0] = measured('altreg', 0.1);
    expect(rateTable('matmul', 'GFLOP/s', rows).split('\n')[0]).toBe('| matmul | altreg GFLOP/s | TF.js GFLOP/s | altreg/TF.js |');
  });
});

describe('gpuContender on this adapter', () => {
  it('times by GPU timestamps exactly when the device has timestamp-query', async () => {
    const gpu = await requestGpu({ timestamps: true });
    const before = gpu.liveBuffers;
    const c = gpuContender(gpu, 'noop', () => undefined, () => undefined);
    await c.run(3);
    if (gpu.hasTimestamps) {
      const seconds = await c.gpuSeconds!();
      expect(seconds !== undefined && seconds >= 0 && seconds < 1, `${seconds}`).toBe(true);
    } else {
      // llvmpipe (Dawn's GL backend) has no timestamp-query: wall clock only, and no query set.
      expect(c.gpuSeconds).toBeUndefined();
    }
    c.dispose();
    expect(gpu.liveBuffers).toBe(before);
    gpu.destroy();
  });
});
