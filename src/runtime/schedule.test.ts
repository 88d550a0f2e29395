// Each schedule produces exactly the mask sequence of its definition (hand-written sequences).
import { describe, expect, it } from 'vitest';
import { mlpLayout } from '../model/mlp.js';
import { Random } from './random.js';
import { scheduleMasks } from './plan.js';
import { penaltyValue, resolvePenalty, targetSegments } from './penalty.js';
import { Schedule, ScheduleError, parseSchedule, resolveSchedule, scheduleLabel, targetedTensors, type ScheduleSpec, type Targets } from './schedule.js';

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
  it("each term's share of epochs on, over whole cycles, is the README's: alternate 1 − 1/(2T), rotate 1 − 1/T, parity ½", () => {
    for (const t of [1, 2, 3, 4, 5]) {
      const names = Array.from({ length: t }, (_, i) => `dense_${i}/kernel`);
      // 60 epochs: whole cycles of every schedule here (2T and T divide 60 for T ≤ 5, except 2·4 = 8).
      const epochs = t === 4 ? 64 : 60;
      const share = (spec: ScheduleSpec) => {
        const m = masks(spec, names, epochs);
        const shares = names.map((_, i) => m.filter((mask) => mask[i] === '1').length / epochs);
        // Every term is on equally often: the share holds term by term, not just on average.
        for (const s of shares) expect(s).toBe(shares[0]);
        return shares[0];
      };
      expect(share('alternate'), `alternate, T ${t}`).toBeCloseTo(1 - 1 / (2 * t), 12);
      expect(share('rotate'), `rotate, T ${t}`).toBeCloseTo(1 - 1 / t, 12);
      expect(share('parity'), `parity, T ${t}`).toBeCloseTo(0.5, 12);
    }
  });
  it('a function schedule gets the epoch and tensor names, and its result is checked', () => {
    expect(masks((e, names) => names.map((_, i) => i === e % 3), T3, 3)).toEqual(['100', '010', '001']);
    expect(() => masks(() => [true], T3, 1)).toThrow(/returned \[true\] for epoch 0; expected 3 booleans/);
  });
  it('a function schedule whose mask has a hole or a value that is no boolean: refused, naming the index and tensor', () => {
    const sparse = [true, , false] as boolean[];
    expect(() => masks(() => sparse, T3, 1)).toThrow(ScheduleError);
    expect(() => masks(() => sparse, T3, 1)).toThrow(
      'schedule function returned a mask whose index 1 (dense_1/kernel) is a hole (the array is sparse), not a boolean, for epoch 0; expected 3 booleans (dense_0/kernel, dense_1/kernel, dense_2/kernel)',
    );
    // A hole at the end: `new Array(3)` filled only in part.
    const partly = new Array<boolean>(3);
    partly[0] = partly[1] = true;
    expect(() => masks((e) => (e === 1 ? partly : [true, true, true]), T3, 2)).toThrow(/^schedule function returned a mask whose index 2 \(dense_2\/kernel\) is a hole \(the array is sparse\), not a boolean, for epoch 1; /);
    expect(() => masks(() => [true, 1, false] as boolean[], T3, 1)).toThrow(/^schedule function returned a mask whose index 1 \(dense_1\/kernel\) is 1, not a boolean, for epoch 0; /);
    expect(() => masks(() => [true, false, 'on'] as unknown as boolean[], T3, 1)).toThrow(/index 2 \(dense_2\/kernel\) is "on", not a boolean/);
    expect(() => masks(() => [true, 1n, undefined] as unknown as boolean[], T3, 1)).toThrow(/index 1 \(dense_1\/kernel\) is 1n, not a boolean/);
    expect(() => masks(() => [true, true, undefined] as unknown as boolean[], T3, 1)).toThrow(/index 2 \(dense_2\/kernel\) is undefined, not a boolean/);
    // The mask kept is a copy: changing the function's array afterwards changes nothing.
    const shared = [true, false, true];
    const s = new Schedule(() => shared, T3, new Random(1));
    const m = s.mask(0);
    shared[0] = false;
    expect(m).toEqual([true, false, true]);
  });
});

describe('targets and parsing', () => {
  it("kernels first, then biases with 'all'", () => {
    const layout = mlpLayout(4, 3, { hidden: [10, 5], activation: 'relu' });
    expect(targetedTensors(layout, 'kernels')).toEqual(T3);
    expect(targetedTensors(layout, 'all')).toEqual([...T3, 'dense_0/bias', 'dense_1/bias', 'dense_2/bias']);
    // alternate over T = 6 (targets 'all'): epoch 7 drops term 3 = dense_0/bias
    expect(masks('alternate', targetedTensors(layout, 'all'), 8)[7]).toBe('111011');
    // Anything else is named, not read as 'all'.
    expect(() => scheduleMasks(layout, { targets: 'bias' as Targets }, 0, 1)).toThrow(ScheduleError);
    expect(() => scheduleMasks(layout, { targets: 'bias' as Targets }, 0, 1)).toThrow(`penalty.targets must be 'kernels' or 'all', got "bias"`);
  });

  it('the penalty value adds only terms that are on: a float32 Σw² that overflowed does not make it NaN', () => {
    const layout = mlpLayout(4, 3, { hidden: [10], activation: 'relu' });
    const segments = targetSegments(layout, targetedTensors(layout, 'kernels'));
    const sums = [Infinity, 2, 3, 4]; // dense_0/kernel, dense_0/bias, dense_1/kernel, dense_1/bias
    expect(segments).toEqual([0, 2]);
    expect(penaltyValue(resolvePenalty({ lambda: 0.5 }), segments, [false, true], sums)).toBe(0.5 * 3);
    expect(penaltyValue(resolvePenalty({ lambda: 0 }), segments, [true, true], sums)).toBe(0);
    expect(penaltyValue(resolvePenalty({ lambda: 0.5, convention: 'torch' }), segments, [true, true], sums)).toBe(Infinity);
  });
  it('parses names, random:P and early:E, and names what is valid otherwise', () => {
    expect(parseSchedule('alternate')).toBe('alternate');
    expect(parseSchedule('random:0.25')).toEqual({ random: 0.25 });
    expect(parseSchedule('early:10')).toEqual({ early: 10 });
    expect(() => parseSchedule('sometimes')).toThrow(ScheduleError);
    expect(() => parseSchedule('sometimes')).toThrow(/unknown schedule 'sometimes'; valid: constant, none, alternate, rotate, parity, random:P/);
    // A near miss gets the name it was meant to be.
    expect(() => parseSchedule('alternat')).toThrow(/^schedule: unknown schedule 'alternat' \(did you mean alternate\?\); valid: constant, /);
    expect(() => parseSchedule('Rotate ')).toThrow(/unknown schedule 'Rotate ' \(did you mean rotate\?\)/);
    expect(() => parseSchedule('random:1.5')).toThrow(/random:P needs 0 ≤ P ≤ 1, got 1.5/);
    // Decimal numbers only, in text and in objects.
    expect(() => parseSchedule('random:0x1')).toThrow("schedule: random:P needs a number 0 ≤ P ≤ 1, got '0x1'");
    expect(() => parseSchedule('early:')).toThrow(/unknown schedule 'early:'/);
    expect(() => resolveSchedule({ random: '0.5' } as never)).toThrow(/random:P needs 0 ≤ P ≤ 1, got "0.5"/);
    expect(parseSchedule('random:.5')).toEqual({ random: 0.5 });
    expect(parseSchedule('early:1e1')).toEqual({ early: 10 });
    expect(() => parseSchedule('early:-1')).toThrow(/early:E needs an integer E ≥ 0, got -1/);
  });
});

describe('the text forms wherever a schedule is taken', () => {
  it("Schedule and scheduleMasks run 'random:P' and 'early:E' as { random: P } and { early: E }", () => {
    expect(masks('random:0.3', T3, 20, 9)).toEqual(masks({ random: 0.3 }, T3, 20, 9));
    expect(masks('early:2', T3, 4)).toEqual(['111', '111', '000', '000']);
    const layout = mlpLayout(4, 3, { hidden: [10, 5], activation: 'relu' });
    expect(scheduleMasks(layout, { schedule: 'random:0.5' }, 7, 10)).toEqual(scheduleMasks(layout, { schedule: { random: 0.5 } }, 7, 10));
  });
  it('labels are those of the parsed schedule', () => {
    expect(scheduleLabel('random:.50' as ScheduleSpec)).toBe('random:0.5');
    expect(scheduleLabel({ early: 3 })).toBe('early:3');
  });
  it('a schedule object holds one key exactly; bad text names the field', () => {
    expect(() => resolveSchedule({ random: 0.5, early: 3 } as ScheduleSpec, 'penalty.schedule')).toThrow(/^penalty\.schedule: unknown schedule \{"random":0\.5,"early":3\}; valid: /);
    expect(() => resolveSchedule('random:x' as ScheduleSpec, 'penalty.schedule')).toThrow(/^penalty\.schedule: random:P needs a number 0 ≤ P ≤ 1, got 'x'$/);
    expect(() => new Schedule('sometimes' as ScheduleSpec, T3, new Random(1))).toThrow(/^schedule: unknown schedule 'sometimes'/);
  });
});
