// The math of a step, checked against independent references: the coupled gradient against
// finite differences of loss + penalty, the decoupled update against the AdamW equations, and
// a masked-off tensor against the unpenalized update.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/datasets.js';
import { glorotInit, mlpLayout } from '../model/mlp.js';
import { relativeError } from '../testing/random.js';
import { testGpu } from '../testing/gpu.js';
import { lossAndGradientCpu } from './cpu-trainer.js';
import { penaltyCoefficients, resolvePenalty } from './penalty.js';
import { train, type TrainOptions } from './train.js';

describe('coupled gradient = finite differences of loss + penalty (CPU path, float64)', () => {
  for (const [convention, activation] of [['keras', 'tanh'], ['torch', 'sigmoid'], ['keras', 'relu']] as const) {
    it(`${convention} convention, ${activation}, targets all`, async () => {
      const iris = await loadDataset('iris');
      const layout = mlpLayout(4, 3, { hidden: [5, 4], activation });
      const lambda = 0.3;
      const penalty = resolvePenalty({ lambda, convention, targets: 'all' });
      const names = layout.tensors.map((t) => t.name).sort((a, b) => (a.endsWith('kernel') === b.endsWith('kernel') ? a.localeCompare(b) : a.endsWith('kernel') ? -1 : 1));
      const segments = names.map((n) => layout.tensors.findIndex((t) => t.name === n));
      const mask = names.map((_, i) => i !== 1); // one term off: it must not contribute
      const coef = penaltyCoefficients(layout, penalty, segments, mask);
      const params = Float64Array.from(glorotInit(layout, 5), (v, i) => v + 0.05 * Math.sin(i)); // nonzero biases
      const rows = 40;
      const x = Float64Array.from(iris.x.subarray(0, rows * 4));
      const y = iris.y.subarray(55, 55 + rows).map((_, i) => iris.y[(i * 7) % 150]);
      const k = convention === 'keras' ? 1 : 0.5;
      const objective = (p: Float64Array) => {
        let pen = 0;
        layout.tensors.forEach((t, s) => {
          if (coef[s] === 0) return;
          for (let j = t.offset; j < t.offset + t.length; j++) pen += k * lambda * p[j] * p[j];
        });
        return lossAndGradientCpu(layout, p, x, y).loss + pen;
      };
      const { grads } = lossAndGradientCpu(layout, params, x, y, coef);
      const h = 1e-6;
      let worst = 0;
      for (let j = 0; j < layout.perModel; j++) {
        const plus = params.slice();
        const minus = params.slice();
        plus[j] += h;
        minus[j] -= h;
        const fd = (objective(plus) - objective(minus)) / (2 * h);
        // relu's kink can sit within h of a pre-activation: allow those few to differ.
        const err = Math.abs(fd - grads[j]) / Math.max(1e-4, Math.abs(fd));
        if (activation !== 'relu') worst = Math.max(worst, err);
        else if (err > 1e-4) worst = Math.max(worst, Math.min(err, 1e-5));
      }
      expect(worst).toBeLessThan(1e-5);
    });
  }
});

describe('decoupled mode = the AdamW equations, step by step', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    it(`${device}: 6 full-batch steps, λ on kernels, alternate schedule`, async () => {
      const iris = await loadDataset('iris');
      const layout = mlpLayout(4, 3, { hidden: [6], activation: 'tanh' });
      const lambda = 0.2;
      const lr = 0.05;
      const [b1, b2, eps] = [0.9, 0.999, 1e-7];
      const options: TrainOptions = {
        data: iris,
        model: { hidden: [6], activation: 'tanh' },
        epochs: 1,
        batchSize: 150, // one step per epoch
        shuffle: false,
        seed: 4,
        optimizer: { lr, beta1: b1, beta2: b2, epsilon: eps },
        penalty: { lambda, mode: 'decoupled', schedule: 'alternate' },
        device,
        ...(device === 'gpu' ? { gpu: await testGpu() } : {}),
      };
      const kernels = layout.tensors.filter((t) => t.kind === 'kernel');
      let state: { w: Float32Array; m: Float32Array; v: Float32Array } = { w: await initialParams(options), m: new Float32Array(layout.perModel), v: new Float32Array(layout.perModel) };
      let checkpoint;
      for (let t = 1; t <= 6; t++) {
        const run = await train({ ...options, ...(checkpoint ? { resume: checkpoint } : {}) });
        checkpoint = run.checkpoint();
        // Reference step in float64 from the trainer's state before it (PyTorch's AdamW).
        const w = Float64Array.from(state.w);
        const m = Float64Array.from(state.m);
        const v = Float64Array.from(state.v);
        const epoch = t - 1;
        const off = epoch % 2 === 1 ? ((epoch - 1) / 2) % kernels.length : -1;
        const { grads } = lossAndGradientCpu(layout, w, Float64Array.from(iris.x), iris.y);
        kernels.forEach((tensor, i) => {
          if (i === off) return;
          for (let j = tensor.offset; j < tensor.offset + tensor.length; j++) w[j] -= Math.fround(lr) * Math.fround(lambda) * w[j];
        });
        // The trainer holds β₁, β₂ and lr as float32 (1 − fround(0.999) differs from 0.001 by 1.3e-5).
        const [f1, f2, fl] = [Math.fround(b1), Math.fround(b2), Math.fround(lr)];
        for (let j = 0; j < w.length; j++) {
          m[j] = f1 * m[j] + (1 - f1) * grads[j];
          v[j] = f2 * v[j] + (1 - f2) * grads[j] * grads[j];
          w[j] -= (fl * (m[j] / (1 - f1 ** t))) / (Math.sqrt(v[j] / (1 - f2 ** t)) + eps);
        }
        expect(checkpoint.optimizer.step).toBe(t);
        // The trainer's float32 gradient (vs float64 here) moves Adam's normalized step slightly.
        expect(relativeError(run.params, w), `weights after step ${t}`).toBeLessThan(1e-5);
        expect(relativeError(checkpoint.optimizer.m, m), `m after step ${t}`).toBeLessThan(1e-6);
        expect(relativeError(checkpoint.optimizer.v, v), `v after step ${t}`).toBeLessThan(1e-6);
        state = { w: run.params, m: checkpoint.optimizer.m, v: checkpoint.optimizer.v };
      }
    });
  }
});

/**
 * The parameters train() starts from (0 epochs are not allowed: read them off a 1-epoch run with
 * no step size to speak of: lr 2e-38, a normal float32 as lr must be, moves each weight by at
 * most about 2e-38: a zero bias becomes ±2e-38, and a weight of ordinary size stays as it was).
 */
async function initialParams(options: TrainOptions): Promise<Float32Array> {
  const run = await train({ ...options, device: 'cpu', epochs: 1, optimizer: { lr: 2e-38 }, penalty: { lambda: 0 } });
  return run.params;
}

describe('a tensor whose term is off gets exactly the unpenalized update', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    for (const mode of ['coupled', 'decoupled'] as const) {
      it(`${device}, ${mode}: alternate with a large λ vs λ = 0 from the same state`, async () => {
        const iris = await loadDataset('iris');
        const base: TrainOptions = {
          data: iris,
          model: { hidden: [6], activation: 'relu' },
          epochs: 1,
          batchSize: 150, // one step per epoch: every tensor starts each epoch from the same state in both runs
          seed: 8,
          optimizer: { lr: 0.01 },
          penalty: { lambda: 5, mode, schedule: 'alternate' },
          device,
          ...(device === 'gpu' ? { gpu: await testGpu() } : {}),
        };
        // Epoch 1 drops dense_0/kernel; epoch 3 drops dense_1/kernel.
        for (const [epoch, off, on] of [[1, 'dense_0/kernel', 'dense_1/kernel'], [3, 'dense_1/kernel', 'dense_0/kernel']] as const) {
          const before = await train({ ...base, epochs: epoch });
          const penalized = await train({ ...base, epochs: 1, resume: before.checkpoint() });
          // The same state without the penalty: a resume keeps its checkpoint's settings, so the
          // checkpoint itself is told λ = 0.
          const c = before.checkpoint();
          const zero = { ...c, manifest: { ...c.manifest, config: { ...c.manifest.config, penalty: { ...c.manifest.config.penalty, lambda: 0 } } } };
          const unpenalized = await train({ ...base, epochs: 1, resume: zero, penalty: { lambda: 0, mode, schedule: 'alternate' } });
          expect(penalized.history[epoch].mask).toEqual(off === 'dense_0/kernel' ? [false, true] : [true, false]);
          expect(Array.from(penalized.weights[off])).toEqual(Array.from(unpenalized.weights[off]));
          const diff = penalized.weights[on].reduce((s, w, i) => s + Math.abs(w - unpenalized.weights[on][i]), 0);
          expect(diff, `${on} is penalized in epoch ${epoch}`).toBeGreaterThan(1e-4);
        }
      });
    }
  }
});
