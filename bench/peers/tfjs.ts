// TF.js (tfjs-core + tfjs-backend-webgpu) as a benchmark peer, on altreg's own GPUDevice: its
// WebGPUBackend is constructed with that device. Timing covers only GPU work as far as TF.js
// allows: a run issues its ops (TF.js encodes them into command buffers of its own), flushes
// TF.js's pending commands and waits for the queue; no readback. Training: tfjs-train.ts.

import type { Gpu } from '../../src/runtime/gpu.js';
import { denseShape, type MatmulCase } from '../matmul.js';
import { randomData, type Contender } from '../timing.js';
import { installNavigatorGpu } from './navigator.js';
import { tfjsTrainer, webgpuSettle } from './tfjs-train.js';
import type { Peer } from './types.js';

type Tf = typeof import('@tensorflow/tfjs-core');
type Tensor = import('@tensorflow/tfjs-core').Tensor;

export async function openTfjs(gpu: Gpu): Promise<Peer> {
  installNavigatorGpu(gpu);
  const tf: Tf = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  // Importing the backend registered a 'webgpu' factory that opens its own device; ours
  // replaces it under the same name, which is the name its kernels are registered for.
  tf.removeBackend('webgpu');
  const info = { vendor: gpu.adapter.vendor, architecture: gpu.adapter.architecture } as GPUAdapterInfo;
  tf.registerBackend('webgpu', () => new WebGPUBackend(gpu.device, info), 100);
  if (!(await tf.setBackend('webgpu'))) throw new Error("TF.js could not start its 'webgpu' backend on this device");
  await tf.ready();
  const flush = webgpuSettle(tf.backend(), () => gpu.sync());
  return {
    name: 'TF.js',
    version: `@tensorflow/tfjs-core ${tf.version_core}`,
    matmul: (c) => matmulContender(tf, flush, c),
    // Layers come from the union package; in Node it shares this tfjs-core (one engine, one backend).
    trainer: async (task) => tfjsTrainer(await import('@tensorflow/tfjs'), 'TF.js webgpu', task, flush),
  };
}

function matmulContender(tf: Tf, flush: () => Promise<void>, c: MatmulCase): Contender {
  const tensors: Tensor[] = [];
  const input = (shape: number[]) => {
    const t = tf.tensor(randomData(shape.reduce((p, q) => p * q, 1)), shape, 'float32');
    tensors.push(t);
    return t;
  };
  let op: () => Tensor;
  if (c.kind === 'square') {
    const [a, b] = [input([c.m, c.k]), input([c.k, c.n])];
    op = () => tf.matMul(a, b);
  } else {
    const { rows, inputs, outputs } = denseShape(c);
    const w = input([inputs, outputs]);
    if (c.kind === 'forward') {
      const [x, bias] = [input([rows, inputs]), input([outputs])];
      op = () => tf.fused.matMul({ a: x, b: w, bias, activation: 'relu' });
    } else if (c.kind === 'inputGrad') {
      const dz = input([rows, outputs]);
      op = () => tf.matMul(dz, w, false, true);
    } else {
      const [x, dz] = [input([rows, inputs]), input([rows, outputs])];
      op = () => tf.matMul(x, dz, true, false);
    }
  }
  return {
    name: 'TF.js',
    async run(reps) {
      const outs: Tensor[] = [];
      for (let i = 0; i < reps; i++) outs.push(op());
      await flush();
      const shape = outs[0].shape.join('×');
      tf.dispose(outs);
      if (shape !== `${c.m}×${c.n}`) throw new Error(`TF.js gave a ${shape} result for ${c.name}`);
    },
    dispose: () => tf.dispose(tensors),
  };
}
