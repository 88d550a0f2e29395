import { describe, expect, it } from 'vitest';
import {
  MetricsError,
  accuracy,
  averageReports,
  classificationReport,
  confusionMatrix,
  formatFixed,
  logLoss,
  meanStd,
  precisionRecallFscoreSupport,
} from './classification.js';

describe('confusionMatrix and accuracy', () => {
  it('rows are true classes, columns predictions (scikit-learn docstring example)', () => {
    const m = confusionMatrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2], 3);
    expect(Array.from(m)).toEqual([2, 0, 0, 0, 0, 1, 1, 0, 2]);
    expect(m).toBeInstanceOf(Uint32Array);
  });

  it('has a zero row and column for a class that never occurs', () => {
    expect(Array.from(confusionMatrix(Uint32Array.of(0, 1), Uint32Array.of(0, 0), 3))).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('accuracy is the fraction of matching rows', () => {
    expect(accuracy([0, 1, 2, 3], [0, 2, 1, 3])).toBe(0.5);
    expect(accuracy(Uint32Array.of(1, 1, 1), Uint32Array.of(1, 1, 1))).toBe(1);
  });

  it('rejects mismatched lengths, empty input and ids outside the classes', () => {
    expect(() => accuracy([0, 1], [0])).toThrow(MetricsError);
    expect(() => accuracy([0, 1], [0])).toThrow('accuracy: yTrue has 2 rows but yPred has 1; they must match');
    expect(() => accuracy([], [])).toThrow('accuracy: no rows; need at least one');
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow('confusionMatrix: yTrue[1] = 3; expected an integer in 0..2');
    expect(() => confusionMatrix([0, 1], [0, -1], 3)).toThrow('confusionMatrix: yPred[1] = -1; expected an integer in 0..2');
  });
});

describe('precisionRecallFscoreSupport', () => {
  it('perfect predictions: every score 1, no warnings', () => {
    const r = precisionRecallFscoreSupport([0, 1, 2, 2], [0, 1, 2, 2], 3);
    for (const v of [r.precision, r.recall, r.f1]) expect(Array.from(v)).toEqual([1, 1, 1]);
    expect(Array.from(r.support)).toEqual([1, 1, 2]);
    expect(r.macro).toEqual({ precision: 1, recall: 1, f1: 1 });
    expect(r.weighted).toEqual({ precision: 1, recall: 1, f1: 1 });
    expect(r.illDefined).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('matches the scikit-learn docstring example (cat, dog, pig)', () => {
    // y_true = [cat, dog, pig, cat, dog, pig], y_pred = [cat, pig, dog, cat, cat, dog].
    const r = precisionRecallFscoreSupport([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], 3);
    expect(Array.from(r.precision)).toEqual([2 / 3, 0, 0]);
    expect(Array.from(r.recall)).toEqual([1, 0, 0]);
    expect(Array.from(r.f1)).toEqual([0.8, 0, 0]);
    expect(r.macro.precision).toBeCloseTo(0.2222222, 6);
    expect(r.macro.recall).toBeCloseTo(0.3333333, 6);
    expect(r.macro.f1).toBeCloseTo(0.2666667, 6);
    expect(r.illDefined).toEqual([]); // dog and pig are predicted and occur: 0, but defined
  });

  it('a class never predicted: precision 0 with a warning; recall and F1 0 and defined', () => {
    const r = precisionRecallFscoreSupport([0, 0, 1, 1], [0, 0, 0, 0], 2);
    expect(Array.from(r.precision)).toEqual([0.5, 0]);
    expect(Array.from(r.recall)).toEqual([1, 0]);
    expect(Array.from(r.f1)).toEqual([2 / 3, 0]);
    expect(r.illDefined).toEqual([{ metric: 'precision', classes: [1] }]);
    expect(r.warnings).toEqual(['Precision is ill-defined and being set to 0.0 in classes with no predicted samples: 1']);
    expect(r.weighted.precision).toBe(0.25);
  });

  it('a class absent from yTrue: recall 0 with a warning; absent everywhere: all three warn', () => {
    const r = precisionRecallFscoreSupport([0, 0, 0, 0], [0, 0, 1, 0], 3);
    expect(Array.from(r.precision)).toEqual([1, 0, 0]);
    expect(Array.from(r.recall)).toEqual([0.75, 0, 0]);
    expect(Array.from(r.support)).toEqual([4, 0, 0]);
    expect(r.illDefined).toEqual([
      { metric: 'precision', classes: [2] },
      { metric: 'recall', classes: [1, 2] },
      { metric: 'f-score', classes: [2] },
    ]);
    expect(r.warnings[2]).toBe('F-score is ill-defined and being set to 0.0 in classes with no true nor predicted samples: 2');
    // Macro averages include the empty classes as 0; weighted ones weight them by support 0.
    expect(r.macro.recall).toBe(0.25);
    expect(r.weighted).toEqual({ precision: 1, recall: 0.75, f1: 6 / 7 });
  });
});

describe('logLoss', () => {
  it('matches the scikit-learn docstring example (0.21616…) by hand', () => {
    // ham = 0, spam = 1; y = [spam, ham, ham, spam]; −(ln .9 + ln .9 + ln .8 + ln .65)/4.
    const p = Float64Array.of(0.1, 0.9, 0.9, 0.1, 0.8, 0.2, 0.35, 0.65);
    const expected = -(Math.log(0.9) * 2 + Math.log(0.8) + Math.log(0.65)) / 4;
    expect(logLoss([1, 0, 0, 1], p, 2)).toBeCloseTo(expected, 15);
    expect(expected).toBeCloseTo(0.2161619, 7);
  });

  it('three classes: −ln of each true class probability, averaged', () => {
    const p = Float64Array.of(0.7, 0.2, 0.1, 0.25, 0.5, 0.25);
    expect(logLoss(Uint32Array.of(0, 2), p, 3)).toBeCloseTo((-Math.log(0.7) - Math.log(0.25)) / 2, 15);
  });

  it('clips to [ε, 1 − ε] with ε the machine epsilon of the array type', () => {
    expect(logLoss([0], Float64Array.of(0, 1), 2)).toBeCloseTo(52 * Math.LN2, 12); // −ln 2^-52 = 36.04…
    expect(logLoss([0], Float32Array.of(0, 1), 2)).toBeCloseTo(23 * Math.LN2, 12); // −ln 2^-23 = 15.94…
    expect(logLoss([1], Float64Array.of(0, 1), 2)).toBeCloseTo(2 ** -52, 20);
    expect(logLoss([1], Float32Array.of(0, 1), 2)).toBeCloseTo(-Math.log(1 - 2 ** -23), 20);
  });

  it('does not renormalize rows; warns when a row does not sum to one', () => {
    const warnings: string[] = [];
    expect(logLoss([0, 1], Float64Array.of(0.5, 0.4, 0.3, 0.7), 2, { warnings })).toBeCloseTo(
      (-Math.log(0.5) - Math.log(0.7)) / 2,
      15,
    );
    expect(warnings).toEqual(['logLoss: the probabilities of 1 row do not sum to one (row 0 sums to 0.9); make sure to pass probabilities']);
    // float32 softmax rounding is well within the float32 tolerance √ε ≈ 3.5e-4.
    const quiet: string[] = [];
    logLoss([0], Float32Array.of(0.3333333, 0.3333333, 0.3333333), 3, { warnings: quiet });
    expect(quiet).toEqual([]);
  });

  it('rejects NaN, a wrong size and fewer than two classes', () => {
    expect(() => logLoss([0], Float32Array.of(NaN, 1), 2)).toThrow('logLoss: probability of row 0, class 0 is NaN; expected a finite number');
    expect(() => logLoss([0, 1], Float32Array.of(0.5, 0.5), 2)).toThrow(
      'logLoss: probabilities has 2 values, expected rows × classes = 2 × 2 = 4',
    );
    expect(() => logLoss([0], Float32Array.of(1), 1)).toThrow('logLoss: classes must be an integer ≥ 2, got 1');
    expect(() => logLoss([2], Float32Array.of(0.5, 0.5), 2)).toThrow('logLoss: yTrue[0] = 2; expected an integer in 0..1');
  });
});

// A misspelt option used to be ignored: `{ warning: [] }` collected nothing, `{ digit: 3 }` printed 2 decimals.
describe('unknown options are refused, as train() refuses them', () => {
  const p = Float64Array.of(0.5, 0.4, 0.3, 0.7);
  const refuses = (fn: () => unknown, message: string) => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MetricsError);
    expect((error as Error).message).toBe(message);
  };

  it('logLoss', () => {
    refuses(() => logLoss([0, 1], p, 2, { warning: [] } as never), 'logLoss: unknown option warning (did you mean warnings?); valid options: warnings');
    refuses(() => logLoss([0, 1], p, 2, { warnings: 'log' } as never), 'logLoss: options.warnings must be an array (messages are pushed onto it), got "log"');
    refuses(() => logLoss([0, 1], p, 2, null as never), 'logLoss: options must be an object with keys warnings, got null');
  });

  it('classificationReport', () => {
    refuses(() => classificationReport([0, 1], [0, 1], { labels: [0, 1] } as never), 'classificationReport: unknown option labels; valid options: classes, targetNames, digits');
    refuses(() => classificationReport([0, 1], [0, 1], { digit: 3 } as never), 'classificationReport: unknown option digit (did you mean digits?); valid options: classes, targetNames, digits');
    refuses(() => classificationReport([0, 1], [0, 1], { target_names: ['a', 'b'] } as never), 'classificationReport: unknown option target_names (did you mean targetNames?); valid options: classes, targetNames, digits');
    expect(classificationReport([0, 1], [0, 1], { digits: 3, classes: 2, targetNames: ['a', 'b'] }).text).toContain('1.000');
  });
});

describe('classificationReport', () => {
  it('prints exactly what scikit-learn prints for its docstring example', () => {
    const r = classificationReport([0, 1, 2, 2, 2], [0, 0, 2, 2, 1], { targetNames: ['class 0', 'class 1', 'class 2'] });
    expect(r.text).toBe(
      [
        '              precision    recall  f1-score   support',
        '',
        '     class 0       0.50      1.00      0.67         1',
        '     class 1       0.00      0.00      0.00         1',
        '     class 2       1.00      0.67      0.80         3',
        '',
        '    accuracy                           0.60         5',
        '   macro avg       0.50      0.56      0.49         5',
        'weighted avg       0.70      0.60      0.61         5',
        '',
      ].join('\n'),
    );
    expect(r.accuracy).toBe(0.6);
    expect(r.classes[2]).toEqual({ name: 'class 2', precision: 1, recall: 2 / 3, f1: 0.8, support: 3 });
    expect(r.warnings).toEqual([]);
  });

  it('hand-checked: long name, 3 digits, a class never predicted, a class only predicted, a tie', () => {
    // cat: tp 1, predicted 3, true 2 → P 1/3, R 1/2, F 2/5. dog: never predicted → P 0 (warns).
    // hippopotamuses: tp 3 of 4 predicted, 4 true → 0.75. eel: predicted once, never true → R 0 (warns).
    // macro R = (0.5 + 0.75)/4 = 0.3125 exactly: a tie that Python rounds to even (0.312).
    // macro F = 1.15/4 is the double 0.28749999999999997…, so 0.287.
    // weighted (supports 2, 2, 4, 0): P = (2/3 + 3)/8 = 0.458, R = 4/8, F = (0.8 + 3)/8 = 0.475.
    const names = ['cat', 'dog', 'hippopotamuses', 'eel'];
    const r = classificationReport([0, 0, 1, 1, 2, 2, 2, 2], [0, 3, 0, 2, 2, 2, 2, 0], { targetNames: names, digits: 3 });
    expect(r.text).toBe(
      [
        '                precision    recall  f1-score   support',
        '',
        '           cat      0.333     0.500     0.400         2',
        '           dog      0.000     0.000     0.000         2',
        'hippopotamuses      0.750     0.750     0.750         4',
        '           eel      0.000     0.000     0.000         0',
        '',
        '      accuracy                          0.500         8',
        '     macro avg      0.271     0.312     0.287         8',
        '  weighted avg      0.458     0.500     0.475         8',
        '',
      ].join('\n'),
    );
    expect(r.warnings).toEqual([
      'Precision is ill-defined and being set to 0.0 in classes with no predicted samples: "dog" (1)',
      'Recall is ill-defined and being set to 0.0 in classes with no true samples: "eel" (3)',
    ]);
    expect(r.macroAvg).toEqual({ precision: (1 / 3 + 0.75) / 4, recall: 0.3125, f1: 1.15 / 4, support: 8 });
  });

  it('lists every class 0..classes−1 when asked and, like scikit-learn ≥ 1.5, still prints "accuracy"', () => {
    // yTrue = [0, 0, 0], yPred = [0, 0, 1], classes 3: class 2 never occurs. scikit-learn before
    // 1.5 printed "micro avg       0.67      0.67      0.67         3" here.
    const r = classificationReport([0, 0, 0], [0, 0, 1], { classes: 3 });
    expect(r.text).toBe(
      [
        '              precision    recall  f1-score   support',
        '',
        '           0       1.00      0.67      0.80         3',
        '           1       0.00      0.00      0.00         0',
        '           2       0.00      0.00      0.00         0',
        '',
        '    accuracy                           0.67         3',
        '   macro avg       0.33      0.22      0.27         3',
        'weighted avg       1.00      0.67      0.80         3',
        '',
      ].join('\n'),
    );
    expect(r.warnings).toEqual([
      'Precision is ill-defined and being set to 0.0 in classes with no predicted samples: 2',
      'Recall is ill-defined and being set to 0.0 in classes with no true samples: 1, 2',
      'F-score is ill-defined and being set to 0.0 in classes with no true nor predicted samples: 2',
    ]);
    const rows = classificationReport([0, 0, 1, 1], [0, 0, 0, 0], { classes: 3 }).text.split('\n');
    expect(rows.slice(6, 9)).toEqual([
      '    accuracy                           0.50         4',
      '   macro avg       0.17      0.33      0.22         4',
      'weighted avg       0.25      0.50      0.33         4',
    ]);
  });

  it('without classes or names lists only the ids present, as scikit-learn does', () => {
    const r = classificationReport([0, 2, 2], [0, 2, 0]);
    expect(r.classes.map((c) => c.name)).toEqual(['0', '2']);
    expect(r.text.split('\n')[5]).toBe('    accuracy                           0.67         3');
  });

  it('perfect predictions', () => {
    const r = classificationReport([0, 1, 1], [0, 1, 1], { targetNames: ['a', 'b'], digits: 0 });
    expect(r.text.split('\n')[2]).toBe('           a          1         1         1         1');
    expect(r.weightedAvg).toEqual({ precision: 1, recall: 1, f1: 1, support: 3 });
  });

  it('rejects names that do not match the classes and bad digits', () => {
    expect(() => classificationReport([0], [0], { classes: 2, targetNames: ['a'] })).toThrow(
      'classificationReport: 1 targetNames for 2 classes; give one name per class',
    );
    expect(() => classificationReport([0, 2], [0, 1], { targetNames: ['a', 'b'] })).toThrow(
      'classificationReport: yTrue[1] = 2; expected an integer in 0..1',
    );
    expect(() => classificationReport([0], [0], { digits: -1 })).toThrow('digits must be an integer ≥ 0, got -1');
  });
});

describe('formatFixed', () => {
  it('rounds exact ties to even like Python, everything else like toFixed', () => {
    expect(formatFixed(0.125, 2)).toBe('0.12');
    expect(formatFixed(0.375, 2)).toBe('0.38');
    expect(formatFixed(0.625, 2)).toBe('0.62');
    expect(formatFixed(0.3125, 3)).toBe('0.312');
    expect(formatFixed(2.5, 0)).toBe('2');
    expect(formatFixed(1.5, 0)).toBe('2');
    expect(formatFixed(-0.125, 2)).toBe('-0.12');
    expect(formatFixed(0.1 + 0.2, 2)).toBe('0.30');
    expect(formatFixed(2 / 3, 2)).toBe('0.67');
    expect(formatFixed(0.135, 2)).toBe('0.14'); // the double is above 0.135: not a tie
    expect(formatFixed(1, 4)).toBe('1.0000');
    expect(formatFixed(NaN, 2)).toBe('nan');
  });
});

describe('meanStd and averageReports', () => {
  it('meanStd uses the sample std (n − 1)', () => {
    const { mean, std } = meanStd([1, 2, 3, 4]);
    expect(mean).toBe(2.5);
    expect(std).toBeCloseTo(Math.sqrt(5 / 3), 15);
    expect(meanStd([0.9])).toEqual({ mean: 0.9, std: NaN });
    expect(() => meanStd([])).toThrow('meanStd: no values; need at least one');
  });

  it('averages every number across reports with the same classes', () => {
    const names = { targetNames: ['a', 'b'] };
    const a = classificationReport([0, 0, 1, 1], [0, 0, 1, 1], names); // all 1
    const b = classificationReport([0, 0, 1, 1], [0, 1, 1, 1], names); // a: P 1, R .5; b: P 2/3, R 1
    const avg = averageReports([a, b]);
    expect(avg.reports).toBe(2);
    expect(avg.accuracy.mean).toBe(0.875);
    expect(avg.accuracy.std).toBeCloseTo(Math.SQRT1_2 * 0.25, 15);
    expect(avg.classes[0].name).toBe('a');
    expect(avg.classes[0].recall).toEqual({ mean: 0.75, std: meanStd([1, 0.5]).std });
    expect(avg.classes[1].precision.mean).toBeCloseTo(5 / 6, 15);
    expect(avg.macroAvg.support).toEqual({ mean: 4, std: 0 });
    expect(avg.weightedAvg.f1.mean).toBeCloseTo((1 + b.weightedAvg.f1) / 2, 15);
  });

  it('rejects reports that list different classes', () => {
    const a = classificationReport([0, 1], [0, 1]);
    const b = classificationReport([0, 2], [0, 2]);
    expect(() => averageReports([a, b])).toThrow('averageReports: report 1 lists classes [0, 2] but report 0 lists [0, 1]');
    expect(() => averageReports([])).toThrow('averageReports: no reports; need at least one');
  });
});
