// The altreg package entry: the GPU device, the kernels with their CPU twins, and (as they land)
// the trainer, schedules, data sets and metrics. Runs in browsers (navigator.gpu) and in Node
// (Dawn through the npm package `webgpu`, loaded only there).

export { Gpu, GpuError, requestGpu, sharedGpu, type AdapterDescription, type GpuOptions } from './runtime/gpu.js';
export * as kernels from './kernels/index.js';
export { runSelfCheck, type CheckResult } from './kernels/selfcheck.js';
