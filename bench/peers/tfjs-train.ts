// TF.js training as a benchmark contender, the way a TF.js user trains: a tf.sequential of
// Dense(hidden, relu) → Dense(classes, softmax), both with kernelRegularizer l2(λ), Adam,
// sparse categorical cross-entropy, `model.fit` with shuffle and verbose 0. It runs on whatever
// backend is active when it is built and trained (the caller selects it: webgpu on altreg's
// device, cpu, webgl). Browser-safe: it takes the TF.js module instead of importing it.

import type { TrainingContender, TrainingTask } from '../training.js';

type Tfjs = typeof import('@tensorflow/tfjs');

/** The WebGPUBackend methods that submit what TF.js has encoded but not yet submitted. */
interface Flushable {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/**
 * For TF.js's webgpu `backend`: submits its pending commands, then waits with `queueDone`
 * (e.g. onSubmittedWorkDone of its device), so that a timing covers all the work issued.
 */
export function webgpuSettle(backend: unknown, queueDone: () => Promise<unknown>): () => Promise<void> {
  const b = backend as Flushable;
  return async () => {
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    b.submitQueue();
    await queueDone();
  };
}

/**
 * A contender training `task` with model.fit. `settle` runs after every fit (e.g. submit TF.js's
 * pending GPU commands and wait for the queue); fit itself resolves once the epoch's loss is read.
 */
export function tfjsTrainer(tf: Tfjs, name: string, task: TrainingTask, settle?: () => Promise<void>): TrainingContender {
  const { features, classes } = task.data;
  const rows = task.data.y.length;
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [features], units: task.hidden, activation: 'relu', kernelRegularizer: tf.regularizers.l2({ l2: task.l2 }) }),
      tf.layers.dense({ units: classes, activation: 'softmax', kernelRegularizer: tf.regularizers.l2({ l2: task.l2 }) }),
    ],
  });
  const optimizer = tf.train.adam(task.lr, 0.9, 0.999, 1e-7);
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy' });
  const x = tf.tensor2d(task.data.x, [rows, features]);
  const y = tf.tensor2d(Float32Array.from(task.data.y), [rows, 1]);
  return {
    name,
    rows,
    async train(epochs) {
      const history = await model.fit(x, y, { epochs, batchSize: task.batchSize, shuffle: true, verbose: 0 });
      await settle?.();
      return history.history.loss.map(Number);
    },
    dispose() {
      model.dispose();
      optimizer.dispose();
      tf.dispose([x, y]);
    },
  };
}
