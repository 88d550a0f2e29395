// Progress lines without a terminal: every tenth of the run, and at least every LINE_SECONDS so
// that a long run shows it is alive.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EpochRecord } from '../runtime/plan.js';
import { createProgress, LINE_SECONDS } from './progress.js';

const record = (loss: number): EpochRecord => ({ epoch: 0, loss, penalty: 0, mask: [], trainAccuracy: 0.5, weightNorms: {} });

afterEach(() => vi.useRealTimers());

describe('progress lines (stderr not a terminal)', () => {
  it('a line every tenth of the run, and one after LINE_SECONDS even between tenths', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((text) => (lines.push(String(text)), true));
    const tty = process.stderr.isTTY;
    process.stderr.isTTY = false;
    try {
      const progress = createProgress(1000, '1 model', false);
      for (let e = 0; e < 150; e++) progress.epoch(e, [record(0.5)]);
      expect(lines).toEqual(['1 model: epoch 100/1000: loss 0.5000, train acc 0.500\n']);
      vi.advanceTimersByTime(LINE_SECONDS * 1000 - 1);
      progress.epoch(150, [record(0.25)]);
      expect(lines).toHaveLength(1);
      vi.advanceTimersByTime(1);
      progress.epoch(151, [record(0.25), record(0.75)]);
      expect(lines.at(-1)).toBe('1 model: epoch 152/1000: loss 0.5000, train acc 0.500 (mean over models)\n');
    } finally {
      process.stderr.isTTY = tty;
      write.mockRestore();
    }
  });
});
