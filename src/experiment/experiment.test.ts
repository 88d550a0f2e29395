// Experiments: the folds partition the data, every arm sees the same folds and seeds (so two
// arms that differ in nothing give identical results), and the text output is exact.
import { describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { fitStandardizer } from '../data/standardize.js';
import { sharedGpu } from '../runtime/gpu.js';
import { TrainOptionsError } from '../runtime/train.js';
import { experimentSplits, runExperiment, type ArmResult, type ExperimentOptions, type ExperimentResult } from './crossval.js';
import { pairedTTest, type PairedTest } from '../metrics/stats.js';
import { logLoss } from '../metrics/classification.js';
import { softmaxRows, softmaxRows64 } from '../runtime/evaluate.js';
import { formatAveragedReport, formatComparison, formatIllDefined, formatInterval, formatMeanStd, formatP, formatPairedDifference, formatSigned } from './format.js';

// The shared device as it is, counted: an aborted experiment must not open one.
vi.mock('../runtime/gpu.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../runtime/gpu.js')>();
  return { ...actual, sharedGpu: vi.fn(actual.sharedGpu) };
});

describe('experiment splits', () => {
  it('k folds: test folds partition the rows; train, validation and test are disjoint', async () => {
    const wine = await loadDataset('wine');
    const splits = experimentSplits({ dataset: wine, model: { hidden: [4], activation: 'relu' }, arms: [], epochs: 1, folds: 5, seed: 7 });
    expect(splits).toHaveLength(5);
    const tested = splits.flatMap((s) => Array.from(s.test)).sort((a, b) => a - b);
    expect(tested).toEqual(Array.from({ length: wine.rows }, (_, i) => i));
    for (const s of splits) {
      const all = [...s.train, ...s.validation, ...s.test];
      expect(new Set(all).size).toBe(wine.rows);
      expect(s.validation.length).toBeGreaterThan(0);
    }
  });
});

describe('runExperiment', () => {
  it('arms differing in nothing give identical folds, seeds and results (paired difference 0, p = 1)', async () => {
    const iris = await loadDataset('iris');
    const r = await runExperiment({
      dataset: iris,
      model: { hidden: [6], activation: 'tanh' },
      arms: [
        { name: 'none', penalty: { lambda: 0.5, schedule: 'none' } },
        { name: 'zero-lambda', penalty: { lambda: 0, schedule: 'constant' } },
        { name: 'constant', penalty: { lambda: 0.5, schedule: 'constant' } },
      ],
      folds: 3,
      epochs: 8,
      optimizer: { lr: 0.02 },
      device: 'cpu',
      seed: 5,
    });
    const [none, zero, constant] = r.arms;
    expect(zero.folds.map((f) => f.history.map((h) => h.loss))).toEqual(none.folds.map((f) => f.history.map((h) => h.loss)));
    expect(zero.versusFirst!.accuracy.p).toBe(1);
    expect(zero.versusFirst!.logLoss.meanDiff).toBe(0);
    // 3 stratified folds of 150 rows: 50 test rows, and 90 of the other 100 fitted on (10 watch
    // the training), so the corrected t-test's ratio is 50/90; its p is larger than the plain test's.
    expect(none.folds.map((f) => [f.testRows, f.trainRows, f.validationRows])).toEqual([[50, 90, 10], [50, 90, 10], [50, 90, 10]]);
    const losses = (arm: typeof none) => arm.folds.map((f) => f.logLoss);
    expect(constant.versusFirst!.logLoss).toEqual(pairedTTest(losses(none), losses(constant), 50 / 90));
    expect(constant.versusFirst!.logLoss.p).toBeGreaterThan(pairedTTest(losses(none), losses(constant)).p);
    expect(constant.folds[0].history[7].loss).not.toBe(none.folds[0].history[7].loss);
    for (const arm of r.arms) {
      for (const f of arm.folds) {
        expect(Array.from(f.test.confusion).reduce((a, b) => a + b, 0)).toBe(f.testRows);
        expect(f.report.accuracy).toBeCloseTo(f.test.accuracy, 12);
      }
    }
  });

  it("log-loss is scikit-learn's on float64 probabilities: a confidently wrong row counts up to 36 nats, not 15.9", async () => {
    // No penalty, a large learning rate: some test rows end up wrong by a margin of more than
    // 15.9 nats, where float32 probabilities would clip (2⁻²³), and more than 36.04 (2⁻⁵²).
    const r = await runExperiment({
      dataset: await loadDataset('wine'),
      model: { hidden: [32], activation: 'relu' },
      arms: [{ name: 'none', penalty: { schedule: 'none' } }],
      folds: 3,
      epochs: 60,
      optimizer: { lr: 0.5 },
      device: 'cpu',
      seed: 1 + Math.floor(Math.random() * 1000),
    });
    const cap = -Math.log(2 ** -52);
    let worst = 0;
    for (const f of r.arms[0].folds) {
      const C = 3;
      // Reference: −log softmax in float64 through log-sum-exp, clipped to [ε, 1 − ε], ε = 2⁻⁵².
      let total = 0;
      f.test.labels.forEach((y, row) => {
        const z = Array.from(f.test.logits.subarray(row * C, row * C + C));
        const top = Math.max(...z);
        const nats = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0)) - z[y];
        worst = Math.max(worst, nats);
        total += Math.min(cap, Math.max(-Math.log1p(-(2 ** -52)), nats));
      });
      expect(f.logLoss).toBeCloseTo(total / f.testRows, 12);
    }
    // Rows past float32's clip were scored (in about 998 seeds of 1000 also past 36.04 nats).
    expect(worst).toBeGreaterThan(-Math.log(2 ** -23));
  });

  it('log-loss clips a row at 36.04 nats (−ln 2⁻⁵²), as scikit-learn on float64 probabilities', () => {
    // Wrong by a margin of 100 (clipped), wrong by 20 (not), right by 30 (≈ 0).
    const logits = Float32Array.from([0, 100, 20, 0, 0, 30]);
    const probabilities = softmaxRows64(logits, 2);
    const expected = (-Math.log(2 ** -52) + (20 + Math.log1p(Math.exp(-20))) + Math.log1p(Math.exp(-30))) / 3;
    expect(logLoss(Uint32Array.from([0, 1, 1]), probabilities, 2)).toBeCloseTo(expected, 12);
    // float32 probabilities clip both wrong rows at 15.94.
    expect(logLoss(Uint32Array.from([0, 1, 1]), softmaxRows(logits, 2), 2)).toBeCloseTo((2 * -Math.log(2 ** -23) + Math.log1p(Math.exp(-30))) / 3, 6);
  });

  it('standardization is fitted on the training rows only', async () => {
    const iris = await loadDataset('iris');
    const o = { dataset: iris, model: { hidden: [3], activation: 'relu' as const }, arms: [{ name: 'c', penalty: { lambda: 0.1 } }], folds: 3, epochs: 1, device: 'cpu' as const, seed: 2 };
    const splits = experimentSplits(o);
    const r = await runExperiment(o);
    // The model's first-epoch loss is reproduced from a standardizer fitted on its training rows alone.
    const trainOnly = fitStandardizer(iris.x, 4, splits[1].train);
    const withTest = fitStandardizer(iris.x, 4, Uint32Array.from([...splits[1].train, ...splits[1].test]));
    expect(Array.from(trainOnly.scale)).not.toEqual(Array.from(withTest.scale));
    const { trainBatch } = await import('../runtime/train.js');
    const again = await trainBatch({
      data: iris,
      model: o.model,
      epochs: 1,
      device: 'cpu',
      models: [{ trainRows: splits[1].train, validationRows: splits[1].validation, standardize: { scale: trainOnly.scale, shift: trainOnly.shift }, penalty: { lambda: 0.1 }, seed: r.arms[0].folds[1].run.checkpoint().manifest.config.seed }],
    });
    expect(again.models[0].history[0].loss).toBe(r.arms[0].folds[1].history[0].loss);
  });
});

describe('runExperiment checks its own options before any work', () => {
  it('names the arm, the key or the field, and what is valid', async () => {
    const iris = await loadDataset('iris');
    const base: ExperimentOptions = { dataset: iris, model: { hidden: [4], activation: 'relu' }, arms: [{ name: 'none', penalty: { schedule: 'none' } }], epochs: 1, device: 'cpu' };
    const cases: [Partial<ExperimentOptions> & Record<string, unknown>, string | RegExp][] = [
      [{ fold: 5 }, /^runExperiment: unknown option fold \(did you mean folds\?\); valid options: dataset, model, arms, folds/],
      [{ arms: [] }, 'arms must list at least one arm { name, penalty }'],
      [{ arms: [{ name: 'x' } as never] }, "arms[0].penalty must be an object (e.g. { lambda: 0.01, schedule: 'alternate' })"],
      [{ arms: [{ name: 'x', penalty: { lamda: 1 } } as never] }, /^unknown option arms\[0\]\.penalty\.lamda \(did you mean arms\[0\]\.penalty\.lambda\?\)/],
      [{ arms: [{ name: 'x', penalty: { schedule: 'bogus' } } as never] }, /^arms\[0\]\.penalty\.schedule/],
      [{ folds: 1 }, 'folds must be an integer ≥ 2 (or absent for one holdout split), got 1'],
      [{ folds: 3, repeats: 0 }, 'repeats must be an integer ≥ 1, got 0'],
      [{ repeats: 2 }, 'repeats repeats k-fold cross-validation with new shuffles: it needs folds'],
      [{ validationFraction: 1 }, 'validationFraction must be in [0, 1), got 1'],
      [{ onEpoch: 3 as never }, 'onEpoch must be a function, got 3'],
      [{ dataset: undefined as never }, 'dataset must be a Dataset (loadDataset, parseCsv)'],
      // Two arms of one name used to give two table rows "a".
      [{ arms: [{ name: 'a', penalty: {} }, { name: 'b', penalty: {} }, { name: 'a', penalty: { lambda: 0.1 } }] }, 'arms[2].name "a" is also the name of arms[0]; every arm needs its own name'],
      [{ signal: {} as never }, 'signal must be an AbortSignal (new AbortController().signal), got Object'],
    ];
    for (const [change, message] of cases) {
      const error = await runExperiment({ ...base, ...change } as ExperimentOptions).catch((e) => e);
      expect(error, JSON.stringify(change)).toBeInstanceOf(TrainOptionsError);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
    }
    const notObject = await runExperiment(null as never).catch((e) => e);
    expect(notObject).toBeInstanceOf(TrainOptionsError);
    expect(notObject.message).toMatch(/^runExperiment: options must be an object with keys dataset, model, arms, .*, got null$/);
    // The splits alone need no arms.
    expect(experimentSplits({ dataset: iris, folds: 3 } as never)).toHaveLength(3);
  });
});

describe('runExperiment checks every batch before the first trains', () => {
  it("a decoupled arm's bad resume is refused before the coupled arms train", async () => {
    const iris = await loadDataset('iris');
    const model = { hidden: [4], activation: 'relu' as const };
    const first = await runExperiment({ dataset: iris, model, arms: [{ name: 'd', penalty: { lambda: 0.1, mode: 'decoupled' } }], folds: 2, epochs: 1, device: 'cpu' });
    // The decoupled arm (second batch) resumes checkpoints of another λ; the coupled arm starts fresh.
    const epochs: number[] = [];
    const error = await runExperiment({
      dataset: iris,
      model,
      arms: [
        { name: 'c', penalty: { lambda: 0.1 } },
        { name: 'd', penalty: { lambda: 0.2, mode: 'decoupled' } },
      ],
      folds: 2,
      epochs: 1,
      device: 'cpu',
      resume: (arm, fold) => (arm === 1 ? first.arms[0].folds[fold].run.checkpoint() : undefined),
      onEpoch: (epoch) => void epochs.push(epoch),
    }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainOptionsError);
    expect(error.message).toMatch(/^arms\[1\] \(d fold 0\)\.resume: the checkpoint was trained with penalty\.lambda 0\.1, these options give 0\.2; /);
    expect(epochs).toEqual([]);
  });
});

describe('runExperiment from the package', () => {
  it('is exported with its formatter, and its signal stops it with the reason', async () => {
    const altreg = await import('../index.js');
    expect([typeof altreg.runExperiment, typeof altreg.experimentSplits, typeof altreg.formatComparison]).toEqual(['function', 'function', 'function']);
    const iris = await loadDataset('iris');
    const controller = new AbortController();
    let epochs = 0;
    const error = await altreg
      .runExperiment({
        dataset: iris,
        model: { hidden: [4], activation: 'relu' },
        arms: [{ name: 'none', penalty: { schedule: 'none' } }],
        folds: 2,
        epochs: 10_000,
        device: 'cpu',
        signal: controller.signal,
        onEpoch: () => {
          if (++epochs === 3) controller.abort(new Error('enough'));
        },
      })
      .catch((e: Error) => e);
    expect((error as Error).message).toBe('enough');
    expect(epochs).toBeLessThan(10_000);
  });
});

describe('runExperiment: an async onEpoch and an aborted signal', () => {
  const options = async (): Promise<ExperimentOptions> => ({
    dataset: await loadDataset('iris'),
    model: { hidden: [4], activation: 'relu' },
    arms: [{ name: 'none', penalty: { schedule: 'none' } }],
    folds: 2,
    epochs: 3,
  });

  it('a rejecting onEpoch rejects runExperiment with its error; each call is awaited', async () => {
    const rejected = new Error('listener failed');
    const events: string[] = [];
    const error = await runExperiment({
      ...(await options()),
      device: 'cpu',
      onEpoch: async (epoch) => {
        events.push(`start ${epoch}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
        events.push(`end ${epoch}`);
        if (epoch === 1) throw rejected;
      },
    }).catch((e) => e);
    expect(error).toBe(rejected);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1']);
  });

  it('an already aborted signal stops it before any work or device', async () => {
    const controller = new AbortController();
    const reason = new Error('aborted before the start');
    controller.abort(reason);
    vi.mocked(sharedGpu).mockClear();
    const resume = vi.fn(() => undefined);
    for (const device of ['auto', 'gpu'] as const) {
      await expect(runExperiment({ ...(await options()), device, signal: controller.signal, resume })).rejects.toBe(reason);
    }
    expect(sharedGpu).not.toHaveBeenCalled();
    expect(resume).not.toHaveBeenCalled();
  });
});

describe('experiment text', () => {
  const ms = (mean: number, std: number) => ({ mean, std });
  const row = (v: number) => ({ precision: ms(v, 0.1), recall: ms(v, 0.05), f1: ms(v, 0.02), support: ms(5, 0) });
  const paired = (meanDiff: number, p: number, ci95 = [meanDiff - 0.02, meanDiff + 0.02]) => ({ n: 3, meanDiff, stdDiff: 0.01, t: 1, df: 2, p, ci95 });
  const result = {
    device: 'cpu',
    adapter: null,
    folds: 3,
    repeats: 1,
    seconds: 1,
    arms: [
      { arm: { name: 'none', penalty: {} }, accuracy: ms(0.9, 0.05), macroF1: ms(0.89, 0.06), logLoss: ms(0.25, 0.1), report: { reports: 3, classes: [{ name: 'a', ...row(0.9) }, { name: 'bb', ...row(0.8) }], accuracy: ms(0.85, 0.05), macroAvg: row(0.85), weightedAvg: row(0.85) }, folds: [] },
      { arm: { name: 'alternate', penalty: {} }, accuracy: ms(0.95, 0.04), macroF1: ms(0.949, 0.041), logLoss: ms(0.2, 0.09), report: null, folds: [], versusFirst: { accuracy: paired(0.05, 0.0412), macroF1: paired(0.05, 0.05), logLoss: paired(-0.05, 0.0004) } },
    ],
  } as unknown as ExperimentResult;

  it('comparison table (hand-checked)', () => {
    expect(formatComparison(result)).toBe(
      [
        'schedule        accuracy       macro-F1       log-loss  Δ accuracy vs none         Δ log-loss',
        '---------  -------------  -------------  -------------  ------------------  -----------------',
        'none       0.900 ± 0.050  0.890 ± 0.060  0.250 ± 0.100                   —                  —',
        'alternate  0.950 ± 0.040  0.949 ± 0.041  0.200 ± 0.090    +0.050 (p 0.041)  -0.050 (p <0.001)',
        '',
        'mean ± std over 3-fold cross-validation test folds; Δ = arm − none over the same folds (higher accuracy, lower log-loss is better), p from a two-sided paired t-test, the 2 tests not adjusted for multiplicity.',
        '',
        'schedule   Δ accuracy vs none, 95% CI  Δ log-loss, 95% CI',
        '---------  --------------------------  ------------------',
        'alternate             +0.030 … +0.070     -0.070 … -0.030',
        '',
        'p ≥ 0.05 is no evidence of a difference, and no evidence that there is none: the 95% confidence interval (same correction) is how large a difference the folds cannot rule out.',
      ].join('\n'),
    );
  });

  it('the footnote names the corrected test when the differences were tested with it', () => {
    const corrected = structuredClone(result);
    for (const t of Object.values(corrected.arms[1].versusFirst!)) t.testTrainRatio = 0.5;
    expect(formatComparison(corrected).split('\n')[5]).toBe(
      "mean ± std over 3-fold cross-validation test folds; Δ = arm − none over the same folds (higher accuracy, lower log-loss is better), p from a two-sided corrected resampled t-test (Nadeau & Bengio: the folds' training rows overlap), the 2 tests not adjusted for multiplicity.",
    );
  });

  it('paired-difference cells: signed; a difference too small for the digits keeps its sign in two significant digits; p never rounds across 0.05', () => {
    const cell = (meanDiff: number, p = 0.5) => formatPairedDifference({ meanDiff, p } as PairedTest);
    // -0.0003 with p < 0.001 printed "0.000 (p <0.001)": a significant difference with no direction.
    expect([cell(0.5), cell(-0.0123), cell(-0.0004, 0.812), cell(0.0004), cell(0), cell(-0.0002, NaN), cell(0.0006, 0.0004), cell(-0.0003, 0.0002), cell(-1e-9)]).toEqual([
      '+0.500 (p 0.500)',
      '-0.012 (p 0.500)',
      '-0.00040 (p 0.812)',
      '+0.00040 (p 0.500)',
      '0.000 (p 0.500)',
      '-0.00020 (p n/a)',
      '+0.001 (p <0.001)',
      '-0.00030 (p <0.001)',
      '-1.0e-9 (p 0.500)',
    ]);
    expect([0.0496, 0.04996, 0.0504, 0.05, 0.0499999999, 0.012, 0.9994, 0.04999999999999, NaN].map(formatP)).toEqual([
      '0.0496',
      '0.04996',
      '0.050',
      '0.050',
      '0.0499999999',
      '0.012',
      '0.999',
      '<0.05',
      'n/a',
    ]);
    expect(formatInterval({ ci95: [-0.0163, 0.0291] } as PairedTest)).toBe('-0.016 … +0.029');
    expect(formatInterval({ ci95: [NaN, NaN] } as PairedTest)).toBe('n/a');
    expect([NaN, Infinity, -Infinity, 1e-20, -0].map((v) => formatSigned(v))).toEqual(['nan', 'inf', '-inf', '+1.0e-20', '0.000']);
    expect(formatMeanStd({ mean: 0.9, std: NaN })).toBe('0.900');
  });

  it('ill-defined scores are listed with the folds they came from, each fold counted once', () => {
    const recall = 'Recall is ill-defined and being set to 0.0 in classes with no true samples: "z" (2)';
    const precision = 'Precision is ill-defined and being set to 0.0 in classes with no predicted samples: "y" (1)';
    const fold = (...warnings: string[]) => ({ report: { warnings } });
    const arm = (folds: object[]) => ({ folds }) as unknown as ArmResult;
    expect(formatIllDefined(arm([fold(), fold()]))).toBe('');
    expect(formatIllDefined(arm([fold(recall), fold(), fold(recall, precision, recall)]))).toBe(
      "Ill-defined scores were set to 0.0 (scikit-learn's zero_division default) and count as 0 in the macro average:\n" +
        `  ${recall} (2 of 3 test folds)\n  ${precision} (1 of 3 test folds)\n`,
    );
    // A list of thousands of classes (a column of ids) is cut after 8, with their number.
    const ids = Array.from({ length: 5900 }, (_, i) => i);
    const long = { report: { warnings: [`Recall is ill-defined and being set to 0.0 in classes with no true samples: ${ids.join(', ')}`], illDefined: [{ metric: 'recall', classes: ids }] } };
    expect(formatIllDefined(arm([long, long]))).toBe(
      "Ill-defined scores were set to 0.0 (scikit-learn's zero_division default) and count as 0 in the macro average:\n" +
        '  Recall is ill-defined and being set to 0.0 in classes with no true samples: 0, 1, 2, 3, 4, 5, 6, 7, … (5900 classes) (2 of 2 test folds)\n',
    );
    // One holdout set: the messages alone.
    expect(formatIllDefined(arm([fold(precision)]))).toBe(`Ill-defined scores were set to 0.0 (scikit-learn's zero_division default) and count as 0 in the macro average:\n  ${precision}\n`);
  });

  it('averaged report in scikit-learn layout with mean ± std cells', () => {
    expect(formatAveragedReport(result.arms[0].report)).toBe(
      [
        '               precision      recall    f1-score     support',
        '',
        '           a 0.90 ± 0.10 0.90 ± 0.05 0.90 ± 0.02   5.0 ± 0.0',
        '          bb 0.80 ± 0.10 0.80 ± 0.05 0.80 ± 0.02   5.0 ± 0.0',
        '',
        '    accuracy                         0.85 ± 0.05   5.0 ± 0.0',
        '   macro avg 0.85 ± 0.10 0.85 ± 0.05 0.85 ± 0.02   5.0 ± 0.0',
        'weighted avg 0.85 ± 0.10 0.85 ± 0.05 0.85 ± 0.02   5.0 ± 0.0',
        '',
      ].join('\n'),
    );
  });
});
