// The shared WebGPU device for Node tests: a real adapter (Dawn on llvmpipe here), never skipped.
import { sharedGpu, type Gpu } from '../runtime/gpu.js';

export function testGpu(): Promise<Gpu> {
  return sharedGpu();
}

/**
 * `real`'s device, reporting a storage binding limit of `bytes` (Dawn still allows its own):
 * training then splits models into groups and rows into parts as on a smaller device.
 */
export function withBindingLimit(real: Gpu, bytes: number): Gpu {
  const limits = new Proxy(real.device.limits, {
    get: (target, key) => (key === 'maxStorageBufferBindingSize' ? bytes : Reflect.get(target, key)),
  });
  const device = new Proxy(real.device, {
    get(target, key) {
      if (key === 'limits') return limits;
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return Object.create(real, { device: { value: device } }) as Gpu;
}
