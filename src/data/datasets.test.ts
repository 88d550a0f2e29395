import { describe, expect, it } from 'vitest';
import { DatasetError } from './csv.js';
import { DATASET_NAMES, datasets, loadDataset, type Dataset, type DatasetName } from './datasets.js';

function classCounts(d: Dataset): number[] {
  const counts = new Array<number>(d.classes).fill(0);
  for (const c of d.y) counts[c]++;
  return counts;
}

describe('loadDataset', () => {
  it('iris: 150 rows × 4 features, 3 classes of 50 in file order', async () => {
    const d = await loadDataset('iris');
    expect([d.name, d.rows, d.features, d.classes]).toEqual(['iris', 150, 4, 3]);
    expect(d.featureNames).toEqual(['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm']);
    expect(d.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(classCounts(d)).toEqual([50, 50, 50]);
    expect(Array.from(d.x.subarray(0, 4))).toEqual(Array.from(Float32Array.of(5.1, 3.5, 1.4, 0.2)));
    expect(d.x.length).toBe(150 * 4);
  });

  it('wine: 178 rows × 13 features, classes class_0..class_2', async () => {
    const d = await loadDataset('wine');
    expect([d.rows, d.features, d.classes]).toEqual([178, 13, 3]);
    expect(d.featureNames.slice(0, 3)).toEqual(['alcohol', 'malic_acid', 'ash']);
    expect(d.classNames).toEqual(['class_0', 'class_1', 'class_2']);
    expect(classCounts(d)).toEqual([59, 71, 48]);
    expect(d.x[0]).toBe(Math.fround(14.23));
  });

  it('breast_cancer: 569 rows × 30 features, malignant = 0 and benign = 1 as in scikit-learn', async () => {
    const d = await loadDataset('breast_cancer');
    expect([d.rows, d.features, d.classes]).toEqual([569, 30, 2]);
    expect(d.classNames).toEqual(['malignant', 'benign']);
    expect(classCounts(d)).toEqual([212, 357]);
    expect(d.x[0]).toBe(Math.fround(17.99));
  });

  it('digits: 1797 rows × 64 pixels, classes "0".."9" with ids equal to the digit', async () => {
    const d = await loadDataset('digits');
    expect([d.rows, d.features, d.classes]).toEqual([1797, 64, 10]);
    expect(d.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(classCounts(d)).toEqual([178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    expect(Array.from(d.y.subarray(0, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.max(...d.x)).toBe(16);
  });

  it('throws for an unknown name, listing the valid ones', async () => {
    await expect(loadDataset('irs' as DatasetName)).rejects.toThrow(DatasetError);
    await expect(loadDataset('irs' as DatasetName)).rejects.toThrow(
      'unknown dataset "irs"; valid names are iris, wine, breast_cancer, digits',
    );
  });

  it('datasets.names lists every shipped dataset and datasets.load loads them', async () => {
    expect(datasets.names).toBe(DATASET_NAMES);
    expect((await datasets.load('iris')).rows).toBe(150);
  });
});
