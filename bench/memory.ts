// The memory-bound rows: altreg's Adam update and fused softmax cross-entropy in GB/s, next to
// the copy bandwidth of the same adapter (copyBufferToBuffer, and a trivial WGSL copy kernel).
// Bytes are the compulsory traffic: each element read or written once (Adam: w, g, m, v read and
// w, m, v written, 28 bytes per parameter; softmax: logits and labels read, dlogits written).

import copyCode from './copy.wgsl?raw';
import { adamCpu, createAdam } from '../src/kernels/adam.js';
import { bindGroupLayout, checkSampled, computePipeline, grid1d } from '../src/kernels/common.js';
import { COUNTER_WORDS } from '../src/kernels/gather.js';
import { coefSlotBytes } from '../src/kernels/l2-grad.js';
import { createSoftmaxXent, encodeSlotCall, readLossGroup, softmaxXentCpu, statsSlotBytes, type SlotCall, type SoftmaxLayout } from '../src/kernels/softmax-xent.js';
import type { Gpu } from '../src/runtime/gpu.js';
import { gpuContender, randomData, type Contender } from './timing.js';

/** One memory-bound row: what it moves per run of its operation. */
export interface MemoryCase {
  name: string;
  /** Bytes read plus bytes written by one run of the operation. */
  bytes: number;
  /** The largest buffer the operation binds (it must fit maxStorageBufferBindingSize). */
  largestBuffer: number;
  /** Softmax cases: the logits' shape. */
  rows?: number;
  classes?: number;
  contender(gpu: Gpu): Contender;
}

const MiB = 2 ** 20;

/** copyBufferToBuffer of `bytes`: the adapter's own copy path. */
export function bufferCopyCase(bytes: number): MemoryCase {
  return {
    name: 'copyBufferToBuffer',
    bytes: 2 * bytes,
    largestBuffer: bytes,
    contender(gpu) {
      const src = gpu.createStorage('copy src', bytes);
      const dst = gpu.createStorage('copy dst', bytes);
      return {
        name: 'copyBufferToBuffer',
        async run(reps) {
          const encoder = gpu.device.createCommandEncoder({ label: 'bench copy' });
          for (let i = 0; i < reps; i++) encoder.copyBufferToBuffer(src, 0, dst, 0, bytes);
          gpu.device.queue.submit([encoder.finish()]);
          await gpu.sync();
        },
        dispose: () => [src, dst].forEach((b) => gpu.destroyBuffer(b)),
      };
    },
  };
}

/** A WGSL kernel copying `bytes` as vec4: what a shader can stream on this adapter. */
export function kernelCopyCase(bytes: number): MemoryCase {
  return {
    name: 'WGSL copy',
    bytes: 2 * bytes,
    largestBuffer: bytes,
    contender(gpu) {
      const src = gpu.createStorage('copy src', bytes);
      const dst = gpu.createStorage('copy dst', bytes);
      const layout = bindGroupLayout(gpu, [{ kind: 'read' }, { kind: 'write' }]);
      const pipeline = computePipeline(gpu, 'bench_copy', copyCode, [layout], { WG: 256 });
      const bindGroup = gpu.device.createBindGroup({ layout, entries: [src, dst].map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const [x, y] = grid1d(gpu, Math.ceil(bytes / 16 / 256));
      const encode = (pass: GPUComputePassEncoder) => {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(x, y);
      };
      return gpuContender(gpu, 'WGSL copy', encode, () => [src, dst].forEach((b) => gpu.destroyBuffer(b)));
    },
  };
}

/** altreg's kernel `call` (epoch slot 0) as a contender that frees `own` and checks with `check`. */
function slotContender(gpu: Gpu, call: SlotCall, own: GPUBuffer[], check: () => Promise<string | null>): Contender {
  const dispose = () => {
    call.destroy();
    for (const b of own) gpu.destroyBuffer(b);
  };
  return gpuContender(gpu, 'altreg', (pass) => encodeSlotCall(pass, call, 0), dispose, check);
}

/** Adam with coupled L2 (the trainer's update) over `params` parameters of one model. */
export function adamCase(params: number): MemoryCase {
  return {
    name: `Adam (coupled L2) ${params / MiB}M params`,
    bytes: 28 * params,
    largestBuffer: 4 * params,
    contender(gpu) {
      const own: GPUBuffer[] = [];
      const buffer = (label: string, data: Float32Array | Uint32Array | number) => {
        const b = gpu.createStorage(label, data);
        own.push(b);
        return b;
      };
      const segments = { perModel: params, starts: [0] };
      const coef = new Float32Array(coefSlotBytes(gpu, 1, 1) / 4).fill(1e-4);
      const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
      const counters = new Uint32Array([1, 1, 1, 0].slice(0, COUNTER_WORDS));
      const [w0, g] = [randomData(params), randomData(params)];
      const [w, m, v] = [buffer('w', w0), buffer('m', params * 4), buffer('v', params * 4)];
      const call = createAdam(gpu, { models: 1, segments, mode: 'coupled', hyper, slots: 1, weights: w, grads: buffer('g', g), m, v, coef: buffer('coef', coef), counters: buffer('counters', counters) });
      // One step from the initial state again, against the float64 twin at sampled parameters.
      const check = async () => {
        gpu.write(w, w0);
        gpu.write(m, new Float32Array(params));
        gpu.write(v, new Float32Array(params));
        gpu.submit('check adam', (pass) => encodeSlotCall(pass, call, 0));
        const state = { weights: Float64Array.from(w0), grads: g, m: new Float64Array(params), v: new Float64Array(params) };
        adamCpu(1, segments, 'coupled', hyper, coef, counters, state);
        for (const [label, buf, ref] of [['w', w, state.weights], ['m', m, state.m], ['v', v, state.v]] as const) {
          const wrong = checkSampled(await gpu.readFloat32(buf, 0, params), (e) => ({ value: ref[e], scale: Math.abs(ref[e]) }), label, 1e-9);
          if (wrong) return wrong;
        }
        return null;
      };
      return slotContender(gpu, call, own, check);
    },
  };
}

/**
 * Fused softmax cross-entropy (loss, dlogits, epoch sums) over `rows` × `classes` logits, with
 * the layout createSoftmaxXent picks unless `layout` names one.
 */
export function softmaxCase(rows: number, classes: number, layout?: SoftmaxLayout): MemoryCase {
  return {
    name: `softmax-xent ${rows}×${classes}`,
    rows,
    classes,
    bytes: rows * classes * 8 + rows * 4,
    largestBuffer: rows * classes * 4,
    contender(gpu) {
      const own: GPUBuffer[] = [];
      const buffer = (label: string, data: Float32Array | Uint32Array | number) => {
        const b = gpu.createStorage(label, data);
        own.push(b);
        return b;
      };
      const labels = new Uint32Array(rows).map(() => Math.floor(Math.random() * classes));
      const logits = randomData(rows * classes).map((v) => 4 * v);
      const stats = buffer('stats', statsSlotBytes(gpu, 1, 4));
      const dlogits = buffer('dlogits', rows * classes * 4);
      const call = createSoftmaxXent(gpu, {
        models: 1,
        rows,
        classes,
        logits: buffer('logits', logits),
        labels: buffer('labels', labels),
        counters: buffer('counters', new Uint32Array([rows, rows, 1, 0].slice(0, COUNTER_WORDS))),
        dlogits,
        stats: { recordWords: 4, field: 0, slots: 1, buffer: stats },
        layout,
      });
      // One more dispatch into cleared sums: rows counted, loss sum and sampled dlogits against
      // the float64 twin.
      const check = async () => {
        gpu.write(stats, new Uint32Array(4));
        gpu.submit('check softmax-xent', (pass) => encodeSlotCall(pass, call, 0));
        const sums = readLossGroup(await gpu.readUint32(stats, 0, 4), 0);
        const ref = new Float64Array(rows * classes);
        const [twin] = softmaxXentCpu(1, rows, classes, logits, labels, [rows], ref);
        if (sums.count !== rows || sums.flags !== 0) return `rows counted ${sums.count} (flags ${sums.flags}), expected ${rows}`;
        if (!(Math.abs(sums.loss - twin.loss) <= 1e-4 * Math.abs(twin.loss))) return `loss sum ${sums.loss}, float64 gives ${twin.loss}`;
        // dlogits are probabilities over rows: relative to each, with a floor far below 1% of 1/rows.
        return checkSampled(await gpu.readFloat32(dlogits), (e) => ({ value: ref[e], scale: Math.abs(ref[e]) }), 'dlogits', 1e-6 / rows);
      };
      return slotContender(gpu, call, own, check);
    },
  };
}
