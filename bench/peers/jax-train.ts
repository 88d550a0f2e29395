// jax-js training as a benchmark contender, written the way a jax-js user would write it: one
// `jit` of a whole step (value-and-grad of the data loss + L2 on the kernels, then an Adam update
// written in jax-js ops), called once per minibatch from a JavaScript loop over a seeded
// permutation of the rows. The data set is uploaded once; each step uploads only its row
// indices and gathers the batch on the device. Losses are summed on the device and read once
// per call. Browser-safe: it takes the jax-js module instead of importing it.

import { Random } from '../../src/runtime/random.js';
import type { TrainingContender, TrainingTask } from '../training.js';

type Jax = typeof import('@jax-js/jax');
type JaxArray = import('@jax-js/jax').Array;

/** The trained tensors: dense layers 0 and 1, kernels [in, out] and biases. */
type Params = { w0: JaxArray; b0: JaxArray; w1: JaxArray; b1: JaxArray };
/** Everything a step reads and returns: parameters, Adam moments, step count, loss sum. */
type State = { params: Params; m: Params; v: Params; t: JaxArray; lossSum: JaxArray };

/** Glorot-uniform kernel [fanIn, fanOut] (Keras' default), from `rng`. */
function glorot(rng: Random, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * limit;
  return out;
}

export function jaxTrainer(jax: Jax, name: string, task: TrainingTask, seed = 1): TrainingContender {
  const np = jax.numpy;
  const { features, classes } = task.data;
  const rows = task.data.y.length;
  const hidden = task.hidden;
  const { lr, l2 } = task;
  const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-7];
  const rng = new Random(seed);

  const x = np.array(task.data.x, { shape: [rows, features] });
  const y = np.array(Int32Array.from(task.data.y), { shape: [rows], dtype: np.int32 });
  const zeros = (): Params => ({ w0: np.zeros([features, hidden]), b0: np.zeros([hidden]), w1: np.zeros([hidden, classes]), b1: np.zeros([classes]) });
  let state: State = {
    params: {
      w0: np.array(glorot(rng, features, hidden), { shape: [features, hidden] }),
      b0: np.zeros([hidden]),
      w1: np.array(glorot(rng, hidden, classes), { shape: [hidden, classes] }),
      b1: np.zeros([classes]),
    },
    m: zeros(),
    v: zeros(),
    t: np.zeros([]),
    lossSum: np.zeros([]),
  };

  // Mean cross-entropy of the batch plus λ·Σw² over both kernels (Keras' l2 regularizer).
  const loss = (p: Params, xb: JaxArray, yb: JaxArray): JaxArray => {
    const h = jax.nn.relu(np.matmul(xb, p.w0.ref).add(p.b0));
    const logp = jax.nn.logSoftmax(np.matmul(h, p.w1.ref).add(p.b1), -1);
    const data = logp.mul(jax.nn.oneHot(yb, classes)).sum(-1).mean().neg();
    const penalty = np.square(p.w0).sum().add(np.square(p.w1).sum()).mul(l2);
    return data.add(penalty);
  };
  const valueAndGrad = jax.valueAndGrad(loss);

  // One minibatch: gather, forward + backward, Adam (w ← w − lr·m̂/(√v̂ + ε)), all in one jit.
  const step = jax.jit((s: State, xAll: JaxArray, yAll: JaxArray, index: JaxArray): State => {
    const xb = np.take(xAll, index.ref, 0);
    const yb = np.take(yAll, index, 0);
    const [value, g] = valueAndGrad(jax.tree.ref(s.params), xb, yb);
    const t = s.t.add(1);
    const correction1 = np.exp(t.ref.mul(Math.log(beta1))).neg().add(1); // 1 − β1^t
    const correction2 = np.exp(t.ref.mul(Math.log(beta2))).neg().add(1); // 1 − β2^t
    const out = { params: {}, m: {}, v: {} } as { params: Params; m: Params; v: Params };
    for (const key of ['w0', 'b0', 'w1', 'b1'] as const) {
      const gk = g[key];
      const m = s.m[key].mul(beta1).add(gk.ref.mul(1 - beta1));
      const v = s.v[key].mul(beta2).add(np.square(gk).mul(1 - beta2));
      const mHat = m.ref.div(correction1.ref);
      const vHat = v.ref.div(correction2.ref);
      out.params[key] = s.params[key].sub(mHat.div(np.sqrt(vHat).add(epsilon)).mul(lr));
      out.m[key] = m;
      out.v[key] = v;
    }
    correction1.dispose();
    correction2.dispose();
    return { ...out, t, lossSum: s.lossSum.add(value) };
  });

  const order = Int32Array.from({ length: rows }, (_, i) => i);
  const shuffle = () => {
    for (let i = rows - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
  };
  const steps = Math.ceil(rows / task.batchSize);

  return {
    name,
    rows,
    async train(epochs) {
      const epochLosses: JaxArray[] = [];
      for (let e = 0; e < epochs; e++) {
        shuffle();
        for (let b = 0; b < steps; b++) {
          const index = np.array(order.slice(b * task.batchSize, Math.min(rows, (b + 1) * task.batchSize)), { dtype: np.int32 });
          state = step(state, x.ref, y.ref, index);
        }
        epochLosses.push(state.lossSum);
        state.lossSum = np.zeros([]);
      }
      await jax.blockUntilReady(state.params);
      const sums: number[] = await Promise.all(epochLosses.map(async (a) => Number((await a.data())[0])));
      return sums.map((s) => s / steps); // mean of the batch losses
    },
    dispose() {
      jax.tree.dispose(state);
      x.dispose();
      y.dispose();
      step.dispose();
    },
  };
}
