// The shared WebGPU device for Node tests: a real adapter (Dawn on llvmpipe here), never skipped.
import { sharedGpu, type Gpu } from '../runtime/gpu.js';

export function testGpu(): Promise<Gpu> {
  return sharedGpu();
}
