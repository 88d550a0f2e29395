// The one place that finds a WebGPU device, wherever the code runs: `navigator.gpu` in a
// browser; in Node, Dawn (npm package `webgpu`), first its default backend (Vulkan on a GPU
// machine), then OpenGL ES on Mesa llvmpipe. It also owns what every kernel needs from the
// device: counted buffer creation, readback, and turning device loss or validation errors
// into thrown errors that name the adapter instead of hangs.

import { describeValue, optionsProblem } from './options.js';

/** What was chosen, for printing at the start of every run. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** `browser` (navigator.gpu), `dawn-vulkan`, `dawn-opengles`, ... */
  backend: string;
  /** `core` or `compatibility` (the llvmpipe GLES path). */
  featureLevel: 'core' | 'compatibility';
  features: string[];
}

/** Options of requestGpu() and sharedGpu(); all optional, unknown keys refused with a GpuError. */
export interface GpuOptions {
  /** Node only: force Dawn's backend instead of trying the default first. */
  backend?: 'default' | 'opengles' | 'vulkan';
  /** Node only: extra Dawn toggles, e.g. `disable-dawn-features=timestamp_quantization`. */
  dawnFlags?: string[];
  /** Browser only: a `navigator.gpu` to use instead of the global one. */
  navigatorGpu?: GPU;
  /** Request `timestamp-query` when the adapter has it (benchmarks). */
  timestamps?: boolean;
  /**
   * Node only: threads that Mesa's llvmpipe (the CPU adapter Dawn finds on Linux without a GPU)
   * runs compute shaders on; 0 runs each dispatch in the thread that submits it. Waking its
   * thread pool costs tens of µs per dispatch, so small models train faster with 0 (on a 2-core
   * machine the demo 1.7×, one Iris model 3×), and large ones slower (one core instead of all).
   * It sets LP_NUM_THREADS, which Mesa reads once per process, when the first device opens; an
   * LP_NUM_THREADS already set wins. Other adapters ignore it.
   */
  llvmpipeThreads?: number;
}

/** Thrown when the GPU is lost, reports a validation error, or none can be found; or for bad GpuOptions. */
export class GpuError extends Error {
  override name = 'GpuError';
  constructor(
    message: string,
    /** `'no-adapter'`: no WebGPU adapter was found (the message says where it looked); absent for every other failure. */
    readonly code?: 'no-adapter',
  ) {
    super(message);
  }
}

const GPU_OPTION_KEYS = Object.keys({ backend: 1, dawnFlags: 1, navigatorGpu: 1, timestamps: 1, llvmpipeThreads: 1 } satisfies Record<keyof GpuOptions, 1>);

/** Limits requested at the adapter's own values: compatibility defaults are far smaller. */
const LIMITS_FROM_ADAPTER = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxBufferSize',
  'maxBindGroups',
] as const;

/** A WebGPU device with the bookkeeping every part of altreg relies on. */
export class Gpu {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  readonly hasTimestamps: boolean;
  /** The device has WGSL subgroup operations (`enable subgroups;`). */
  readonly hasSubgroups: boolean;
  /** Buffers created through `createBuffer` and not yet destroyed (weakly: a leaked one can still be collected). */
  private readonly live = new WeakSet<GPUBuffer>();
  private liveCount = 0;
  /** The buffers made by the `build` in progress (its `make` runs synchronously), else null. */
  private building: GPUBuffer[] | null = null;
  /** All buffers ever created through `createBuffer`. */
  createdBuffers = 0;
  private lostReason: string | null = null;
  private readonly lostPromise: Promise<never>;
  private readonly errors: string[] = [];

  /**
   * The GPU instance the device came from. Dawn frees its instance when this object is
   * garbage-collected, even with a device alive: that corrupts memory, so it is held here.
   */
  private readonly instance: GPU | null;

  constructor(device: GPUDevice, adapter: AdapterDescription, instance: GPU | null = null) {
    this.device = device;
    this.instance = instance;
    this.adapter = adapter;
    this.hasTimestamps = device.features.has('timestamp-query');
    this.hasSubgroups = device.features.has('subgroups' as GPUFeatureName);
    this.lostPromise = device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
      throw new GpuError(`GPU device lost on ${this.name} (${this.lostReason})`);
    });
    // A rejection nobody awaits must not crash the process: callers see it through check().
    this.lostPromise.catch(() => undefined);
    device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      if (this.errors.length < 20) this.errors.push(message);
    });
  }

  /** "vendor device (backend)", for messages. */
  get name(): string {
    const a = this.adapter;
    const what = [a.vendor, a.device || a.architecture || a.description].filter(Boolean).join(' ') || 'unnamed adapter';
    return `${what} (${a.backend})`;
  }

  /** Throws if the device was lost or a GPU command was rejected since the last check. */
  check(): void {
    if (this.lostReason !== null) throw new GpuError(`GPU device lost on ${this.name} (${this.lostReason})`);
    if (this.errors.length > 0) {
      const all = this.errors.splice(0);
      throw new GpuError(`WebGPU error on ${this.name}: ${all.join(' | ')}`);
    }
  }

  /** Resolves with `promise`, or rejects with a GpuError if the device is lost first. */
  async guard<T>(promise: Promise<T>): Promise<T> {
    const value = await Promise.race([promise, this.lostPromise]);
    this.check();
    return value;
  }

  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags, mappedAtCreation = false): GPUBuffer {
    // WebGPU requires sizes in multiples of 4 for mapping and copies; never 0.
    const bytes = Math.max(16, Math.ceil(size / 16) * 16);
    const limit = this.device.limits.maxBufferSize;
    if (bytes > limit) {
      throw new GpuError(`buffer '${label}' needs ${bytes} bytes; ${this.name} allows at most ${limit}`);
    }
    const buffer = this.device.createBuffer({ label, size: bytes, usage, mappedAtCreation });
    this.live.add(buffer);
    this.liveCount++;
    this.building?.push(buffer);
    this.createdBuffers++;
    return buffer;
  }

  /** How many buffers made by `createBuffer` are not destroyed yet (leak tests read this). */
  get liveBuffers(): number {
    return this.liveCount;
  }

  /** A storage buffer holding `data` (copied at creation). */
  createStorage(label: string, data: Float32Array | Uint32Array | Int32Array | number, extraUsage = 0): GPUBuffer {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage;
    if (typeof data === 'number') return this.createBuffer(label, data, usage);
    const buffer = this.createBuffer(label, data.byteLength, usage, true);
    const view = new Uint8Array(buffer.getMappedRange());
    view.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    return buffer;
  }

  /**
   * Builds GPU objects with `make` (e.g. a trainer's constructor) inside WebGPU error scopes. If
   * `make` throws part way (a kernel refusing its shape) or the device rejects a command it
   * issued (a binding larger than the adapter allows, memory it cannot give), every buffer it
   * created is destroyed and the build fails: with that error, or a GpuError naming `what`. So
   * nothing is left behind (the caller never gets an object to destroy), and a rejected command
   * does not surface at the next, unrelated check.
   */
  async build<T>(what: string, make: () => T): Promise<T> {
    const made: GPUBuffer[] = [];
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let value: T | undefined;
    let failure: unknown = null;
    this.building = made;
    try {
      value = make();
    } catch (error) {
      failure = error;
    } finally {
      this.building = null;
    }
    // Both scopes are popped before any await: another build on this device may push its own.
    const [invalid, memory] = await Promise.all([this.device.popErrorScope(), this.device.popErrorScope()]);
    const rejected = invalid ?? memory;
    if (failure === null && !rejected) return value as T;
    for (const b of made) this.destroyBuffer(b);
    if (failure !== null) throw failure;
    throw new GpuError(`${what} failed on ${this.name}: ${rejected!.message.split('\n')[0]}`);
  }

  /** Destroys `buffer`; destroying one twice is harmless, as in WebGPU. */
  destroyBuffer(buffer: GPUBuffer | null | undefined): void {
    if (!buffer) return;
    buffer.destroy();
    if (this.live.delete(buffer)) this.liveCount--;
  }

  write(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copies `bytes` from `buffer` at `byteOffset` and returns them (one submit + map). */
  async readBytes(buffer: GPUBuffer, byteOffset = 0, bytes = buffer.size - byteOffset): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.createBuffer('readback', size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const encoder = this.device.createCommandEncoder({ label: 'readback' });
      encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      await this.guard(staging.mapAsync(GPUMapMode.READ, 0, size));
      return staging.getMappedRange(0, size).slice(0, bytes);
    } finally {
      this.destroyBuffer(staging);
    }
  }

  async readFloat32(buffer: GPUBuffer, offset = 0, length?: number): Promise<Float32Array> {
    const n = length ?? buffer.size / 4 - offset;
    return new Float32Array(await this.readBytes(buffer, offset * 4, n * 4));
  }

  async readUint32(buffer: GPUBuffer, offset = 0, length?: number): Promise<Uint32Array> {
    const n = length ?? buffer.size / 4 - offset;
    return new Uint32Array(await this.readBytes(buffer, offset * 4, n * 4));
  }

  /** Waits until the queue is idle; throws on device loss or a validation error. */
  async sync(): Promise<void> {
    await this.guard(this.device.queue.onSubmittedWorkDone());
  }

  /**
   * Encodes one compute pass with `fill` and submits it. `timestampWrites` times the pass (devices
   * with timestamp-query); `afterPass` encodes more on the same encoder once the pass has ended
   * (e.g. resolving those timestamps).
   */
  submit(
    label: string,
    fill: (pass: GPUComputePassEncoder, encoder: GPUCommandEncoder) => void,
    options: { timestampWrites?: GPUComputePassTimestampWrites; afterPass?: (encoder: GPUCommandEncoder) => void } = {},
  ): void {
    const encoder = this.device.createCommandEncoder({ label });
    const pass = encoder.beginComputePass({ label, ...(options.timestampWrites ? { timestampWrites: options.timestampWrites } : {}) });
    fill(pass, encoder);
    pass.end();
    options.afterPass?.(encoder);
    this.device.queue.submit([encoder.finish()]);
  }

  destroy(): void {
    this.device.destroy();
  }
}

function describe(info: GPUAdapterInfo | undefined, backend: string, featureLevel: 'core' | 'compatibility', features: Iterable<string>): AdapterDescription {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    backend,
    featureLevel,
    features: [...features].sort(),
  };
}

async function openDevice(
  instance: GPU,
  adapter: GPUAdapter,
  backend: string,
  featureLevel: 'core' | 'compatibility',
  options: GpuOptions,
): Promise<Gpu> {
  const requiredLimits: Record<string, number> = {};
  for (const key of LIMITS_FROM_ADAPTER) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[key];
    if (typeof value === 'number') requiredLimits[key] = value;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (options.timestamps && adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  // Kernels with a subgroup variant (softmax-xent over wide rows) use it where the device has them.
  if (adapter.features.has('subgroups' as GPUFeatureName)) requiredFeatures.push('subgroups' as GPUFeatureName);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'altreg' });
  return new Gpu(device, describe(adapter.info, backend, featureLevel, adapter.features), instance);
}

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };

/**
 * Puts GpuOptions.llvmpipeThreads into `env` as LP_NUM_THREADS unless that is set already;
 * throws a GpuError for a value that is not an integer ≥ 0.
 */
export function applyLlvmpipeThreads(threads: number | undefined, env: Record<string, string | undefined>): void {
  if (threads === undefined) return;
  if (!Number.isInteger(threads) || threads < 0) throw new GpuError(`llvmpipeThreads must be an integer ≥ 0, got ${threads}`);
  env.LP_NUM_THREADS ??= String(threads);
}

async function requestNodeGpu(options: GpuOptions): Promise<Gpu> {
  // Mesa reads EGL_PLATFORM and LP_NUM_THREADS when Dawn's GL backend starts: headless machines
  // have no display.
  process.env.EGL_PLATFORM ??= 'surfaceless';
  applyLlvmpipeThreads(options.llvmpipeThreads, process.env);
  const moduleName = 'webgpu';
  let dawn: DawnModule;
  try {
    dawn = (await import(/* @vite-ignore */ moduleName)) as DawnModule;
  } catch (error) {
    throw new GpuError(`cannot load Dawn (npm package 'webgpu'): ${(error as Error).message}; run 'npm ci'`);
  }
  Object.assign(globalThis, dawn.globals);
  const flags = options.dawnFlags ?? [];
  const tried: string[] = [];
  // Without a Vulkan loader Dawn's default backend on Linux can only fail (noisily): skip it.
  const tryDefault = options.backend === 'vulkan' || (options.backend !== 'opengles' && (process.platform !== 'linux' || (await hasVulkanLoader())));
  if (tryDefault) {
    const backendFlags = options.backend === 'vulkan' ? ['backend=vulkan'] : [];
    const gpu = dawn.create([...backendFlags, ...flags]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) return openDevice(gpu, adapter, `dawn-${backendName(adapter.info)}`, 'core', options);
    tried.push(options.backend === 'vulkan' ? 'Vulkan' : 'the default backend');
    if (options.backend === 'vulkan') throw new GpuError(`no WebGPU adapter: tried ${tried.join(', ')}`, 'no-adapter');
  }
  const gles = dawn.create(['backend=opengles', ...flags]);
  const adapter = await gles.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  if (adapter) return openDevice(gles, adapter, 'dawn-opengles', 'compatibility', options);
  tried.push('OpenGL ES (needs Debian packages libegl1 libegl-mesa0 libgles2)');
  throw new GpuError(`no WebGPU adapter: tried ${tried.join(', ')}`, 'no-adapter');
}

async function hasVulkanLoader(): Promise<boolean> {
  const fs = await import(/* @vite-ignore */ 'node:fs');
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', ...(process.env.LD_LIBRARY_PATH ?? '').split(':')];
  return dirs.some((dir) => dir && fs.existsSync(`${dir}/libvulkan.so.1`));
}

function backendName(info: GPUAdapterInfo): string {
  const text = `${info.description} ${info.architecture}`.toLowerCase();
  if (text.includes('vulkan')) return 'vulkan';
  if (text.includes('metal')) return 'metal';
  if (text.includes('d3d')) return 'd3d12';
  return 'default';
}

/** True where this JavaScript runtime is Node (Dawn path) rather than a browser. */
export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/** Refuses options that are not an object or hold a key that is not an option (a misspelt one would be ignored). */
function checkGpuOptions(where: string, options: GpuOptions): void {
  const problem = optionsProblem(options, GPU_OPTION_KEYS);
  if (problem !== null) throw new GpuError(`${where}: ${problem}`);
}

/**
 * Returns a GPU device wherever the code runs, or throws GpuError saying what was tried.
 * The adapter's own limits are requested; compatibility-mode defaults are much smaller.
 */
export async function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  checkGpuOptions('requestGpu', options);
  const navGpu = options.navigatorGpu ?? (typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined);
  if (navGpu) {
    const adapter = await navGpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new GpuError('navigator.gpu found no WebGPU adapter', 'no-adapter');
    return openDevice(navGpu, adapter, 'browser', 'core', options);
  }
  if (isNode()) return requestNodeGpu(options);
  throw new GpuError('WebGPU is not available here: navigator.gpu is missing (it needs a secure context: https, localhost or 127.0.0.1)', 'no-adapter');
}

let shared: Promise<Gpu> | null = null;

/** One device per process, created on first use: Dawn instances are expensive. */
export function sharedGpu(options: GpuOptions = {}): Promise<Gpu> {
  // Checked on every call: once the device exists its options are not used, but a typo still is one.
  try {
    checkGpuOptions('sharedGpu', options);
  } catch (error) {
    return Promise.reject(error);
  }
  if (!shared) {
    shared = requestGpu(options);
    shared.catch(() => {
      shared = null;
    });
  }
  return shared;
}
