// jax-js as a benchmark peer, on altreg's own GPUDevice (its WebGPU backend asks navigator.gpu,
// which hands it that device). Each row is one jit-compiled function; a run calls it `reps`
// times and waits for every result (blockUntilReady); no readback of the results' data.
// Training: jax-train.ts.

import type { Gpu } from '../../src/runtime/gpu.js';
import { denseShape, type MatmulCase } from '../matmul.js';
import { randomData, type Contender } from '../timing.js';
import { jaxTrainer } from './jax-train.js';
import { installNavigatorGpu } from './navigator.js';
import type { Peer } from './types.js';

type Jax = typeof import('@jax-js/jax');
type JaxArray = import('@jax-js/jax').Array;

export async function openJax(gpu: Gpu): Promise<Peer> {
  installNavigatorGpu(gpu);
  const jax: Jax = await import('@jax-js/jax');
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error('jax-js found no WebGPU device through navigator.gpu');
  jax.defaultDevice('webgpu');
  if (jax.getWebGPUDevice() !== gpu.device) throw new Error("jax-js opened a device of its own instead of altreg's");
  return { name: 'jax-js', version: '@jax-js/jax', matmul: (c) => matmulContender(jax, c), trainer: async (task) => jaxTrainer(jax, 'jax-js', task) };
}

function matmulContender(jax: Jax, c: MatmulCase): Contender {
  const np = jax.numpy;
  const input = (shape: number[]) => np.array(randomData(shape.reduce((p, q) => p * q, 1)), { shape });
  // Every function takes its arguments' references (jax-js ownership): callers pass `.ref`.
  let inputs: JaxArray[];
  let f: ((...args: JaxArray[]) => JaxArray) & { dispose(): void };
  if (c.kind === 'square') {
    inputs = [input([c.m, c.k]), input([c.k, c.n])];
    f = jax.jit((a: JaxArray, b: JaxArray) => np.matmul(a, b));
  } else {
    const { rows, inputs: width, outputs } = denseShape(c);
    if (c.kind === 'forward') {
      inputs = [input([rows, width]), input([width, outputs]), input([outputs])];
      f = jax.jit((x: JaxArray, w: JaxArray, bias: JaxArray) => jax.nn.relu(np.matmul(x, w).add(bias)));
    } else if (c.kind === 'inputGrad') {
      inputs = [input([rows, outputs]), input([width, outputs])];
      f = jax.jit((dz: JaxArray, w: JaxArray) => np.matmul(dz, w.transpose()));
    } else {
      inputs = [input([rows, width]), input([rows, outputs])];
      f = jax.jit((x: JaxArray, dz: JaxArray) => np.matmul(x.transpose(), dz));
    }
  }
  return {
    name: 'jax-js',
    async run(reps) {
      const outs: JaxArray[] = [];
      for (let i = 0; i < reps; i++) outs.push(f(...inputs.map((a) => a.ref)));
      await jax.blockUntilReady(outs);
      const shape = outs[0].shape.join('×');
      for (const o of outs) o.dispose();
      if (shape !== `${c.m}×${c.n}`) throw new Error(`jax-js gave a ${shape} result for ${c.name}`);
    },
    dispose() {
      for (const a of inputs) a.dispose();
      f.dispose();
    },
  };
}
