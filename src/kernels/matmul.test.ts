import { describe, expect, it } from 'vitest';
import type { Gpu } from '../runtime/gpu.js';
import { testGpu } from '../testing/gpu.js';
import { poisoned, randomFloats, relativeError } from '../testing/random.js';
import { checkDenseProduct, type DenseProduct } from './selfcheck-matmul.js';
import type { DenseShape } from './matmul.js';
import { KernelInputError, encodeCall, isCpuAdapter } from './common.js';
import {
  DEFAULT_TILES,
  TILED_CANDIDATES,
  activate,
  chooseTiles,
  createDenseForward,
  createDenseInputGrad,
  createDenseWeightGrad,
  createMatmul,
  directTiles,
  fitTiles,
  parseStrategy,
  matmulCpu,
  maxMatmulK,
  resolveMatmul,
  type MatmulDims,
  type MatmulTiles,
  type MatmulVariant,
} from './matmul.js';

const SIZES = [1, 3, 17, 64, 127, 129, 257];
const PRODUCTS: DenseProduct[] = ['forward', 'inputGrad', 'weightGrad'];

describe('matmul against the float64 CPU twin', () => {
  for (const product of PRODUCTS) {
    for (const batch of [1, 3]) {
      it(`${product}, batch ${batch}, every size`, async () => {
        const gpu = await testGpu();
        for (const size of SIZES) {
          // Square-ish and lopsided shapes: rows, inputs and outputs differ.
          const shapes = [
            { batch, rows: size, inputs: size, outputs: size },
            { batch, rows: size, inputs: Math.max(1, (size * 3) % 67), outputs: Math.max(1, (size * 5) % 31) },
          ];
          for (const shape of shapes) {
            const r = await checkDenseProduct(gpu, product, shape, 'relu');
            expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
          }
        }
      });
    }
  }

  it('every activation, forward and input gradient', async () => {
    const gpu = await testGpu();
    for (const activation of ['identity', 'relu', 'tanh', 'sigmoid'] as const) {
      for (const product of ['forward', 'inputGrad'] as const) {
        const r = await checkDenseProduct(gpu, product, { batch: 2, rows: 33, inputs: 19, outputs: 70 }, activation);
        expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('operands at an element offset', async () => {
    const gpu = await testGpu();
    for (const product of PRODUCTS) {
      const r = await checkDenseProduct(gpu, product, { batch: 3, rows: 20, inputs: 9, outputs: 5 }, 'tanh', 7);
      expect(r.error, r.name).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('the CPU twin forms 0·Inf and 0·NaN as the GPU does', () => {
  // A's zeros meet a row of B holding NaN and ±Infinity: IEEE gives NaN for 0·NaN and 0·Inf, so
  // every C element that sums such a product is NaN on the GPU. The twin skipped A's zeros and
  // gave 0 there (a NaN weight on an always-0 feature vanished on the CPU only). Elsewhere the
  // skip stays: a zero of A times a finite row adds nothing.
  const [m, k, n] = [3, 4, 5];
  // A [m, k]: row 0 all zeros, row 1 zero at k = 2 only, row 2 without zeros.
  const aRows = [
    [0, 0, 0, 0],
    [1.5, -2, 0, 0.25],
    [0.5, 1, -1, 2],
  ];
  // B [k, n]: row 2 holds NaN (column 1), Infinity (column 3) and -Infinity (column 4).
  const bRows = [
    [1, 2, 3, 4, 5],
    [-1, 0.5, 2, -3, 1],
    [2, Number.NaN, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
    [0.5, 1, 1, 2, -2],
  ];
  // The IEEE products summed in order, nothing skipped: the independent reference.
  const expected = aRows.map((a) => Array.from({ length: n }, (_, j) => a.reduce((sum, av, kk) => sum + av * bRows[kk][j], 0)));

  for (const transA of [false, true]) {
    it(`${transA ? 'Aᵀ·B (a weight gradient)' : 'A·B (a forward product)'}: NaN exactly where the GPU has NaN, the rest equal`, async () => {
      const gpu = await testGpu();
      const variant: MatmulVariant = transA ? { transA: true } : {};
      const dims = { batch: 1, m, n, k };
      const aData = new Float32Array(transA ? Array.from({ length: k * m }, (_, i) => aRows[i % m][Math.floor(i / m)]) : aRows.flat());
      const bData = new Float32Array(bRows.flat());
      const operands = {
        a: { offset: 0, ld: transA ? m : k, batchStride: m * k },
        b: { offset: 0, ld: n, batchStride: k * n },
        c: { offset: 0, ld: n, batchStride: m * n },
      };
      const buffers = [gpu.createStorage('a', aData), gpu.createStorage('b', bData), gpu.createStorage('c', m * n * 4)];
      const call = createMatmul(gpu, variant, dims, { a: { buffer: buffers[0], ...operands.a }, b: { buffer: buffers[1], ...operands.b }, c: { buffer: buffers[2], ...operands.c } });
      try {
        gpu.submit('zeros times non-finite', (pass) => encodeCall(pass, call));
        const got = Array.from(await gpu.readFloat32(buffers[2], 0, m * n));
        const twin = new Float64Array(m * n);
        matmulCpu(variant, dims, resolveMatmul(variant, dims, { a: { buffer: buffers[0], ...operands.a }, b: { buffer: buffers[1], ...operands.b }, c: { buffer: buffers[2], ...operands.c } }), { a: aData, b: bData, c: twin });
        const want = expected.flat();
        // Rows 0 and 1 have NaN in columns 1, 3 and 4 (0·NaN, 0·Inf, 0·-Inf); row 2 NaN, -1·Inf, -1·-Inf.
        expect(want.map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual([0, 'NaN', 0, 'NaN', 'NaN', 3.625, 'NaN', 0.75, 'NaN', 'NaN', -1.5, 'NaN', 6.5, -Infinity, Infinity]);
        for (const [name, values] of [['GPU', got], ['CPU twin', Array.from(twin)]] as const) {
          values.forEach((v, i) => {
            if (Number.isNaN(want[i]) || !Number.isFinite(want[i])) expect(v, `${name} C[${i}]`).toBe(want[i]);
            else expect(Math.abs(v - want[i]), `${name} C[${i}] = ${v}, want ${want[i]}`).toBeLessThanOrEqual(1e-6);
          });
        }
      } finally {
        call.destroy();
        for (const b of buffers) gpu.destroyBuffer(b);
      }
    });
  }
});

describe('the CPU twin forms 0·Inf and 0·NaN per model: batch 2, non-finite values in one model only', () => {
  // The twin checks whether B is finite once per call and model: what it learned of one model's
  // B must not be used for the other's.
  // Both models have the same A (zeros in every row) and B, but for row 2 of B, which holds NaN
  // and ±Infinity in model `bad` only and finite values in the other.
  const [m, k, n] = [3, 4, 5];
  const aRows = [
    [0, 0, 0, 0],
    [1.5, -2, 0, 0.25],
    [0.5, 0, -1, 2],
  ];
  const finite = [
    [1, 2, 3, 4, 5],
    [-1, 0.5, 2, -3, 1],
    [2, 0.75, -1, 1.5, -0.5],
    [0.5, 1, 1, 2, -2],
  ];
  const nonFinite = finite.map((r, i) => (i === 2 ? [2, Number.NaN, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY] : r));
  const product = (b: number[][]) => aRows.map((a) => Array.from({ length: n }, (_, j) => a.reduce((sum, av, kk) => sum + av * b[kk][j], 0)));

  for (const transA of [false, true]) {
    for (const bad of [0, 1]) {
      it(`${transA ? 'Aᵀ·B' : 'A·B'}, non-finite B in model ${bad}: NaN there exactly where the GPU has it, the other model finite`, async () => {
        const gpu = await testGpu();
        const variant: MatmulVariant = transA ? { transA: true } : {};
        const dims = { batch: 2, m, n, k };
        const aOne = transA ? Array.from({ length: k * m }, (_, i) => aRows[i % m][Math.floor(i / m)]) : aRows.flat();
        const bs = [0, 1].map((model) => (model === bad ? nonFinite : finite));
        const aData = new Float32Array([...aOne, ...aOne]);
        const bData = new Float32Array(bs.flatMap((b) => b.flat()));
        const operands = {
          a: { offset: 0, ld: transA ? m : k, batchStride: m * k },
          b: { offset: 0, ld: n, batchStride: k * n },
          c: { offset: 0, ld: n, batchStride: m * n },
        };
        const buffers = [gpu.createStorage('a', aData), gpu.createStorage('b', bData), gpu.createStorage('c', 2 * m * n * 4)];
        const bound = { a: { buffer: buffers[0], ...operands.a }, b: { buffer: buffers[1], ...operands.b }, c: { buffer: buffers[2], ...operands.c } };
        const call = createMatmul(gpu, variant, dims, bound);
        try {
          gpu.submit('zeros times non-finite, one model', (pass) => encodeCall(pass, call));
          const got = Array.from(await gpu.readFloat32(buffers[2], 0, 2 * m * n));
          const twin = new Float64Array(2 * m * n);
          matmulCpu(variant, dims, resolveMatmul(variant, dims, bound), { a: aData, b: bData, c: twin });
          const want = bs.flatMap((b) => product(b).flat());
          // The bad model has NaN in columns 1, 3 and 4 of rows 0 and 1 (0·NaN, 0·±Inf) and in
          // column 1 of row 2 (-1·NaN), whose columns 3 and 4 are ∓Infinity; the other model none.
          const where = (which: (v: number) => boolean) => want.map((v, i) => (which(v) ? i : -1)).filter((i) => i >= 0);
          expect(where(Number.isNaN)).toEqual([1, 3, 4, 6, 8, 9, 11].map((i) => i + bad * m * n));
          expect(where((v) => !Number.isFinite(v))).toEqual([1, 3, 4, 6, 8, 9, 11, 13, 14].map((i) => i + bad * m * n));
          for (const [name, values] of [['GPU', got], ['CPU twin', Array.from(twin)]] as const) {
            values.forEach((v, i) => {
              if (!Number.isFinite(want[i])) expect(v, `${name} C[${i}]`).toBe(want[i]);
              else expect(Math.abs(v - want[i]), `${name} C[${i}] = ${v}, want ${want[i]}`).toBeLessThanOrEqual(1e-6);
            });
          }
        } finally {
          call.destroy();
          for (const b of buffers) gpu.destroyBuffer(b);
        }
      });
    }
  }
});

describe('matmul input checks, before any dispatch', () => {
  it('names the kernel and the shapes', async () => {
    const gpu = await testGpu();
    const small = gpu.createStorage('small', 4 * 4);
    const big = gpu.createStorage('big', 4096 * 4);
    try {
      const shape = { batch: 1, rows: 4, inputs: 3, outputs: 2 };
      expect(() => createDenseForward(gpu, shape, 'relu', { x: { buffer: big }, params: { buffer: small }, y: { buffer: big } })).toThrow(
        /matmul\(bias-activation; batch 1, M 4, N 2, K 3\): 'b' needs 6 floats for batch 1 × \[3, 2\] \(offset 0, batch stride 8\), but its buffer holds 4/,
      );
      expect(() => createDenseForward(gpu, { ...shape, batch: 0 }, 'relu', { x: { buffer: big }, params: { buffer: big }, y: { buffer: big } })).toThrow(
        KernelInputError,
      );
      expect(() => createDenseForward(gpu, { ...shape, batch: 0 }, 'relu', { x: { buffer: big }, params: { buffer: big }, y: { buffer: big } })).toThrow(
        /batch must be an integer ≥ 1, got 0/,
      );
      expect(() => createMatmul(gpu, {}, { batch: 1, m: 0, n: 2, k: 2 }, { a: { buffer: big }, b: { buffer: big }, c: { buffer: big } })).toThrow(
        /M must be an integer ≥ 1, got 0/,
      );
      expect(() => createMatmul(gpu, {}, { batch: 2, m: 30, n: 30, k: 30 }, { a: { buffer: big }, b: { buffer: big }, c: { buffer: small } })).toThrow(
        /'c' needs 1800 floats for batch 2 × \[30, 30\] .* holds 4/,
      );
      expect(gpu.liveBuffers).toBeGreaterThan(0);
    } finally {
      gpu.destroyBuffer(small);
      gpu.destroyBuffer(big);
    }
  });
});

/**
 * Runs one product with explicit tiles on operands laid out with `offset` before each tensor,
 * rows `pad` elements longer than needed (after rounding up to a multiple of 4 when `aligned`)
 * and `gap` elements between the batch's tensors; returns the relative error over C and
 * whether every element outside C stayed NaN.
 */
async function checkStrategy(gpu: Gpu, variant: MatmulVariant, dims: MatmulDims, tiles: MatmulTiles, layout: { offset: number; pad: number; gap: number; aligned: boolean }) {
  const { offset, pad, gap, aligned } = layout;
  const { batch, m, n, k } = dims;
  const aRows = variant.transA ? k : m;
  const aCols = variant.transA ? (variant.onesRow ? m - 1 : m) : k;
  const bRows = variant.transB ? n : k;
  const bCols = variant.transB ? k : n;
  const tensor = (rows: number, cols: number) => {
    const ld = (aligned ? Math.ceil(cols / 4) * 4 : cols) + pad;
    return { offset, ld, batchStride: rows * ld + gap };
  };
  const size = (t: { offset: number; batchStride: number }) => t.offset + batch * t.batchStride;
  const a = tensor(aRows, aCols);
  const b = tensor(bRows, bCols);
  const c = tensor(m, n);
  const aux = tensor(m, n);
  const biasOffset = size(b);
  const aData = randomFloats(size(a));
  const bData = randomFloats(biasOffset + batch * n);
  const auxData = randomFloats(size(aux), -2, 2).map((v) => activate(variant.activation ?? 'identity', v));
  const buffers = [gpu.createStorage('a', aData), gpu.createStorage('b', bData), gpu.createStorage('c', poisoned(size(c))), gpu.createStorage('aux', auxData)];
  const [aBuf, bBuf, cBuf, auxBuf] = buffers;
  const operands = {
    a: { buffer: aBuf, ...a },
    b: { buffer: bBuf, ...b },
    c: { buffer: cBuf, ...c },
    aux: { buffer: auxBuf, ...aux },
    bias: { offset: biasOffset, batchStride: n },
  };
  const call = createMatmul(gpu, variant, dims, operands, tiles);
  try {
    gpu.submit('check strategy', (pass) => encodeCall(pass, call));
    const got = await gpu.readFloat32(cBuf, 0, size(c));
    const ref = new Float64Array(size(c)).fill(Number.NaN);
    matmulCpu(variant, dims, resolveMatmul(variant, dims, operands), { a: aData, b: bData, c: ref, aux: auxData });
    const inside = [...ref.keys()].filter((i) => !Number.isNaN(ref[i]));
    const outsideUntouched = [...ref.keys()].every((i) => !Number.isNaN(ref[i]) || Number.isNaN(got[i]));
    return { error: relativeError(inside.map((i) => got[i]), inside.map((i) => ref[i])), outsideUntouched };
  } finally {
    call.destroy();
    for (const buf of buffers) gpu.destroyBuffer(buf);
  }
}

describe('matmul strategies (tiled and direct) on any adapter', () => {
  const VARIANTS: MatmulVariant[] = [
    {},
    { transA: true },
    { transB: true },
    { transA: true, onesRow: true },
    { epilogue: 'bias-activation', activation: 'tanh' },
    { transB: true, epilogue: 'activation-grad', activation: 'sigmoid' },
  ];
  // Layouts: vec4-aligned (offset, row stride and batch stride multiples of 4: the direct
  // strategy reads vec4) and unaligned. Shapes (direct strategy): edge tiles only; interior
  // tiles only; interior and edge tiles with K % 4 = 2; narrow products (row lanes), with
  // K < 4 and K % 4 = 1, and N of 1 to 4, 5 to 8, 9 to 12 and 16 vec4 columns.
  const ALIGNED = { offset: 4, pad: 4, gap: 8, aligned: true };
  const UNALIGNED = { offset: 3, pad: 1, gap: 5, aligned: false };
  const CASES: { dims: MatmulDims; layout: typeof ALIGNED }[] = [
    { dims: { batch: 2, m: 37, n: 45, k: 19 }, layout: ALIGNED },
    { dims: { batch: 1, m: 48, n: 64, k: 36 }, layout: UNALIGNED },
    { dims: { batch: 1, m: 48, n: 64, k: 36 }, layout: ALIGNED },
    { dims: { batch: 3, m: 70, n: 160, k: 66 }, layout: ALIGNED },
    { dims: { batch: 2, m: 70, n: 160, k: 66 }, layout: UNALIGNED },
    { dims: { batch: 2, m: 37, n: 10, k: 19 }, layout: ALIGNED },
    { dims: { batch: 1, m: 129, n: 3, k: 2 }, layout: UNALIGNED },
    { dims: { batch: 1, m: 64, n: 16, k: 8 }, layout: ALIGNED },
    { dims: { batch: 3, m: 21, n: 6, k: 9 }, layout: UNALIGNED },
    { dims: { batch: 2, m: 5, n: 1, k: 1 }, layout: UNALIGNED },
    // Tiled: interior tiles of 128 (the default) with edges on both sides, K = 2 slices of 32 + 6.
    { dims: { batch: 2, m: 150, n: 140, k: 70 }, layout: ALIGNED },
    { dims: { batch: 1, m: 150, n: 140, k: 70 }, layout: UNALIGNED },
  ];
  // 'direct' takes directTiles' pick: 16-row blocks for the wide shapes, row lanes of 8-row blocks
  // for the narrow ones (all of them small). 'direct rows' forces row lanes of 16-row blocks on
  // every shape, wide ones included (several column blocks); 'direct 8-row blocks' forces
  // 8-row blocks on directTiles' pick, so the wide shapes run 8-row blocks too.
  const ROWS: MatmulTiles = { wgX: 4, wgY: 1, bk: 4, direct: true, rowLanes: true, blockRows: 16 };
  const tilesFor = (strategy: string, dims: MatmulDims): MatmulTiles => {
    if (strategy === 'tiled') return DEFAULT_TILES;
    if (strategy === 'direct rows') return ROWS;
    const picked = directTiles(dims.n, dims.m, dims.batch);
    return strategy === 'direct' ? picked : { ...picked, blockRows: 8 };
  };
  // One test per variant: compiling every pipeline of a strategy from a cold shader cache takes
  // about 50 s on a 2-core llvmpipe machine, too close to the per-test limit.
  for (const strategy of ['tiled', 'direct', 'direct rows', 'direct 8-row blocks'] as const) {
    for (const variant of VARIANTS) {
      it(`${strategy}: ${JSON.stringify(variant)}, aligned and unaligned operands, nothing written outside C`, async () => {
        const gpu = await testGpu();
        for (const { dims, layout } of CASES) {
          const tiles = tilesFor(strategy, dims);
          const r = await checkStrategy(gpu, variant, dims, tiles, layout);
          const name = `${strategy} ${JSON.stringify(variant)} ${JSON.stringify(dims)} ${JSON.stringify(layout)}`;
          expect(r.error, name).toBeLessThanOrEqual(1e-5);
          expect(r.outsideUntouched, name).toBe(true);
        }
      });
    }
  }

  it('row lanes over a batch with more workgroups than one dispatch dimension allows', async () => {
    const gpu = await testGpu();
    // 600,000 one-element products: 75,000 workgroups of 8 lanes, dispatched as y × z.
    const dims = { batch: 600_000, m: 1, n: 1, k: 2 };
    const r = await checkStrategy(gpu, {}, dims, directTiles(1, 1, dims.batch), { offset: 0, pad: 0, gap: 0, aligned: false });
    expect(r.error).toBeLessThanOrEqual(1e-5);
    expect(r.outsideUntouched).toBe(true);
  });

  it('every tiled candidate of the tuner: interior and edge tiles, every layout of A and B', async () => {
    const gpu = await testGpu();
    // 150×140: 64-row tiles leave two interior tile rows and one interior tile column, 128-row
    // ones one each, and K = 70 ends with a partial slice for every BK (8, 16, 32). 128×128: whole
    // tiles only, the last of which holds the ones row (not stored in A, so never an inner tile).
    const shapes = [
      { batch: 2, m: 150, n: 140, k: 70 },
      { batch: 1, m: 128, n: 128, k: 64 },
    ];
    const variants: MatmulVariant[] = [{}, { transA: true, onesRow: true }, { transB: true, epilogue: 'activation-grad', activation: 'relu' }];
    expect(TILED_CANDIDATES).toHaveLength(12);
    expect(TILED_CANDIDATES[0]).toEqual(DEFAULT_TILES);
    for (const tiles of TILED_CANDIDATES) {
      for (const variant of variants) {
        for (const dims of shapes) {
          const r = await checkStrategy(gpu, variant, dims, tiles, ALIGNED);
          const name = `tiled ${JSON.stringify(tiles)} ${JSON.stringify(variant)} ${JSON.stringify(dims)}`;
          expect(r.error, name).toBeLessThanOrEqual(1e-5);
          expect(r.outsideUntouched, name).toBe(true);
        }
      }
    }
  });

  it("tiles from outside (setMatmulStrategy, createMatmul's tiles) are fitted to the device as whole numbers, and compute the product", async () => {
    const gpu = await testGpu();
    const limits = (x: number, y: number, invocations: number, storage: number) =>
      ({ device: { limits: { maxComputeWorkgroupSizeX: x, maxComputeWorkgroupSizeY: y, maxComputeInvocationsPerWorkgroup: invocations, maxComputeWorkgroupStorageSize: storage } } }) as unknown as Gpu;
    // WebGPU's defaults: 256 × 256 per dimension, 256 invocations, 16 KiB of workgroup memory.
    const webgpuDefaults = limits(256, 256, 256, 16384);
    // 3 × 1000 (wgY over the per-dimension limit): 3 × 256, then halved to 3 × 64 (192 invocations;
    // it was 3 × 62.5); staged A and B take (3·8 + 64·8)·7·4 + 16 = 15,024 bytes.
    expect(fitTiles(webgpuDefaults, { wgX: 3, wgY: 1000, bk: 7 })).toEqual({ wgX: 3, wgY: 64, bk: 7 });
    // With 12 KiB, BK 7 goes to 4 (8,592 bytes): halving would give 3.5, or 3 (which cannot compile).
    expect(fitTiles(limits(256, 256, 256, 12288), { wgX: 3, wgY: 1000, bk: 7 })).toEqual({ wgX: 3, wgY: 64, bk: 4 });
    // (BN + BM)·4·4 + 16 bytes at BK 4 must fit 32 KiB: 1024 × 1 invocations are halved to 128 × 1.
    expect(fitTiles(limits(1024, 1024, 1024, 32768), { wgX: 1024, wgY: 1, bk: 1024 })).toEqual({ wgX: 128, wgY: 1, bk: 4 });
    // 200 over a per-dimension limit of 128; then at BK 4, 16,528 bytes > 16 KiB: 64 × 1.
    expect(fitTiles(limits(128, 256, 256, 16384), { wgX: 200, wgY: 1, bk: 8 })).toEqual({ wgX: 64, wgY: 1, bk: 4 });
    for (const t of [fitTiles(webgpuDefaults, { wgX: 3, wgY: 1000, bk: 7 }), { wgX: 5, wgY: 3, bk: 5 }, { wgX: 16, wgY: 16, bk: 4 }]) {
      for (const variant of [{}, { transA: true, onesRow: true }, { transB: true }] as MatmulVariant[]) {
        const r = await checkStrategy(gpu, variant, { batch: 2, m: 150, n: 140, k: 70 }, t, { offset: 4, pad: 4, gap: 8, aligned: true });
        expect(r.error, JSON.stringify(t)).toBeLessThanOrEqual(1e-5);
        expect(r.outsideUntouched).toBe(true);
      }
    }
    // BK below 4 is refused before any GPU work (it made the shader compiler fail).
    expect(() => parseStrategy({ strategy: 'tiled', tiles: { wgX: 16, wgY: 16, bk: 3 } })).toThrow('strategy.tiles.bk must be an integer in [4, 1024], got 3');
    const big = gpu.createStorage('big', 4096 * 4);
    try {
      const ops = { a: { buffer: big }, b: { buffer: big }, c: { buffer: big } };
      expect(() => createMatmul(gpu, {}, { batch: 1, m: 8, n: 8, k: 8 }, ops, { wgX: 16, wgY: 16, bk: 2 })).toThrow(/the tiled strategy needs tiles.bk to be an integer ≥ 4, got 2/);
    } finally {
      gpu.destroyBuffer(big);
    }
  });

  it('picks the direct strategy on CPU adapters, with the workgroup width that pads N least', async () => {
    const gpu = await testGpu();
    expect(directTiles(784)).toEqual({ wgX: 7, wgY: 1, bk: 4, direct: true });
    expect(directTiles(256).wgX).toBe(16);
    expect(directTiles(1024).wgX).toBe(16);
    expect(directTiles(16).rowLanes).toBe(true);
    expect(directTiles(17).rowLanes).toBeUndefined();
    expect(directTiles(10)).toEqual({ wgX: 8, wgY: 1, bk: 4, direct: true, rowLanes: true, blockRows: 16 });
    // Up to 56 blocks of 16 rows (fewer than 8 workgroups of 8 lanes): blocks of 8 rows instead.
    expect(directTiles(10, 1024)).toEqual({ wgX: 8, wgY: 1, bk: 4, direct: true, rowLanes: true, blockRows: 16 });
    expect(directTiles(10, 897).blockRows).toBe(16);
    expect(directTiles(10, 896).blockRows).toBe(8);
    expect(directTiles(10, 128)).toEqual({ wgX: 8, wgY: 1, bk: 4, direct: true, rowLanes: true, blockRows: 8 });
    expect(directTiles(3, 8).wgX).toBe(1);
    expect(directTiles(3, 16).wgX).toBe(2);
    expect(directTiles(3, 40).wgX).toBe(5);
    // A batch's row blocks share workgroups: 30 models of 16 rows fill 8 lanes.
    expect(directTiles(3, 16, 30)).toEqual({ wgX: 8, wgY: 1, bk: 4, direct: true, rowLanes: true, blockRows: 8 });
    expect(directTiles(3, 16, 57).blockRows).toBe(16);
    expect(directTiles(3, 8, 3).wgX).toBe(3);
    // A device with WebGPU's default 16 KiB of workgroup memory gets narrower direct tiles.
    const withLimits = (maxComputeWorkgroupStorageSize: number) =>
      ({ device: { limits: { maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize } } }) as unknown as Gpu;
    expect(fitTiles(withLimits(16384), directTiles(256)).wgX).toBe(15);
    expect(fitTiles(withLimits(32768), directTiles(256)).wgX).toBe(16);
    expect(fitTiles(withLimits(8192), directTiles(256)).wgX).toBe(7);
    expect(fitTiles(withLimits(8192), { ...directTiles(256), blockRows: 8 }).wgX).toBe(15);
    expect(fitTiles(withLimits(16384), DEFAULT_TILES)).toEqual(DEFAULT_TILES);
    const dims = { batch: 1, m: 128, n: 784, k: 256 };
    expect(chooseTiles(gpu, dims)).toEqual(isCpuAdapter(gpu) ? directTiles(784) : DEFAULT_TILES);
    const big = gpu.createStorage('big', 4096 * 4);
    try {
      const ops = { a: { buffer: big }, b: { buffer: big }, c: { buffer: big } };
      expect(() => createMatmul(gpu, {}, { batch: 1, m: 8, n: 8, k: 8 }, ops, { ...directTiles(8), wgY: 2 })).toThrow(/direct strategy needs tiles.wgY = 1, got 2/);
      expect(() => createMatmul(gpu, {}, { batch: 1, m: 8, n: 8, k: 8 }, ops, { ...directTiles(8), blockRows: 12 })).toThrow(/tiles.blockRows must be 16 or 8, got 12/);
    } finally {
      gpu.destroyBuffer(big);
    }
  });
});

describe("matmul on CPU adapters: llvmpipe ends an invocation's loops after 65,535 iterations", () => {
  it('at the largest K accepted, every dense product matches float64: 16×16 blocks (interior and edge) and row lanes', async () => {
    const gpu = await testGpu();
    if (!isCpuAdapter(gpu)) {
      expect(maxMatmulK(gpu)).toBe(Number.POSITIVE_INFINITY);
      return;
    }
    const k = maxMatmulK(gpu);
    // 6 loop iterations per 4 k; measured here, products first go wrong from K 43,453 to 43,636.
    expect(k).toBe(39_732);
    // 270 columns: 17 workgroups of 16, the first 16 interior; 13 columns: row lanes of 8 rows.
    // Odd K (not a multiple of 4) reads A by the element.
    const cases: [DenseProduct, DenseShape][] = [
      ['forward', { batch: 1, rows: 19, inputs: k, outputs: 270 }],
      ['forward', { batch: 1, rows: 41, inputs: k - 1, outputs: 13 }],
      ['inputGrad', { batch: 1, rows: 19, inputs: 270, outputs: k }],
      ['weightGrad', { batch: 1, rows: k, inputs: 18, outputs: 270 }],
      ['weightGrad', { batch: 1, rows: k, inputs: 40, outputs: 13 }],
    ];
    for (const [product, shape] of cases) {
      const r = await checkDenseProduct(gpu, product, shape, 'relu');
      // float32 sums of 40,000 terms; a sum the limit cut short is off by tens of percent.
      expect(r.error, r.name).toBeLessThanOrEqual(1e-4);
    }
  });

  it('refuses the first K past it, naming the call, K and what it is, and the largest K', async () => {
    const gpu = await testGpu();
    if (!isCpuAdapter(gpu)) return;
    const k = maxMatmulK(gpu) + 1;
    const buffer = gpu.createStorage('operands', 2 * (k + 2) * 4);
    const op = { buffer };
    const limit = `the largest K supported on ${gpu.name} is 39732, since it ends an invocation's loops after 65,535 iterations`;
    try {
      const one = { batch: 1, rows: 1, inputs: 1, outputs: 1 };
      const call = (f: () => unknown) => () => f();
      expect(call(() => createDenseForward(gpu, { ...one, inputs: k }, 'relu', { x: op, params: op, y: op }))).toThrow(KernelInputError);
      expect(call(() => createDenseForward(gpu, { ...one, inputs: k }, 'relu', { x: op, params: op, y: op }))).toThrow(
        `matmul(bias-activation; batch 1, M 1, N 1, K 39733): K 39733 (the layer's inputs) needs up to 60004 loop iterations per invocation with the direct strategy; ${limit}`,
      );
      expect(call(() => createDenseInputGrad(gpu, { ...one, outputs: k }, 'relu', { dz: op, params: op, input: op, dx: op }))).toThrow(
        `K 39733 (the layer's outputs) needs up to 60004 loop iterations`,
      );
      expect(call(() => createDenseWeightGrad(gpu, { ...one, rows: k }, { x: op, dz: op, grad: op }))).toThrow(`K 39733 (the batch's rows) needs up to 60004`);
      expect(call(() => createMatmul(gpu, {}, { batch: 1, m: 1, n: 1, k }, { a: op, b: op, c: op }))).toThrow(`K 39733 (the inner dimension)`);
      // One below passes the check (and builds).
      createDenseWeightGrad(gpu, { ...one, rows: k - 1 }, { x: op, dz: op, grad: op }).destroy();
      // The tiled strategy loops more per k: its limit is lower.
      const tiledMax = maxMatmulK(gpu, DEFAULT_TILES);
      expect(tiledMax).toBe(15_888);
      expect(call(() => createMatmul(gpu, {}, { batch: 1, m: 1, n: 1, k: tiledMax + 1 }, { a: op, b: op, c: op }, DEFAULT_TILES))).toThrow(
        /K 15889 \(the inner dimension\) needs up to 60010 loop iterations per invocation with the tiled strategy; the largest K supported on .* is 15888/,
      );
    } finally {
      gpu.destroyBuffer(buffer);
    }
  });
});
