// Arms as text (`compare --schedules`, the web app's Compare): schedules, their own λ, refusals.
import { describe, expect, it } from 'vitest';
import { mlpLayout } from '../model/mlp.js';
import { scheduleShares } from '../runtime/plan.js';
import { ScheduleError } from '../runtime/schedule.js';
import { describeLambda, describeMissingControls, matchedControl, missingControls, parseArms } from './arms.js';

describe('parseArms', () => {
  it('reads schedules in every text form, with and without their own λ, in order', () => {
    expect(parseArms(' none, constant ,alternate@0.02,random:0.5@1e-3, early:10@0 ,,', '--schedules', 0.01)).toEqual([
      { name: 'none', schedule: 'none' },
      { name: 'constant', schedule: 'constant' },
      { name: 'alternate@0.02', schedule: 'alternate', lambda: 0.02 },
      { name: 'random:0.5@0.001', schedule: { random: 0.5 }, lambda: 0.001 },
      { name: 'early:10@0', schedule: { early: 10 }, lambda: 0 },
    ]);
    // The largest λ whose 2λ is a float32, and one spelled with spaces around it.
    expect(parseArms('constant@1.7e38, rotate @ 0.5', 'f')).toEqual([
      { name: 'constant@1.7e+38', schedule: 'constant', lambda: 1.7e38 },
      { name: 'rotate@0.5', schedule: 'rotate', lambda: 0.5 },
    ]);
    expect(parseArms(' , ', 'f')).toEqual([]);
  });

  it('refuses a λ that is not a decimal number from 0 to 1.7e38, naming the field and the arm', () => {
    for (const [text, got] of [
      ['constant@', "''"],
      ['constant@-0.1', "'-0.1'"],
      ['constant@1e39', "'1e39'"],
      ['constant@0x1', "'0x1'"],
      ['constant@Infinity', "'Infinity'"],
      ['constant@-0', "'-0'"],
    ]) {
      const f = () => parseArms(`none, ${text}`, '--schedules', 0.01);
      expect(f).toThrow(ScheduleError);
      expect(f).toThrow(`--schedules: the λ after @ in '${text}' must be a number from 0 to 1.7e38 (2λ must fit in a float32), got ${got}`);
    }
    expect(() => parseArms('constant@1e-400', 'f')).toThrow("f: the λ after @ in 'constant@1e-400' is too small to tell from 0; write 0 for no penalty");
    expect(parseArms('constant@0e5, alternate@0.000', 'f').map((a) => a.lambda)).toEqual([0, 0]);
    // The λ is what follows the last @, and what precedes it must be a schedule.
    expect(() => parseArms('constant@0.1@0.2', 'f')).toThrow("f: unknown schedule 'constant@0.1'");
    expect(() => parseArms('constant, @0.1', 'f')).toThrow("f: no schedule before @ in '@0.1'; write schedule@λ, e.g. constant@0.0075");
    expect(() => parseArms('none@0.5, constant', 'f')).toThrow('f: none has no λ (its terms are always off); write none without @');
    expect(() => parseArms('sometimes@0.1', 'f')).toThrow("f: unknown schedule 'sometimes'");
    expect(() => parseArms('random:2@0.1', 'f')).toThrow('f: random:P needs 0 ≤ P ≤ 1, got 2');
  });

  it('refuses an arm listed twice: the same schedule and λ, however it is spelled', () => {
    expect(() => parseArms('none,constant,none', 'f')).toThrow('f: none is listed twice; list each arm once');
    expect(() => parseArms('constant@0.01,constant@1e-2', 'f')).toThrow('f: constant@0.01 is listed twice; list each arm once');
    expect(() => parseArms('random:0.5,random:.5', 'f')).toThrow('f: random:0.5 is listed twice; list each arm once');
    // Without @λ an arm has the comparison's λ, when it is known.
    expect(() => parseArms('constant, constant@0.01', 'f', 0.01)).toThrow('f: constant and constant@0.01 are the same arm (λ 0.01); list each arm once');
    expect(() => parseArms('constant@0.01, constant', 'f', 0.01)).toThrow('f: constant@0.01 and constant are the same arm (λ 0.01); list each arm once');
    expect(parseArms('constant, constant@0.01', 'f', 0.02).map((a) => a.name)).toEqual(['constant', 'constant@0.01']);
    expect(parseArms('constant, constant@0.01', 'f').map((a) => a.name)).toEqual(['constant', 'constant@0.01']);
    expect(parseArms('constant@0.01, alternate@0.01', 'f', 0.01)).toHaveLength(2);
  });

  it("matchedControl: plain L2 at the arm's average strength, from the share of epochs its terms are on", () => {
    const one = mlpLayout(4, 3, { hidden: [10], activation: 'relu' });
    const two = mlpLayout(4, 3, { hidden: [6, 5], activation: 'relu' });
    const control = (text: string, layout = one, epochs = 300, targets: 'kernels' | 'all' = 'kernels') => matchedControl(parseArms(text, 'f')[0], 0.01, layout, targets, epochs)?.name;
    // Two kernels: alternate keeps each on 3 epochs in 4; an arm's own λ is the one scaled.
    expect(matchedControl(parseArms('alternate', 'f')[0], 0.01, one, 'kernels', 300)).toEqual({ name: 'constant@0.0075', schedule: 'constant', lambda: 0.0075 });
    expect(control('alternate@0.02')).toBe('constant@0.015');
    // Three kernels over 6 epochs: rotate keeps each on 2 in 3 (λ to 6 significant digits).
    expect(control('rotate', two, 6)).toBe('constant@0.00666667');
    // Kernels and biases of one hidden layer: four terms, parity keeps each on every other epoch.
    expect(control('parity', one, 300, 'all')).toBe('constant@0.005');
    expect(control('random:0.3')).toBe('constant@0.003');
    expect(control('early:30')).toBe('constant@0.001');
    // Arms that never switch a term over the run are their own control.
    for (const text of ['constant', 'none', 'random:1', 'random:0', 'early:300', 'early:0']) expect(control(text), text).toBeUndefined();
    expect(control('early:299')).toBe('constant@0.00996667');
    // At λ 0 an arm is no penalty at all: nothing to match.
    expect(control('alternate@0')).toBeUndefined();
    expect(matchedControl(parseArms('alternate', 'f')[0], 0, one, 'kernels', 300)).toBeUndefined();
  });

  it('missingControls: the controls a list lacks, once each, in the order of their arms', () => {
    const one = mlpLayout(4, 3, { hidden: [10], activation: 'relu' });
    const missing = (text: string, lambda = 0.01) => missingControls(parseArms(text, 'f', lambda), lambda, one, 'kernels', 300).map((m) => `${m.control.name} for ${m.arms.map((a) => a.name).join(' ')}`);
    // One control for every arm it matches: rotate, parity and early:150 are all on half the time.
    expect(missing('none, constant, alternate, rotate, parity, early:150')).toEqual(['constant@0.0075 for alternate', 'constant@0.005 for rotate parity early:150']);
    expect(describeMissingControls(missingControls(parseArms('rotate, alternate, parity', 'f', 0.01), 0.01, one, 'kernels', 300), 300)).toBe(
      'Missing controls: constant@0.005 is plain L2 as strong on average as rotate and parity; constant@0.0075 as alternate, over 300 epochs. Without them, a gain over plain L2 at the same λ may only mean that λ was too strong.',
    );
    expect(describeMissingControls(missingControls(parseArms('rotate', 'f', 0.01), 0.01, one, 'kernels', 1), 1)).toContain('constant@0.005 is plain L2 as strong on average as rotate, over 1 epoch. Without it');
    // Listed already, however spelled (constant at the comparison's λ included): nothing missing.
    expect(missing('alternate, constant@7.5e-3, rotate@0.02, constant')).toEqual([]);
    expect(missing('rotate@0.02, alternate@0.02', 0.02)).toEqual(['constant@0.01 for rotate@0.02', 'constant@0.015 for alternate@0.02']);
  });

  it('describeLambda: the comparison λ, the arms own, or none at all', () => {
    const heading = (text: string) => describeLambda(parseArms(text, 'f', 0.01), 0.01);
    expect(heading('none, constant, alternate')).toBe('λ 0.01');
    expect(heading('none, constant, constant@0.0075')).toBe("λ 0.01 or the arm's @λ");
    expect(heading('none, constant@0.02, alternate@0.02')).toBe('λ per arm');
    expect(heading('none')).toBe('no penalty');
  });

  it('scheduleShares: per term, over the epochs asked for; random:P gives P', () => {
    const three = mlpLayout(4, 3, { hidden: [6, 5], activation: 'relu' });
    expect(scheduleShares(three, { schedule: 'parity' }, 0, 3).shares).toEqual([2 / 3, 1 / 3, 2 / 3]);
    expect(scheduleShares(three, { schedule: 'alternate' }, 0, 6)).toEqual({ tensors: ['dense_0/kernel', 'dense_1/kernel', 'dense_2/kernel'], shares: [5 / 6, 5 / 6, 5 / 6] });
    expect(scheduleShares(three, { schedule: 'random:0.25' }, 7, 10).shares).toEqual([0.25, 0.25, 0.25]);
    expect(scheduleShares(three, { schedule: 'early:4', targets: 'all' }, 0, 8).shares).toEqual(Array(6).fill(0.5));
    expect(scheduleShares(three, { schedule: 'early:40' }, 0, 8).shares).toEqual([1, 1, 1]);
    for (const epochs of [0, 2.5, NaN]) expect(() => scheduleShares(three, { schedule: 'alternate' }, 0, epochs)).toThrow(`epochs must be an integer ≥ 1, got ${epochs}`);
  });
});
