// The device function: a real adapter is found and named; device loss and validation errors
// become thrown GpuErrors naming the adapter instead of hangs.
import { describe, expect, it } from 'vitest';
import { GpuError, applyLlvmpipeThreads, requestGpu, sharedGpu } from './gpu.js';

describe('requestGpu', () => {
  it('finds a real adapter, names it, and grants the adapter limits', async () => {
    const gpu = await requestGpu();
    try {
      expect(gpu.name).toMatch(/\(dawn-(opengles|vulkan|default|metal|d3d12)\)$/);
      expect(gpu.adapter.backend).toMatch(/^dawn-/);
      // Compatibility mode defaults to 128 invocations and 4 storage buffers; we ask for the adapter's.
      expect(gpu.device.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
      expect(gpu.device.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    } finally {
      gpu.destroy();
    }
  });

  it('an uncaptured validation error is thrown at the next check, naming the adapter', async () => {
    const gpu = await requestGpu();
    try {
      // MAP_READ may only be combined with COPY_DST: a validation error nobody captures.
      gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      const error = await gpu.sync().catch((e) => e);
      expect(error).toBeInstanceOf(GpuError);
      expect(error.message).toContain(`WebGPU error on ${gpu.name}`);
      await expect(gpu.sync()).resolves.toBeUndefined(); // reported once, then cleared
    } finally {
      gpu.destroy();
    }
  });

  it('llvmpipeThreads becomes LP_NUM_THREADS unless that is set; a bad value is refused first', async () => {
    const env: Record<string, string | undefined> = {};
    applyLlvmpipeThreads(undefined, env);
    expect(env).toEqual({});
    applyLlvmpipeThreads(0, env);
    expect(env.LP_NUM_THREADS).toBe('0');
    const mine = { LP_NUM_THREADS: '2' };
    applyLlvmpipeThreads(0, mine);
    expect(mine.LP_NUM_THREADS).toBe('2');
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => applyLlvmpipeThreads(bad, {})).toThrow(`llvmpipeThreads must be an integer ≥ 0, got ${bad}`);
    }
    await expect(requestGpu({ llvmpipeThreads: -1 })).rejects.toThrow(GpuError);
  });

  it('a misspelt option is refused by name before any device is looked for', async () => {
    const valid = 'valid options: backend, dawnFlags, navigatorGpu, timestamps, llvmpipeThreads';
    for (const [fn, where] of [[requestGpu, 'requestGpu'], [sharedGpu, 'sharedGpu']] as const) {
      const error = await fn({ llvmpipeThread: 0 } as never).catch((e) => e);
      expect(error).toBeInstanceOf(GpuError);
      expect(error.message).toBe(`${where}: unknown option llvmpipeThread (did you mean llvmpipeThreads?); ${valid}`);
      const other = await fn({ powerPreference: 'low-power' } as never).catch((e) => e);
      expect(other).toBeInstanceOf(GpuError);
      expect(other.message).toBe(`${where}: unknown option powerPreference; ${valid}`);
      const notObject = await fn(null as never).catch((e) => e);
      expect(notObject).toBeInstanceOf(GpuError);
      expect(notObject.message).toBe(`${where}: options must be an object with keys ${valid.slice('valid options: '.length)}, got null`);
    }
  });

  it('finding no adapter is a GpuError with code no-adapter; other failures have no code', async () => {
    const none = { requestAdapter: async () => null } as unknown as GPU;
    const error = await requestGpu({ navigatorGpu: none }).catch((e) => e);
    expect(error).toBeInstanceOf(GpuError);
    expect([error.code, error.message]).toEqual(['no-adapter', 'navigator.gpu found no WebGPU adapter']);
    const bad = await requestGpu({ llvmpipeThreads: -1 }).catch((e) => e);
    expect(bad).toBeInstanceOf(GpuError);
    expect(bad.code).toBeUndefined();
  });

  it('a lost device turns waiting into a thrown error, not a hang', async () => {
    const gpu = await requestGpu();
    const buffer = gpu.createStorage('x', new Float32Array(4));
    gpu.destroy();
    const started = performance.now();
    const error = await gpu.readFloat32(buffer).catch((e) => e);
    expect(error).toBeInstanceOf(GpuError);
    expect(error.message).toMatch(new RegExp(`GPU device lost on .*\\(dawn-`));
    expect(performance.now() - started).toBeLessThan(5000);
    expect(() => gpu.check()).toThrow(/GPU device lost/);
  });
});
