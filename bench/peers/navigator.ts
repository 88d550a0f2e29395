// Makes the peers (TF.js, jax-js) run on altreg's own GPUDevice: both look for `navigator.gpu`,
// which Node 20 lacks. The stand-in hands out one adapter whose requestDevice() returns the
// device altreg already opened, so every contender shares one adapter, device and queue.

import type { Gpu } from '../../src/runtime/gpu.js';

/** An adapter-shaped object whose device is `gpu.device`; only what the peers read. */
function sharedAdapter(gpu: Gpu) {
  const info = { vendor: gpu.adapter.vendor, architecture: gpu.adapter.architecture, device: gpu.adapter.device, description: gpu.adapter.description };
  return {
    info,
    limits: gpu.device.limits,
    features: gpu.device.features,
    isFallbackAdapter: false,
    requestAdapterInfo: async () => info,
    requestDevice: async () => gpu.device,
  };
}

/**
 * Installs `navigator.gpu` (and a `userAgent`, which jax-js reads) backed by `gpu`. Call it only
 * after altreg's own device exists: requestGpu() itself prefers navigator.gpu when present.
 */
export function installNavigatorGpu(gpu: Gpu): void {
  const adapter = sharedAdapter(gpu);
  const stand = { requestAdapter: async () => adapter, getPreferredCanvasFormat: () => 'rgba8unorm', wgslLanguageFeatures: new Set<string>() };
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav) {
    Object.defineProperty(nav, 'gpu', { value: stand, configurable: true });
    if (typeof nav.userAgent !== 'string') Object.defineProperty(nav, 'userAgent', { value: 'Node.js', configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: stand, userAgent: `Node.js/${process.versions.node}` }, configurable: true, writable: true });
  }
}
