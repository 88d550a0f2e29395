import { describe, expect, it } from 'vitest';
import { classificationReport } from '../metrics/classification.js';
import { CsvError, DatasetError, parseCsv, requireRowsPerClass } from './csv.js';
import { stratifiedKFold } from './split.js';

const IRIS_HEAD = 'sepal_length,sepal_width,petal_length,petal_width,label\n';

/** The CsvError that `parseCsv(text, options)` throws. */
function csvError(text: string, options: Parameters<typeof parseCsv>[1] = { name: 'iris.csv' }): CsvError {
  try {
    parseCsv(text, options);
  } catch (e) {
    expect(e).toBeInstanceOf(CsvError);
    return e as CsvError;
  }
  throw new Error('parseCsv did not throw');
}

describe('parseCsv', () => {
  it('reads features row-major, the last column as label, class ids in first-appearance order', () => {
    const d = parseCsv(IRIS_HEAD + '5.1,3.5,1.4,0.2,setosa\n7.0,3.2,4.7,1.4,versicolor\n6.3,3.3,6.0,2.5,virginica\n4.9,3,1.4,.2,setosa\n', {
      name: 'iris.csv',
    });
    expect(d.name).toBe('iris');
    expect([d.rows, d.features, d.classes]).toEqual([4, 4, 3]);
    expect(d.featureNames).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
    expect(d.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(Array.from(d.y)).toEqual([0, 1, 2, 0]);
    expect(Array.from(d.x.slice(0, 4))).toEqual(Array.from(Float32Array.of(5.1, 3.5, 1.4, 0.2)));
    expect(d.x[15]).toBe(Math.fround(0.2));
  });

  it('orders numeric labels numerically, not by first appearance or as text', () => {
    const d = parseCsv('a,label\n1,10\n2,2\n3,0\n4,2\n5,-1\n');
    expect(d.classNames).toEqual(['-1', '0', '2', '10']);
    expect(Array.from(d.y)).toEqual([3, 2, 1, 2, 0]);
    expect(d.name).toBe('csv');
  });

  it('makes labels of equal decimal value one class, named by the first spelling', () => {
    const d = parseCsv('a,label\n1,1.0\n2,10\n3,01\n4,1e1\n5,1\n6,-0\n7,0.0\n8,+1\n');
    expect(d.classNames).toEqual(['-0', '1.0', '10']);
    expect(Array.from(d.y)).toEqual([1, 2, 1, 2, 1, 0, 0, 1]);
    expect(d.classes).toBe(3);
    // Text labels stay apart even when a number would equal them.
    expect(parseCsv('a,label\n1,1.0\n2,1\n3,one\n').classNames).toEqual(['1.0', '1', 'one']);
    expect(csvError('a,label\n1,1\n2,1.0\n3,01\n', {}).message).toBe(
      'csv: the label column "label" has only one class ("1") in 3 rows; classification needs at least 2 classes',
    );
  });

  it('keeps distinct decimal values apart even where float64 cannot tell them apart, in exact numeric order', () => {
    // Pairs that Number() merges: past 2⁵³, past float64's range, below its smallest number.
    const labels = ['9007199254740993', '2e999', '0', '1e22', '-9007199254740993', '1e999', '1e-400', '9007199254740992', '5', '10000000000000000000001', '-2e999', '-1e999', '-9007199254740992', '-1e-400'];
    const d = parseCsv('a,label\n' + labels.map((l, i) => `${i},${l}\n`).join(''));
    expect(d.classNames).toEqual(['-2e999', '-1e999', '-9007199254740993', '-9007199254740992', '-1e-400', '0', '1e-400', '5', '9007199254740992', '9007199254740993', '1e22', '10000000000000000000001', '1e999', '2e999']);
    expect(Array.from(d.y, (id) => d.classNames[id])).toEqual(labels);
    // Equal values still are one class, whatever their spelling or exponent.
    const same = parseCsv('a,label\n1,9007199254740993\n2,90071992547409930e-1\n3,0.9007199254740993e16\n4,2e999\n5,20e998\n6,1e-400\n7,0.01e-398\n8,-0e-99999999999999999999\n9,1e99999999999999999999\n10,10e99999999999999999998\n');
    expect(same.classNames).toEqual(['-0e-99999999999999999999', '1e-400', '9007199254740993', '2e999', '1e99999999999999999999']);
    expect(Array.from(same.y)).toEqual([2, 2, 2, 3, 3, 1, 1, 0, 4, 4]);
  });

  it('labels 5, 1e22 and 1e22 + 1 are three classes (the tester\'s case)', () => {
    const d = parseCsv('a,label\n1,5\n2,1e22\n3,10000000000000000000001\n4,5\n');
    expect([d.classes, d.classNames, Array.from(d.y)]).toEqual([3, ['5', '1e22', '10000000000000000000001'], [0, 1, 2, 0]]);
  });

  it('reads header names and labels in Unicode NFC: an é of one code point and one of two are one name and one class', () => {
    const composed = 'caf\u00e9'; // é as one code point (NFC)
    const decomposed = 'cafe\u0301'; // e + a combining acute accent (NFD): prints the same
    const d = parseCsv(`a,${decomposed}\n1,${composed}\n2,${decomposed}\n3,tea\n`);
    expect(d.classNames).toEqual([composed, 'tea']);
    expect(Array.from(d.y)).toEqual([0, 0, 1]);
    // The label column is found by either spelling of its name; the feature names are NFC.
    const byName = parseCsv(`${decomposed},x\n${composed},1\n${decomposed},2\ntea,3\n`, { label: composed });
    expect([byName.classNames, byName.featureNames]).toEqual([[composed, 'tea'], ['x']]);
    expect(parseCsv(`${composed},x\na,1\nb,2\n`, { label: decomposed }).featureNames).toEqual(['x']);
    expect(parseCsv(`${decomposed},label\n1,a\n2,b\n`).featureNames).toEqual([composed]);
    // Two header names that differ only in their normalization are the same name twice, and the
    // message says why (they print alike); one spelling twice needs no such note.
    expect(csvError(`${composed},${decomposed},label\n1,2,a\n`).message).toBe(`iris.csv line 1, column 2: column name "${composed}" appears twice (columns 1 and 2) (the same in Unicode NFC)`);
    expect(csvError(`${decomposed},x,${decomposed},label\n1,2,3,a\n`).message).toBe(`iris.csv line 1, column 3: column name "${composed}" appears twice (columns 1 and 3)`);
    expect(csvError(`x, ${composed},${decomposed} ,label\n1,2,3,a\n`).message).toBe(`iris.csv line 1, column 3: column name "${composed}" appears twice (columns 2 and 3) (the same in Unicode NFC)`);
  });

  it('says "1 row", not "1 rows", when a one-row file has one class', () => {
    expect(csvError('a,label\n1,0\n', {}).message).toBe('csv: the label column "label" has only one class ("0") in 1 row; classification needs at least 2 classes');
  });

  it('rejects an unknown option key, naming it and the valid ones', () => {
    const e = csvError('a,b\n1,x\n2,y\n', { lable: 'a' } as Parameters<typeof parseCsv>[1]);
    expect(e.message).toBe('csv: unknown option lable (did you mean label?); valid options: label, name');
    expect([e.line, e.column]).toEqual([undefined, undefined]);
    // Options that are not an object are a CsvError too (null was a TypeError).
    for (const [bad, got] of [[null, 'null'], ['label', '"label"'], [[0], 'Array']] as const) {
      expect(csvError('a,b\n1,x\n', bad as never).message).toBe(`csv: options must be an object with keys label, name, got ${got}`);
    }
  });

  it('takes the label column by name or by 0-based index', () => {
    const text = 'species,a,b\nx,1,2\ny,3,4\n';
    for (const label of ['species', 0]) {
      const d = parseCsv(text, { label });
      expect(d.featureNames).toEqual(['a', 'b']);
      expect(d.classNames).toEqual(['x', 'y']);
      expect(Array.from(d.x)).toEqual([1, 2, 3, 4]);
    }
  });

  it('accepts Windows line endings, quoted fields, blank lines, spaces and a byte order mark', () => {
    const text = '\uFEFFa,"b, quoted",label\r\n"1.5", 2e1 ,"big ""cat"""\r\n\r\n3,-4,small\r\n\r\n\r\n';
    const d = parseCsv(text);
    expect(d.featureNames).toEqual(['a', 'b, quoted']);
    expect(Array.from(d.x)).toEqual([1.5, 20, 3, -4]);
    expect(d.classNames).toEqual(['big "cat"', 'small']);
  });

  it('rejects a non-numeric cell with its line, column and column name', () => {
    const e = csvError(IRIS_HEAD + '5.1,3.5,1.4,0.2,setosa\n'.repeat(5) + '5.1,3.5,abc,0.2,setosa\n');
    expect(e.message).toBe('iris.csv line 7, column 3 ("petal_length"): "abc" is not a number');
    expect([e.line, e.column]).toEqual([7, 3]);
  });

  it('rejects NaN, Infinity, hex and values beyond float32 as numbers', () => {
    for (const cell of ['Infinity', '-Infinity', 'inf', '0x10', '1,5']) {
      const text = `a,label\n1,x\n"${cell}",y\n`;
      expect(csvError(text, { name: 't.csv' }).message).toBe(`t.csv line 3, column 1 ("a"): "${cell}" is not a number`);
    }
    // How data sets write a missing value: said as one, with what to do.
    for (const cell of ['NaN', 'NA', 'n/a', 'null', '?']) {
      const text = `a,label\n1,x\n"${cell}",y\n`;
      expect(csvError(text, { name: 't.csv' }).message).toBe(
        `t.csv line 3, column 1 ("a"): "${cell}" is not a number (a missing value: altreg does not fill them in; remove the row or fill the value in first)`,
      );
    }
    expect(csvError('a,label\n1e39,x\n2,y\n', { name: 't.csv' }).message).toBe(
      't.csv line 2, column 1 ("a"): 1e39 is outside the float32 range (±3.4e38)',
    );
  });

  it('rejects an empty cell', () => {
    const e = csvError(IRIS_HEAD + '5.1,,1.4,0.2,setosa\n');
    expect(e.message).toBe('iris.csv line 2, column 2 ("sepal_width"): empty cell; expected a number (a missing value: altreg does not fill them in; remove the row or fill the value in first)');
    expect([e.line, e.column]).toEqual([2, 2]);
  });

  it('rejects an empty label', () => {
    const e = csvError(IRIS_HEAD + '5.1,3.5,1.4,0.2,\n');
    expect(e.message).toBe('iris.csv line 2, column 5 ("label"): empty label; every row needs a class');
  });

  it('rejects a ragged row, saying how many fields it expected and found', () => {
    const e = csvError(IRIS_HEAD + '5.1,3.5,1.4,0.2,setosa\n5.1,3.5,1.4,setosa\n');
    expect(e.message).toBe('iris.csv line 3: expected 5 fields (as in the header), found 4');
    expect([e.line, e.column]).toEqual([3, undefined]);
    expect(csvError(IRIS_HEAD + '5.1,3.5,1.4,0.2,setosa,9\n').message).toBe(
      'iris.csv line 2: expected 5 fields (as in the header), found 6',
    );
  });

  it('counts lines across blank lines, CRLF and line breaks inside quoted fields', () => {
    const text = 'a,label\r\n1,"multi\r\nline"\r\n\r\n2,x\r\nzz,y\r\n';
    expect(csvError(text, { name: 'q.csv' }).message).toBe('q.csv line 6, column 1 ("a"): "zz" is not a number');
  });

  it('rejects an empty text and a header without data rows', () => {
    expect(csvError('').message).toBe('iris.csv: the text is empty; expected a header row and at least one data row');
    expect(csvError('\n\n').message).toBe('iris.csv: the text is empty; expected a header row and at least one data row');
    const e = csvError(IRIS_HEAD + '\n');
    expect(e.message).toBe('iris.csv line 1: no data rows after the header');
    expect(e.line).toBe(1);
  });

  it('reports the first problem in file order: the header before later rows', () => {
    // The header is checked as it is read, so a bad label option or a duplicate name comes first.
    expect(csvError('a,b,c\n', { label: 'x' }).message).toMatch(/^csv: no label column named "x"; columns are 0: "a"/);
    expect(csvError('a,a,label\n1,2,x\n"3,4,y\n').message).toBe('iris.csv line 1, column 2: column name "a" appears twice (columns 1 and 2)');
  });

  it('requires a header row', () => {
    expect(csvError('5.1,3.5,1.4,0.2,0\n4.9,3,1.4,0.2,1\n').message).toBe(
      'iris.csv line 1: the first row holds only numbers; a header row naming the columns is required',
    );
  });

  it('refuses a first row that is data: numeric features and a label of the later rows', () => {
    expect(csvError('0.644,0.725,a\n0.1,0.2,b\n0.3,0.4,a\n').message).toBe(
      'iris.csv line 1: the first row looks like data, not a header (its features are numbers and its label "a" is a class of later rows); a header row naming the columns is required',
    );
    // Numbered feature columns (a data frame's default names) are a header: "target" is no class.
    const d = parseCsv('0,1,target\n0.1,0.2,a\n0.3,0.4,b\n');
    expect([d.rows, d.featureNames, d.classNames]).toEqual([2, ['0', '1'], ['a', 'b']]);
  });

  it('says when a one-column header is split by semicolons or tabs instead of commas', () => {
    expect(csvError('a;b;label\n1;2;x\n').message).toBe(
      'iris.csv line 1: the header has 1 column; expected at least one feature column and a label column (fields are separated by commas only; this header has semicolons)',
    );
    expect(csvError('a\tb\tlabel\n1\t2\tx\n').message).toContain('(fields are separated by commas only; this header has tabs)');
  });

  it('suggests the label option when a column holds no numbers at all', () => {
    expect(csvError('species,a,b\nx,1,2\ny,3,4\n').message).toBe(
      'iris.csv line 2, column 1 ("species"): "x" is not a number (column "species" holds no numbers; if it is the label column, choose it as such: the label column now is "b")',
    );
  });

  it('keeps a message on one line when a quoted cell holds a line break', () => {
    const message = csvError('a,label\n"1\n2",x\n3,y\n').message;
    expect(message).toBe('iris.csv line 2, column 1 ("a"): "1\\n2" is not a number');
    expect(message).not.toContain('\n');
  });

  it('rejects duplicate, empty and too few column names', () => {
    expect(csvError('a,a,label\n1,2,x\n').message).toBe('iris.csv line 1, column 2: column name "a" appears twice (columns 1 and 2)');
    expect(csvError('a,,label\n1,2,x\n').message).toBe('iris.csv line 1, column 2: empty column name in the header; every column needs a name');
    expect(csvError('label\nx\n').message).toBe(
      'iris.csv line 1: the header has 1 column; expected at least one feature column and a label column',
    );
  });

  it('names the columns when the label column does not exist', () => {
    const text = 'a,b,label\n1,2,x\n3,4,y\n';
    expect(csvError(text, { label: 'species' }).message).toBe(
      'csv: no label column named "species"; columns are 0: "a", 1: "b", 2: "label"',
    );
    expect(csvError(text, { label: 3 }).message).toBe(
      'csv: label column index 3 does not exist; valid 0-based indices are 0..2 (columns are 0: "a", 1: "b", 2: "label")',
    );
  });

  it('rejects a label column with only one class', () => {
    expect(csvError(IRIS_HEAD + '5.1,3.5,1.4,0.2,setosa\n4.9,3,1.4,0.2,setosa\n').message).toBe(
      'iris.csv: the label column "label" has only one class ("setosa") in 2 rows; classification needs at least 2 classes',
    );
  });

  it('reports an unterminated quote on the line where its row starts', () => {
    const e = csvError('a,label\n1,x\n2,"y\n3,z\n');
    expect(e.message).toMatch(/^iris\.csv line 3: Quoted field unterminated \(MissingQuotes\); a field that starts with a quote/);
    expect(e.line).toBe(3);
  });
});

describe('requireRowsPerClass', () => {
  const d = parseCsv('a,label\n1,x\n2,x\n3,x\n4,y\n5,y\n', { name: 'toy.csv' });

  it('passes when every class has at least as many rows as folds', () => {
    expect(() => requireRowsPerClass(d, 2)).not.toThrow();
  });

  it('names the class and its row count when a class is too small', () => {
    expect(() => requireRowsPerClass(d, 3)).toThrow(DatasetError);
    expect(() => requireRowsPerClass(d, 3)).toThrow(
      'toy: class "y" (id 1) has 2 rows, fewer than the 3 folds asked for; every class needs at least 3 rows ' +
        '(use at most 2 folds for this dataset)',
    );
    // A class of one row: no k-fold is possible, so no "at most 1 folds" advice.
    const single = parseCsv('a,label\n1,x\n2,x\n3,y\n', { name: 'single.csv' });
    expect(() => requireRowsPerClass(single, 2)).toThrow(
      'single: class "y" (id 1) has 1 row, fewer than the 2 folds asked for; every class needs at least 2 rows ' +
        '(k-fold needs 2 rows of every class, so this dataset can only be split as a holdout)',
    );
  });

  it('a label column of ids (200,000 classes of one row): the message, not a RangeError from spreading the counts', () => {
    const rows = 200_000;
    const ids = parseCsv('a,id\n' + Array.from({ length: rows }, (_, i) => `${i % 7},id${i}`).join('\n'), { name: 'ids.csv' });
    expect(ids.classes).toBe(rows);
    expect(() => requireRowsPerClass(ids, 5)).toThrow(
      'ids: class "id0" (id 0) has 1 row, fewer than the 5 folds asked for; every class needs at least 5 rows ' +
        '(every row is a class of its own: a label column with a different value in every row is usually the wrong column)',
    );
    expect(() => stratifiedKFold(ids.y, ids.classes, 5, 0)).toThrow(/^stratifiedKFold: class 0 has 1 row, fewer than k = 5; .*\(the smallest class has 1 row\)$/);
    // A report of that many classes formats too (its name column measured by a loop).
    const report = classificationReport(ids.y, ids.y);
    expect(report.classes).toHaveLength(rows);
    expect(report.text).toContain("     199999 ");
  });
});
