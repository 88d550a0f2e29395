// The layout checks its arguments: counts train() accepts, hidden widths and activation.
import { describe, expect, it } from 'vitest';
import { ModelConfigError, mlpLayout } from './mlp.js';

/** The ModelConfigError message of `mlpLayout(features, classes, config)`. */
function layoutError(features: number, classes: number, config = { hidden: [3], activation: 'relu' as const }): string {
  try {
    mlpLayout(features, classes, config);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelConfigError);
    return (e as Error).message;
  }
  throw new Error('mlpLayout did not throw');
}

describe('mlpLayout', () => {
  it('lays out kernels and biases of a 4-3-2 net', () => {
    const layout = mlpLayout(4, 2, { hidden: [3], activation: 'relu' });
    expect(layout.widths).toEqual([4, 3, 2]);
    expect(layout.perModel).toBe(5 * 3 + 4 * 2);
    expect(layout.tensors.map((t) => [t.name, t.offset, t.length])).toEqual([
      ['dense_0/kernel', 0, 12],
      ['dense_0/bias', 12, 3],
      ['dense_1/kernel', 15, 6],
      ['dense_1/bias', 21, 2],
    ]);
  });

  it('needs at least 2 classes and 1 feature, as train() does', () => {
    expect(layoutError(4, 1)).toBe('classes must be an integer ≥ 2, got 1');
    expect(layoutError(4, 2.5)).toBe('classes must be an integer ≥ 2, got 2.5');
    expect(layoutError(0, 3)).toBe('features must be an integer ≥ 1, got 0');
  });

  it('names the bad hidden width or activation', () => {
    expect(layoutError(4, 3, { hidden: [0], activation: 'relu' })).toBe('model.hidden[0] must be an integer in [1, 65536], got 0');
    expect(layoutError(4, 3, { hidden: [3], activation: 'swish' as 'relu' })).toMatch(/^model\.activation must be one of .*; got "swish"$/);
  });
});
