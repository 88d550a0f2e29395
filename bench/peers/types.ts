// What a benchmark peer (another WebGPU library on altreg's device) offers the benchmark.

import type { MatmulCase } from '../matmul.js';
import type { Contender } from '../timing.js';
import type { TrainingContender, TrainingTask } from '../training.js';

export interface Peer {
  /** `TF.js` or `jax-js`: the column name. */
  name: string;
  /** Package and version, for the results file. */
  version: string;
  /** The peer's equivalent of a matmul row, its inputs already on the GPU. */
  matmul(c: MatmulCase): Contender;
  /** The peer training a task end to end on the same device (bench/peers/*-train.ts). */
  trainer(task: TrainingTask): Promise<TrainingContender>;
}
