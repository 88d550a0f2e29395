// The package entry exports what README's Library section documents and every error class a
// public function throws, so that callers can tell errors apart with instanceof.
import { describe, expect, it } from 'vitest';
import * as altreg from './index.js';

describe('package entry', () => {
  it('exports every error class, each named after itself', () => {
    const errors = [
      'CheckpointError',
      'CsvError',
      'DatasetError',
      'DivergenceError',
      'GpuError',
      'KernelInputError',
      'MetricsError',
      'ModelConfigError',
      'PenaltyConfigError',
      'SafetensorsError',
      'ScheduleError',
      'SplitError',
      'TrainOptionsError',
    ] as const;
    for (const name of errors) {
      const ErrorClass = altreg[name] as unknown as new (message: string) => Error;
      expect(typeof ErrorClass, name).toBe('function');
      const error = new ErrorClass('x');
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
    }
    // Every exported class whose name ends in Error is in the list above.
    expect(Object.keys(altreg).filter((k) => k.endsWith('Error')).sort()).toEqual([...errors]);
  });

  it('the errors thrown by public functions are the exported classes', () => {
    expect(() => altreg.mlpLayout(4, 3, { hidden: [0], activation: 'relu' })).toThrow(altreg.ModelConfigError);
    expect(() => altreg.pairedTTest([1, NaN], [2, 3])).toThrow(altreg.MetricsError);
  });

  it('exports pairedTTest', () => {
    const r = altreg.pairedTTest([10, 10, 10, 10], [11, 12, 13, 14]);
    expect([r.n, r.df, r.meanDiff]).toEqual([4, 3, 2.5]);
    expect(r.p).toBeCloseTo(0.030466, 5);
  });
});
