// Each schedule produces exactly the mask sequence of its definition (hand-written sequences).
import { describe, expect, it } from 'vitest';
import { mlpLayout } from '../model/mlp.js';
import { Random } from './random.js';
import { Schedule, ScheduleError, parseSchedule, targetedTensors, type ScheduleSpec } from './schedule.js';

const T3 = ['dense_0/kernel', 'dense_1/kernel', 'dense_2/kernel'];
const masks = (spec: ScheduleSpec, names: string[], epochs: number, seed = 1) => {
  const s = new Schedule(spec, names, new Random(seed));
  return Array.from({ length: epochs }, (_, e) => s.mask(e).map((on) => (on ? 1 : 0)).join(''));
};

describe('schedules (T = 3 targeted tensors)', () => {
  it('constant and none', () => {
    expect(masks('constant', T3, 3)).toEqual(['111', '111', '111']);
    expect(masks('none', T3, 3)).toEqual(['000', '000', '000']);
  });
  it('alternate: all on in even epochs; odd epoch e drops term ((e − 1) / 2) mod T', () => {
    expect(masks('alternate', T3, 10)).toEqual(['111', '011', '111', '101', '111', '110', '111', '011', '111', '101']);
  });
  it('rotate: term e mod T off every epoch', () => {
    expect(masks('rotate', T3, 6)).toEqual(['011', '101', '110', '011', '101', '110']);
  });
  it('parity: term i on when i mod 2 = e mod 2', () => {
    expect(masks('parity', T3, 4)).toEqual(['101', '010', '101', '010']);
  });
  it('early:E: all on before epoch E, all off from E', () => {
    expect(masks({ early: 2 }, T3, 4)).toEqual(['111', '111', '000', '000']);
    expect(masks({ early: 0 }, T3, 2)).toEqual(['000', '000']);
  });
  it('random:p draws each term from the seeded stream, epoch after epoch', () => {
    const rng = new Random(9);
    const expected = Array.from({ length: 50 }, () => [0, 1, 2].map(() => (rng.next() < 0.3 ? 1 : 0)).join(''));
    expect(masks({ random: 0.3 }, T3, 50, 9)).toEqual(expected);
    expect(masks({ random: 0 }, T3, 3)).toEqual(['000', '000', '000']);
    expect(masks({ random: 1 }, T3, 3)).toEqual(['111', '111', '111']);
    const on = masks({ random: 0.5 }, T3, 400, 4).join('').split('').filter((c) => c === '1').length;
    expect(on / 1200).toBeGreaterThan(0.44);
    expect(on / 1200).toBeLessThan(0.56);
  });
  it('a function schedule gets the epoch and tensor names, and its result is checked', () => {
    expect(masks((e, names) => names.map((_, i) => i === e % 3), T3, 3)).toEqual(['100', '010', '001']);
    expect(() => masks(() => [true], T3, 1)).toThrow(/returned \[true\] for epoch 0; expected 3 booleans/);
  });
});

describe('targets and parsing', () => {
  it("kernels first, then biases with 'all'", () => {
    const layout = mlpLayout(4, 3, { hidden: [10, 5], activation: 'relu' });
    expect(targetedTensors(layout, 'kernels')).toEqual(T3);
    expect(targetedTensors(layout, 'all')).toEqual([...T3, 'dense_0/bias', 'dense_1/bias', 'dense_2/bias']);
    // alternate over T = 6 (targets 'all'): epoch 7 drops term 3 = dense_0/bias
    expect(masks('alternate', targetedTensors(layout, 'all'), 8)[7]).toBe('111011');
  });
  it('parses names, random:P and early:E, and names what is valid otherwise', () => {
    expect(parseSchedule('alternate')).toBe('alternate');
    expect(parseSchedule('random:0.25')).toEqual({ random: 0.25 });
    expect(parseSchedule('early:10')).toEqual({ early: 10 });
    expect(() => parseSchedule('sometimes')).toThrow(ScheduleError);
    expect(() => parseSchedule('sometimes')).toThrow(/unknown schedule 'sometimes'; valid: constant, none, alternate, rotate, parity, random:P/);
    expect(() => parseSchedule('random:1.5')).toThrow(/random:P needs 0 ≤ P ≤ 1, got 1.5/);
    expect(() => parseSchedule('early:-1')).toThrow(/early:E needs an integer E ≥ 0, got -1/);
  });
});
