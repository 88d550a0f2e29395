// What every kernel wrapper shares: its error class, shape and buffer checks that run before
// anything is dispatched, and per-device caches so that a shader module, bind group layout or
// pipeline is created once per device however many calls are built from it.

import type { Gpu } from '../runtime/gpu.js';

/** Bad shapes, sizes or buffers given to a kernel; thrown before any GPU work. */
export class KernelInputError extends Error {
  override name = 'KernelInputError';
}

/** A GPU buffer and where a tensor starts in it, in 4-byte elements. */
export interface Operand {
  buffer: GPUBuffer;
  /** Element offset of model 0's first element (default 0). */
  offset?: number;
  /** Elements between consecutive models of the batch (default: the tensor's own size). */
  batchStride?: number;
}

/** Throws unless `value` is an integer ≥ `min`. */
export function requireCount(kernel: string, field: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw new KernelInputError(`${kernel}: ${field} must be an integer ≥ ${min}, got ${value}`);
  }
}

/**
 * Checks that `operand` holds a batch of `rows × cols` tensors with row stride `ld`; returns its
 * offset and batch stride with defaults filled in.
 */
export function requireOperand(
  kernel: string,
  field: string,
  operand: Operand | undefined,
  batch: number,
  rows: number,
  cols: number,
  ld = cols,
): { offset: number; batchStride: number } {
  if (!operand || !operand.buffer) throw new KernelInputError(`${kernel}: operand '${field}' is missing`);
  const offset = operand.offset ?? 0;
  const batchStride = operand.batchStride ?? rows * ld;
  requireCount(kernel, `${field}.offset`, offset, 0);
  requireCount(kernel, `${field}.batchStride`, batchStride, 0);
  const needed = offset + (batch - 1) * batchStride + (rows - 1) * ld + cols;
  const held = Math.floor(operand.buffer.size / 4);
  if (needed > held) {
    throw new KernelInputError(
      `${kernel}: '${field}' needs ${needed} floats for batch ${batch} × [${rows}, ${cols}] ` +
        `(offset ${offset}, batch stride ${batchStride}), but its buffer holds ${held}`,
    );
  }
  if (needed > 2 ** 32) throw new KernelInputError(`${kernel}: '${field}' spans more than 2^32 elements`);
  return { offset, batchStride };
}

type Cache = Map<string, unknown>;
const caches = new WeakMap<GPUDevice, Cache>();

/** How many pipelines, layouts and modules have been built for this device (hygiene tests). */
export function cachedObjectCount(gpu: Gpu): number {
  return caches.get(gpu.device)?.size ?? 0;
}

/** Returns the value cached for this device under `key`, building it on first use. */
export function cached<T>(gpu: Gpu, key: string, build: () => T): T {
  let cache = caches.get(gpu.device);
  if (!cache) {
    cache = new Map();
    caches.set(gpu.device, cache);
  }
  if (!cache.has(key)) cache.set(key, build());
  return cache.get(key) as T;
}

/** A binding's buffer type: 'read' (read-only storage), 'write' (read-write storage) or 'uniform'. */
export type BindingKind = 'read' | 'write' | 'uniform';

/** A bind group layout for compute from a list of binding kinds (binding i = kinds[i]). */
export function bindGroupLayout(gpu: Gpu, kinds: { kind: BindingKind; dynamic?: boolean }[]): GPUBindGroupLayout {
  const key = 'layout:' + kinds.map((k) => k.kind + (k.dynamic ? '+d' : '')).join(',');
  return cached(gpu, key, () =>
    gpu.device.createBindGroupLayout({
      label: key,
      entries: kinds.map((k, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: {
          type: k.kind === 'uniform' ? 'uniform' : k.kind === 'read' ? 'read-only-storage' : 'storage',
          hasDynamicOffset: !!k.dynamic,
        },
      })),
    }),
  );
}

/** A compute pipeline built once per device for `shader` and its override constants. */
export function computePipeline(
  gpu: Gpu,
  name: string,
  code: string,
  layouts: GPUBindGroupLayout[],
  constants: Record<string, number | boolean>,
): GPUComputePipeline {
  const key = `pipeline:${name}:${JSON.stringify(constants)}:${layouts.map((l) => l.label).join('|')}`;
  return cached(gpu, key, () => {
    const module = cached(gpu, `module:${name}`, () => gpu.device.createShaderModule({ label: name, code }));
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) numeric[k] = typeof v === 'boolean' ? Number(v) : v;
    return gpu.device.createComputePipeline({
      label: `${name} ${JSON.stringify(constants)}`,
      layout: gpu.device.createPipelineLayout({ bindGroupLayouts: layouts }),
      compute: { module, entryPoint: 'main', constants: numeric },
    });
  });
}

/** A uniform buffer holding `words` (u32 or f32 values, padded to 16 bytes). */
export function uniformBuffer(gpu: Gpu, label: string, words: ArrayBufferView): GPUBuffer {
  const buffer = gpu.createBuffer(label, Math.ceil(words.byteLength / 16) * 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, true);
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
  buffer.unmap();
  return buffer;
}

/** A tiny placeholder for bindings a kernel variant does not read. */
export function placeholderBuffer(gpu: Gpu): GPUBuffer {
  return cached(gpu, 'placeholder', () =>
    gpu.device.createBuffer({ label: 'placeholder', size: 16, usage: GPUBufferUsage.STORAGE }),
  );
}

/**
 * Invocations per workgroup of the CPU adapters' lane layouts (softmax-xent, metrics, Σw²): the
 * SIMD width llvmpipe runs with AVX2.
 */
export const LANES_WG = 8;

/** Splits a 1-D workgroup count over x and y to respect maxComputeWorkgroupsPerDimension. */
export function grid1d(gpu: Gpu, workgroups: number): [number, number] {
  const max = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups <= max) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y];
}

/**
 * A prepared dispatch: pipeline, bind group and workgroup counts, all created once.
 * `destroy()` frees the buffers the call owns (its uniforms), never the operands.
 */
export interface KernelCall {
  readonly kernel: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: [number, number, number];
  destroy(): void;
}

/** Records one prepared call into a compute pass. */
export function encodeCall(pass: GPUComputePassEncoder, call: KernelCall, dynamicOffsets?: number[]): void {
  pass.setPipeline(call.pipeline);
  if (dynamicOffsets) pass.setBindGroup(0, call.bindGroup, dynamicOffsets);
  else pass.setBindGroup(0, call.bindGroup);
  pass.dispatchWorkgroups(...call.workgroups);
}

/** Builds a KernelCall whose bind group binds `resources` in order and that owns `owned`. */
export function makeCall(
  gpu: Gpu,
  kernel: string,
  pipeline: GPUComputePipeline,
  layout: GPUBindGroupLayout,
  resources: GPUBufferBinding[],
  workgroups: [number, number, number],
  owned: GPUBuffer[],
): KernelCall {
  const bindGroup = gpu.device.createBindGroup({
    label: kernel,
    layout,
    entries: resources.map((resource, binding) => ({ binding, resource })),
  });
  let destroyed = false;
  return {
    kernel,
    pipeline,
    bindGroup,
    workgroups,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const b of owned) gpu.destroyBuffer(b);
    },
  };
}

/**
 * Where each tensor of one model starts in its parameter block. Kernels that treat tensors
 * differently (L2 coefficients, norms) look the segment up from these starts.
 */
export interface Segments {
  /** Parameters of one model. */
  perModel: number;
  /** First parameter of each segment, ascending, starts[0] = 0; at most 64 segments. */
  starts: number[];
}

/** The most segments (tensors) per model that l2_grad, adam and sumsq take. */
export const MAX_SEGMENTS = 64;

/**
 * Checks `s`: perModel an integer ≥ 1, and 1 to MAX_SEGMENTS ascending integer starts from 0, all
 * below perModel.
 * @throws KernelInputError naming `kernel` and what is wrong.
 */
export function requireSegments(kernel: string, s: Segments): void {
  requireCount(kernel, 'segments.perModel', s.perModel);
  if (s.starts.length < 1 || s.starts.length > MAX_SEGMENTS) {
    throw new KernelInputError(`${kernel}: between 1 and ${MAX_SEGMENTS} segments are supported, got ${s.starts.length}`);
  }
  if (s.starts[0] !== 0) throw new KernelInputError(`${kernel}: segments.starts[0] must be 0, got ${s.starts[0]}`);
  for (let i = 1; i < s.starts.length; i++) {
    if (!(s.starts[i] > s.starts[i - 1]) || s.starts[i] >= s.perModel || !Number.isInteger(s.starts[i])) {
      throw new KernelInputError(`${kernel}: segments.starts must be ascending integers below perModel ${s.perModel}; got ${s.starts.join(', ')}`);
    }
  }
}

/** The segment holding parameter j of a model (CPU side of the shaders' segment_of). */
export function segmentOf(s: Segments, j: number): number {
  let seg = 0;
  for (let i = 1; i < s.starts.length; i++) if (j >= s.starts[i]) seg = i;
  return seg;
}

/** Checks that `buffer` holds at least `elements` 4-byte elements. */
export function requireElements(kernel: string, field: string, buffer: GPUBuffer | undefined, elements: number, shape: string): void {
  if (!buffer) throw new KernelInputError(`${kernel}: buffer '${field}' is missing`);
  const held = Math.floor(buffer.size / 4);
  if (held < elements) {
    throw new KernelInputError(`${kernel}: '${field}' needs ${elements} elements for ${shape}, but its buffer holds ${held}`);
  }
}

/** Rounds `bytes` up to the device's alignment for dynamic storage offsets. */
export function storageSlotBytes(gpu: Gpu, bytes: number): number {
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  return Math.ceil(Math.max(bytes, 4) / align) * align;
}

/** Bytes between entries of a uniform table read with dynamic offsets. */
export function uniformSlotBytes(gpu: Gpu): number {
  return Math.max(16, gpu.device.limits.minUniformBufferOffsetAlignment);
}

/** A uniform table whose entry i (at i · uniformSlotBytes) holds the u32 i: a step index. */
export function createIndexTable(gpu: Gpu, label: string, entries: number): GPUBuffer {
  const stride = uniformSlotBytes(gpu) / 4;
  const words = new Uint32Array(Math.max(1, entries) * stride);
  for (let i = 0; i < entries; i++) words[i * stride] = i;
  return uniformBuffer(gpu, label, words);
}

/**
 * True for adapters that run shaders on the CPU: llvmpipe (Dawn on Mesa), SwiftShader
 * (Chromium without a GPU), lavapipe. Kernels shape their work differently there (matmul: the
 * direct strategy; softmax-xent: few, long workgroups).
 */
export function isCpuAdapter(gpu: Gpu): boolean {
  const a = gpu.adapter;
  const text = `${a.vendor} ${a.architecture} ${a.device} ${a.description}`.toLowerCase();
  return /llvmpipe|swiftshader|lavapipe|softpipe|\bcpu\b/.test(text);
}

/**
 * Loop iterations a CPU adapter runs per invocation, in all its loops together: llvmpipe (Mesa
 * 22.3) silently stops looping after 65,535 (measured: softmax-xent rows of 22,000 classes, three
 * loops over the row, came back partly unwritten; 21,000 were right). Kernels keep their
 * invocations under it there, with room to spare.
 */
export const CPU_LOOP_BUDGET = 60_000;

/**
 * Compares `count` entries of an output (its first and last, and pseudo-random others) with a
 * float64 reference: `ref(e)` gives the entry's value and the sum of the magnitudes that made
 * it. Null when every one is within 1e-4 of that scale (plus `floor`), else the first that is not.
 */
export function checkSampled(out: Float32Array, ref: (e: number) => { value: number; scale: number }, label: string, floor = 1e-6, count = 48): string | null {
  let seed = 2463534242;
  const picks = [0, out.length - 1];
  while (picks.length < Math.min(count, out.length)) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    picks.push((seed >>> 0) % out.length);
  }
  for (const e of picks) {
    const { value, scale } = ref(e);
    if (!(Math.abs(out[e] - value) <= 1e-4 * scale + floor)) return `${label}[${e}] = ${out[e]}, float64 gives ${value}`;
  }
  return null;
}
