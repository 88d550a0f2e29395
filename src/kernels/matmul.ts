// Wrapper of shaders/matmul.wgsl and its CPU twin. One general batched product
// C = epilogue(op(A)·op(B)) and the three products of a dense layer built on it:
// forward (bias + activation fused), input gradient (activation derivative fused) and weight
// gradient (bias gradient fused as the last row). Shapes and buffers are checked before any
// GPU work; the pipeline is built once per device and variant. The shader's strategy and tile
// sizes are picked per adapter (CPU adapters such as llvmpipe get the direct strategy) and per
// product shape, unless the caller passes tiles.

import matmulCode from '../../shaders/matmul.wgsl?raw';
import type { Gpu } from '../runtime/gpu.js';
import {
  CPU_LOOP_BUDGET,
  KernelInputError,
  bindGroupLayout,
  computePipeline,
  grid1d,
  isCpuAdapter,
  makeCall,
  placeholderBuffer,
  requireCount,
  requireOperand,
  uniformBuffer,
  type KernelCall,
  type Operand,
} from './common.js';

// C is a vec4 array when the direct strategy may store whole vec4 (VEC_C): put_c then writes one
// component and put_c4 a vec4. Otherwise it is a scalar array. aux (read by the activation-grad
// epilogue, or a placeholder) is declared the same way: the vec4 code is only taken when it is
// aligned too.
const VEC4_C_CODE = `const VEC_C = true;
alias CElem = vec4<f32>;
alias AuxElem = vec4<f32>;
fn put_c(i: u32, v: f32) { c[i / 4u][i % 4u] = v; }
fn put_c4(i: u32, v: vec4<f32>) { c[i / 4u] = v; }
fn aux_at(i: u32) -> f32 { return aux[i / 4u][i % 4u]; }
fn aux4_at(i: u32) -> vec4<f32> { return aux[i / 4u]; }`;
const SCALAR_C_CODE = `const VEC_C = false;
alias CElem = f32;
alias AuxElem = f32;
fn put_c(i: u32, v: f32) { c[i] = v; }
fn put_c4(i: u32, v: vec4<f32>) { c[i] = v.x; c[i + 1u] = v.y; c[i + 2u] = v.z; c[i + 3u] = v.w; }
fn aux_at(i: u32) -> f32 { return aux[i]; }
fn aux4_at(i: u32) -> vec4<f32> { return vec4<f32>(aux[i], aux[i + 1u], aux[i + 2u], aux[i + 3u]); }`;

/**
 * The shader module's name and text for one way of storing C and one direct block shape (DR rows
 * and DV vec4 columns of C per invocation): all are constants of the text, so each combination
 * is its own module.
 */
function shaderSource(vecC: boolean, rows: number, vecs: number): { name: string; code: string } {
  const name = `matmul${vecC ? ' vec4 C' : ''}${rows === DIRECT_ROWS ? '' : ` ${rows}-row blocks`}${4 * vecs === DIRECT_COLS ? '' : ` ${4 * vecs} columns`}`;
  return { name, code: `${vecC ? VEC4_C_CODE : SCALAR_C_CODE}\nconst DR: u32 = ${rows}u;\nconst DV: u32 = ${vecs}u;\n${matmulCode}` };
}

/**
 * A layer's activation: 'relu' max(x, 0), 'tanh', 'sigmoid' 1/(1 + e⁻ˣ), or 'identity' (the output
 * layer's, before the softmax).
 */
export type Activation = 'identity' | 'relu' | 'tanh' | 'sigmoid';
/** Every Activation, for lists and checks. */
export const ACTIVATIONS: readonly Activation[] = ['identity', 'relu', 'tanh', 'sigmoid'];
const ACTIVATION_CODE: Record<Activation, number> = { identity: 0, relu: 1, tanh: 2, sigmoid: 3 };

/**
 * What a product does to each entry of C before storing it: 'none'; 'bias-activation' adds the
 * bias row and applies the activation (a dense layer's forward); 'activation-grad' multiplies by
 * the activation's derivative at aux, the activation's output (a layer's input gradient).
 */
export type Epilogue = 'none' | 'bias-activation' | 'activation-grad';
const EPILOGUE_CODE: Record<Epilogue, number> = { none: 0, 'bias-activation': 1, 'activation-grad': 2 };

/** How op(A), op(B) and the epilogue are formed; each variant is its own pipeline. */
export interface MatmulVariant {
  /** A is stored [K, M] and read transposed. */
  transA?: boolean;
  /** B is stored [N, K] and read transposed. */
  transB?: boolean;
  /** Row M-1 of op(A) is ones (A then stores only M-1 rows of op(A)). Needs transA. */
  onesRow?: boolean;
  /** Default 'none'. */
  epilogue?: Epilogue;
  /** The activation of the epilogue (default 'identity'). */
  activation?: Activation;
}

/** Invocations per workgroup along N (x) and M (y), and the K depth staged per step. */
export interface MatmulTiles {
  wgX: number;
  wgY: number;
  bk: number;
  /**
   * The shader's direct strategy (for CPU adapters; no barriers, operands read straight from
   * storage): each invocation computes blockRows × DIRECT_COLS of C (row lanes of a product
   * narrower than DIRECT_COLS: only its columns); wgY must be 1 and bk is unused.
   */
  direct?: boolean;
  /**
   * Direct strategy for narrow products (N ≤ 16): the wgX invocations of a workgroup take
   * consecutive blocks of rows and share one block of DIRECT_COLS columns, and every read is
   * clamped into the operands instead of checked.
   */
  rowLanes?: boolean;
  /**
   * Direct strategy: rows of C per invocation, DIRECT_ROWS (the default) or SMALL_DIRECT_ROWS.
   * Half-height blocks give a small product twice the workgroups and compile in less than half
   * the time (see directTiles).
   */
  blockRows?: number;
}
/**
 * The smallest BK of the tiled strategy: its vec4 slices are BK / 4 wide, which the shader's
 * compilers refuse to build at 0 even where they are not used (BK need not be a multiple of 4).
 */
export const MIN_TILED_BK = 4;
/** The tiled strategy's tiles, used on GPUs unless tuned tiles are set (see tune.ts). */
export const DEFAULT_TILES: MatmulTiles = { wgX: 16, wgY: 16, bk: 8 };
/**
 * The tiled strategy's configurations the tuner times on a GPU: 64 to 256 invocations
 * (tiles of 64 to 128 rows and columns) and K slices of 8 to 32, the default first. Each is
 * fitted to the device's limits before use.
 */
export const TILED_CANDIDATES: readonly MatmulTiles[] = [8, 16, 32].flatMap((bk) =>
  [
    [16, 16],
    [16, 8],
    [8, 16],
    [8, 8],
  ].map(([wgX, wgY]) => ({ wgX, wgY, bk })),
);
/** Rows of C per invocation in the tiled strategy (TM in the shader). */
export const TILED_ROWS = 8;
/** Columns of C per invocation in the tiled strategy (TN in the shader). */
export const TILED_COLS = 8;
/** Rows of C per invocation in the direct strategy (DR in the shader), unless blockRows says otherwise. */
export const DIRECT_ROWS = 16;
/** Columns of C per invocation in the direct strategy (4·DV in the shader). */
export const DIRECT_COLS = 16;
/** The direct strategy's other block height, for small narrow products (see directTiles). */
export const SMALL_DIRECT_ROWS = 8;
const BLOCK_ROWS: readonly number[] = [DIRECT_ROWS, SMALL_DIRECT_ROWS];

/** C[b] is M×N; op(A[b]) is M×K; op(B[b]) is K×N; b < batch. */
export interface MatmulDims {
  batch: number;
  m: number;
  n: number;
  k: number;
}

/** An operand with an optional row stride (leading dimension, in elements). */
export interface MatrixOperand extends Operand {
  ld?: number;
}

/** The buffers of one product, offsets and strides in 4-byte elements (see resolveMatmul). */
export interface MatmulOperands {
  /** A: [M, K] row-major, or [K, M] with transA ([K, M − 1] with onesRow). */
  a: MatrixOperand;
  /** B: [K, N] row-major, or [N, K] with transB. */
  b: MatrixOperand;
  /** C: [M, N] row-major, written. */
  c: MatrixOperand;
  /** Activation outputs for `activation-grad` (same shape as C). */
  aux?: MatrixOperand;
  /** Where the bias row lives inside B's buffer, for `bias-activation`. */
  bias?: { offset: number; batchStride?: number };
}

/** Offsets, row strides and batch strides of every operand, as the shader's Dims struct. */
export interface MatmulLayout {
  a: { offset: number; ld: number; batchStride: number };
  b: { offset: number; ld: number; batchStride: number };
  c: { offset: number; ld: number; batchStride: number };
  aux: { offset: number; ld: number; batchStride: number };
  bias: { offset: number; batchStride: number };
}

function describe(variant: MatmulVariant, dims: MatmulDims): string {
  const parts: string[] = [variant.epilogue ?? 'none'];
  if (variant.transA) parts.push('Aᵀ');
  if (variant.transB) parts.push('Bᵀ');
  if (variant.onesRow) parts.push('ones row');
  return `matmul(${parts.join(', ')}; batch ${dims.batch}, M ${dims.m}, N ${dims.n}, K ${dims.k})`;
}

/** Validates dims and operand extents (buffer sizes in elements); returns the full layout. */
export function resolveMatmul(
  variant: MatmulVariant,
  dims: MatmulDims,
  operands: MatmulOperands,
): MatmulLayout {
  const name = describe(variant, dims);
  requireCount(name, 'batch', dims.batch);
  requireCount(name, 'M', dims.m);
  requireCount(name, 'N', dims.n);
  requireCount(name, 'K', dims.k);
  const { m, n, k, batch } = dims;
  if (variant.onesRow && !variant.transA) throw new KernelInputError(`${name}: onesRow needs transA`);
  const aRows = variant.transA ? k : m;
  const aCols = variant.transA ? (variant.onesRow ? m - 1 : m) : k;
  if (variant.onesRow && m < 2) throw new KernelInputError(`${name}: onesRow needs M ≥ 2 (M-1 stored rows plus the ones row)`);
  const aLd = operands.a?.ld ?? aCols;
  const bRows = variant.transB ? n : k;
  const bCols = variant.transB ? k : n;
  const bLd = operands.b?.ld ?? bCols;
  const cLd = operands.c?.ld ?? n;
  for (const [field, ld, cols] of [['a', aLd, aCols], ['b', bLd, bCols], ['c', cLd, n]] as const) {
    if (!Number.isInteger(ld) || ld < cols) throw new KernelInputError(`${name}: ${field}.ld must be ≥ ${cols}, got ${ld}`);
  }
  const a = requireOperand(name, 'a', operands.a, batch, aRows, aCols, aLd);
  const b = requireOperand(name, 'b', operands.b, batch, bRows, bCols, bLd);
  const c = requireOperand(name, 'c', operands.c, batch, m, n, cLd);
  if (batch > 1 && c.batchStride < (m - 1) * cLd + n) {
    throw new KernelInputError(`${name}: c.batchStride ${c.batchStride} makes the batch's outputs overlap`);
  }
  let aux = { offset: 0, ld: 0, batchStride: 0 };
  if (variant.epilogue === 'activation-grad') {
    const auxLd = operands.aux?.ld ?? n;
    aux = { ...requireOperand(name, 'aux', operands.aux, batch, m, n, auxLd), ld: auxLd };
  }
  let bias = { offset: 0, batchStride: 0 };
  if (variant.epilogue === 'bias-activation') {
    if (!operands.bias) throw new KernelInputError(`${name}: 'bias' (its offset inside B's buffer) is missing`);
    const biasOperand = { buffer: operands.b.buffer, offset: operands.bias.offset, batchStride: operands.bias.batchStride ?? b.batchStride };
    bias = requireOperand(name, 'bias', biasOperand, batch, 1, n);
  }
  return { a: { ...a, ld: aLd }, b: { ...b, ld: bLd }, c: { ...c, ld: cLd }, aux, bias };
}

function dimsWords(dims: MatmulDims, l: MatmulLayout): Uint32Array {
  return new Uint32Array([
    dims.m, dims.n, dims.k, dims.batch,
    l.a.offset, l.a.ld, l.a.batchStride,
    l.b.offset, l.b.ld, l.b.batchStride,
    l.c.offset, l.c.ld, l.c.batchStride,
    l.aux.offset, l.aux.ld, l.aux.batchStride,
    l.bias.offset, l.bias.batchStride, 0, 0,
  ]);
}

/**
 * a, b, c, aux, dims, then a and b again as vec4 views (bindings 5 and 6; the direct strategy
 * reads aligned operands through them). Every buffer must hold at least 16 bytes, as all
 * buffers from Gpu.createBuffer do.
 */
function layoutFor(gpu: Gpu): GPUBindGroupLayout {
  return bindGroupLayout(gpu, [{ kind: 'read' }, { kind: 'read' }, { kind: 'write' }, { kind: 'read' }, { kind: 'uniform' }, { kind: 'read' }, { kind: 'read' }]);
}

/**
 * Tiles that fit the device: workgroup sizes within its per-dimension limits and never more
 * invocations than it allows, and no more workgroup memory than it allows (tiled strategy: the
 * staged slices of A and B; direct strategy: each invocation stages its 16×16 block of C there).
 * The tiled strategy's sizes are halved (rounding down) until they fit, so they stay whole
 * numbers; the direct strategy's workgroup narrows one invocation at a time.
 */
export function fitTiles(gpu: Gpu, tiles: MatmulTiles = DEFAULT_TILES): MatmulTiles {
  const limits = gpu.device.limits;
  const half = (n: number) => Math.max(1, Math.floor(n / 2));
  let wgX = Math.min(tiles.wgX, limits.maxComputeWorkgroupSizeX);
  let wgY = Math.min(tiles.wgY, limits.maxComputeWorkgroupSizeY);
  while (wgX * wgY > limits.maxComputeInvocationsPerWorkgroup) {
    if (wgY >= wgX) wgY = half(wgY);
    else wgX = half(wgX);
  }
  let bk = tiles.bk;
  if (!tiles.direct) {
    // Staged slices of A and B, (BM + BN)·BK floats, and the direct strategy's staging array
    // shrunk to one vec4. BK is halved first (not below MIN_TILED_BK), then the workgroup.
    const stagedBytes = () => (wgX * TILED_COLS + wgY * TILED_ROWS) * bk * 4 + 16;
    while (stagedBytes() > limits.maxComputeWorkgroupStorageSize && (bk > MIN_TILED_BK || wgX > 1 || wgY > 1)) {
      if (bk > MIN_TILED_BK) bk = Math.max(MIN_TILED_BK, half(bk));
      else if (wgY >= wgX) wgY = half(wgY);
      else wgX = half(wgX);
    }
  }
  if (tiles.direct) {
    const stagedBytes = (w: number) => w * (tiles.blockRows ?? DIRECT_ROWS) * DIRECT_COLS * 4 + 16;
    while (wgX > 1 && stagedBytes(wgX) > limits.maxComputeWorkgroupStorageSize) wgX--;
  }
  return { ...tiles, wgX, wgY, bk };
}

/**
 * How products are tiled on a device: the direct strategy (tiles per product, see directTiles)
 * or the tiled strategy with fixed tiles.
 */
export type MatmulStrategy = { strategy: 'direct' } | { strategy: 'tiled'; tiles: MatmulTiles };

const strategies = new WeakMap<Gpu, MatmulStrategy>();

/** The built-in choice: the direct strategy on CPU adapters, DEFAULT_TILES on GPUs. */
export function defaultStrategy(gpu: Gpu): MatmulStrategy {
  return isCpuAdapter(gpu) ? { strategy: 'direct' } : { strategy: 'tiled', tiles: DEFAULT_TILES };
}

/**
 * Checks a strategy from outside (a saved tuning, a user); returns it as a MatmulStrategy or
 * throws a KernelInputError naming the bad field.
 */
export function parseStrategy(value: unknown, where = 'strategy'): MatmulStrategy {
  const v = value as { strategy?: unknown; tiles?: Record<string, unknown> } | null;
  if (v && v.strategy === 'direct') return { strategy: 'direct' };
  if (!v || v.strategy !== 'tiled') throw new KernelInputError(`${where}.strategy must be 'direct' or 'tiled', got ${JSON.stringify(v?.strategy)}`);
  const tiles = v.tiles;
  if (!tiles || typeof tiles !== 'object') throw new KernelInputError(`${where}.tiles is missing`);
  for (const field of ['wgX', 'wgY', 'bk'] as const) {
    const n = tiles[field];
    const min = field === 'bk' ? MIN_TILED_BK : 1;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > 1024) {
      throw new KernelInputError(`${where}.tiles.${field} must be an integer in [${min}, 1024], got ${JSON.stringify(n)}`);
    }
  }
  return { strategy: 'tiled', tiles: { wgX: tiles.wgX as number, wgY: tiles.wgY as number, bk: tiles.bk as number } };
}

/**
 * Makes every product built on this Gpu without explicit tiles use `strategy` (e.g. the
 * tuner's pick, see tune.ts); undefined goes back to defaultStrategy. Products already built
 * keep their tiles.
 */
export function setMatmulStrategy(gpu: Gpu, strategy: MatmulStrategy | undefined): void {
  if (strategy === undefined) strategies.delete(gpu);
  else strategies.set(gpu, parseStrategy(strategy));
}

/** The strategy products on this Gpu get: the one set with setMatmulStrategy, else the default. */
export function matmulStrategy(gpu: Gpu): MatmulStrategy {
  return strategies.get(gpu) ?? defaultStrategy(gpu);
}

/** "direct" or "tiled 16×16, BK 8", for tables and messages. */
export function describeStrategy(s: MatmulStrategy): string {
  return s.strategy === 'direct' ? 'direct' : `tiled ${s.tiles.wgX}×${s.tiles.wgY}, BK ${s.tiles.bk}`;
}

/** The tiles a strategy gives a product. */
export function strategyTiles(s: MatmulStrategy, dims: MatmulDims): MatmulTiles {
  return s.strategy === 'direct' ? directTiles(dims.n, dims.m, dims.batch) : s.tiles;
}

/**
 * The tiles a product gets when the caller passes none: those of matmulStrategy(gpu). The
 * direct strategy picks the workgroup width that pads N least (ties to the wider), so that
 * e.g. N = 784 runs as 7 interior tiles of 112 columns rather than 4 of 256 with a ragged last.
 */
export function chooseTiles(gpu: Gpu, dims: MatmulDims): MatmulTiles {
  return strategyTiles(matmulStrategy(gpu), dims);
}

/**
 * Direct-strategy tiles for a product with `n` columns and `m` rows, `batch` times (see
 * chooseTiles). Products no wider than one invocation's block get row lanes: up to 8 invocations
 * per workgroup (llvmpipe's SIMD width with AVX2), each on its own rows of any model of the
 * batch, and no more than the batch's row blocks need (a lane past them computes for nothing).
 * Where blocks of 16 rows would make fewer than 8 workgroups (the batch holds at most 56 such
 * blocks), the blocks are 8 rows high: twice the workgroups for the CPU's threads, and a shader
 * that compiles in less than half the time (llvmpipe: 210 instead of 480 ms per variant).
 */
export function directTiles(n: number, m = Number.POSITIVE_INFINITY, batch = 1): MatmulTiles {
  if (n <= DIRECT_COLS) {
    const blockRows = batch * Math.ceil(m / DIRECT_ROWS) <= 56 ? SMALL_DIRECT_ROWS : DIRECT_ROWS;
    return { wgX: Math.max(1, Math.min(8, batch * Math.ceil(m / blockRows))), wgY: 1, bk: 4, direct: true, rowLanes: true, blockRows };
  }
  let wgX = 1;
  let fewest = Infinity;
  for (let w = 1; w <= 16; w++) {
    const span = w * DIRECT_COLS;
    const padded = Math.ceil(n / span) * span;
    if (padded <= fewest) {
      fewest = padded;
      wgX = w;
    }
  }
  return { wgX, wgY: 1, bk: 4, direct: true };
}

/**
 * An operand can be read as vec4: offset, row stride and (when used) batch stride are multiples
 * of 4, and its buffer a whole number of vec4 (so the vec4 view reaches its last element).
 */
function vec4Aligned(o: { offset: number; ld: number; batchStride: number }, buffer: GPUBuffer, batch: number): boolean {
  return o.offset % 4 === 0 && o.ld % 4 === 0 && (batch === 1 || o.batchStride % 4 === 0) && buffer.size % 16 === 0;
}

/**
 * Loop iterations outside the K loop, per invocation, at most: the store of a 16×16 block of C
 * by the element (16 × (16 + 2) + 1, see matmulLoopIterations) and the setup and epilogue loops
 * the compiler keeps. Measured on llvmpipe: at most 357 (row lanes of 16 rows × 16 columns).
 */
const FIXED_LOOPS = 400;

/**
 * Loop iterations one invocation of a product with these (fitted) tiles runs for inner dimension
 * `k`, an upper bound, as llvmpipe counts them against its limit: every pass through a loop
 * counts, the one that finds it finished too (a loop of n iterations costs n + 1), and a loop
 * inside a branch no invocation takes still costs that one pass (both sides of a branch run,
 * masked). Loops with constant trip counts that the compiler unrolls cost nothing.
 * - direct, interior tiles: per 4 k, the step loop (1) and the loop over its 4 k (5), which
 *   llvmpipe keeps as a loop for blocks of 24 or more vec4 accumulators (16×16 blocks; row lanes
 *   of 16 rows and 8 or more columns, or 8 rows and 12 or more) and unrolls for smaller ones
 *   (counted all the same); edge tiles take one k per pass (1 per k). Row lanes (direct_rows)
 *   likewise: 6 per 4 k at most.
 * - tiled: per BK-deep slice, the slice loop (1), each staging loop twice (the checked one and
 *   stage_inner's, each of its share of the slice per invocation plus the final pass) and the loop
 *   over the slice's k (BK + 1).
 * Measured on llvmpipe: direct, 6 per 4 k (the forward, input and weight gradient products, 16×16
 * blocks and row lanes, first go wrong at K 43,453 to 43,636; edge tiles alone at 65,380; row
 * lanes of 8 or 16 vec4 accumulators at 261,757 to 261,949); tiled 16×16 BK 8, 8×8 BK 8 and
 * 16×8 BK 32: 22, 30 and 86 per slice on edge tiles, under this bound's 30, 46 and 134.
 */
function matmulLoopIterations(tiles: MatmulTiles, k: number): number {
  if (tiles.direct) return 6 * Math.ceil(k / 4) + FIXED_LOOPS;
  const threads = tiles.wgX * tiles.wgY;
  const stage = (rows: number) => 2 * (Math.ceil((rows * tiles.bk) / threads) + 1);
  const perSlice = 1 + stage(tiles.wgY * TILED_ROWS) + stage(tiles.wgX * TILED_COLS) + tiles.bk + 1;
  return perSlice * Math.ceil(k / tiles.bk) + FIXED_LOOPS;
}

/**
 * The largest K a product with these tiles may have on this adapter: on CPU adapters, the most
 * whose loops stay within CPU_LOOP_BUDGET (39,732 with the direct strategy); unlimited on GPUs.
 */
export function maxMatmulK(gpu: Gpu, tiles?: MatmulTiles): number {
  if (!isCpuAdapter(gpu)) return Number.POSITIVE_INFINITY;
  const t = fitTiles(gpu, tiles ?? strategyTiles(matmulStrategy(gpu), { batch: 1, m: 1, n: 1, k: 1 }));
  const step = t.direct ? 4 : t.bk;
  const perStep = matmulLoopIterations(t, step) - FIXED_LOOPS;
  return Math.max(0, Math.floor((CPU_LOOP_BUDGET - FIXED_LOOPS) / perStep)) * step;
}

/**
 * Prepares one matmul dispatch (pipeline, uniform, bind group); encode it with encodeCall. `kIs`
 * says what K is in the loop limit's message ("the layer's inputs", ...).
 */
export function createMatmul(
  gpu: Gpu,
  variant: MatmulVariant,
  dims: MatmulDims,
  operands: MatmulOperands,
  tiles?: MatmulTiles,
  kIs = 'the inner dimension',
): KernelCall {
  const layout = resolveMatmul(variant, dims, operands);
  const t = fitTiles(gpu, tiles ?? chooseTiles(gpu, dims));
  // llvmpipe silently ends an invocation's loops after 65,535 iterations: C would come back
  // partly summed or unwritten.
  const iterations = matmulLoopIterations(t, dims.k);
  if (isCpuAdapter(gpu) && iterations > CPU_LOOP_BUDGET) {
    throw new KernelInputError(
      `${describe(variant, dims)}: K ${dims.k} (${kIs}) needs up to ${iterations} loop iterations per invocation with the ${t.direct ? 'direct' : 'tiled'} strategy; ` +
        `the largest K supported on ${gpu.name} is ${maxMatmulK(gpu, t)}, since it ends an invocation's loops after 65,535 iterations`,
    );
  }
  if (t.direct && t.wgY !== 1) {
    throw new KernelInputError(`${describe(variant, dims)}: the direct strategy needs tiles.wgY = 1, got ${t.wgY}`);
  }
  if (!t.direct && !(Number.isInteger(t.bk) && t.bk >= MIN_TILED_BK)) {
    throw new KernelInputError(`${describe(variant, dims)}: the tiled strategy needs tiles.bk to be an integer ≥ ${MIN_TILED_BK}, got ${t.bk}`);
  }
  const direct = !!t.direct;
  const lanes = direct && !!t.rowLanes;
  const rows = t.blockRows ?? DIRECT_ROWS;
  if (!BLOCK_ROWS.includes(rows)) {
    throw new KernelInputError(`${describe(variant, dims)}: tiles.blockRows must be ${BLOCK_ROWS.join(' or ')}, got ${rows}`);
  }
  const bindLayout = layoutFor(gpu);
  const auxAligned = variant.epilogue !== 'activation-grad' || vec4Aligned(layout.aux, operands.aux!.buffer, dims.batch);
  const vecC = direct && !lanes && auxAligned && vec4Aligned(layout.c, operands.c.buffer, dims.batch);
  // Row lanes of a product narrower than a block keep (and read) only the columns it has.
  const vecs = lanes && dims.n < DIRECT_COLS ? Math.ceil(dims.n / 4) : DIRECT_COLS / 4;
  const source = shaderSource(vecC, direct ? rows : DIRECT_ROWS, vecs);
  const pipeline = computePipeline(gpu, source.name, source.code, [bindLayout], {
    WG_X: t.wgX,
    WG_Y: t.wgY,
    BK: t.bk,
    TRANS_A: !!variant.transA,
    TRANS_B: !!variant.transB,
    ONES_ROW: !!variant.onesRow,
    EPILOGUE: EPILOGUE_CODE[variant.epilogue ?? 'none'],
    ACTIVATION: ACTIVATION_CODE[variant.activation ?? 'identity'],
    DIRECT: direct,
    // The tiled strategy reads vec4 only when its K slice is too (BK a multiple of 4). Row lanes
    // read B by the element, and A as vec4 only when it is not transposed: these flags would only
    // make a second, identical pipeline to compile there.
    VEC_A: (direct || t.bk % 4 === 0) && !(lanes && variant.transA) && vec4Aligned(layout.a, operands.a.buffer, dims.batch),
    VEC_B: (direct || t.bk % 4 === 0) && !lanes && vec4Aligned(layout.b, operands.b.buffer, dims.batch),
    ROW_LANES: lanes,
  });
  const uniform = uniformBuffer(gpu, 'matmul dims', dimsWords(dims, layout));
  const aux = variant.epilogue === 'activation-grad' ? operands.aux!.buffer : placeholderBuffer(gpu);
  const [tileCols, tileRows] = !direct
    ? [t.wgX * TILED_COLS, t.wgY * TILED_ROWS]
    : lanes
      ? [DIRECT_COLS, t.wgX * rows]
      : [t.wgX * DIRECT_COLS, rows];
  let workgroups: [number, number, number] = [Math.ceil(dims.n / tileCols), Math.ceil(dims.m / tileRows), dims.batch];
  if (lanes) {
    // Row lanes run over the (model, row block) pairs of the whole batch, spread over y and z.
    const [y, z] = grid1d(gpu, Math.ceil((dims.batch * Math.ceil(dims.m / rows)) / t.wgX));
    workgroups = [workgroups[0], y, z];
  }
  const a = { buffer: operands.a.buffer };
  const b = { buffer: operands.b.buffer };
  return makeCall(
    gpu,
    describe(variant, dims),
    pipeline,
    bindLayout,
    [a, b, { buffer: operands.c.buffer }, { buffer: aux }, { buffer: uniform }, a, b],
    workgroups,
    [uniform],
  );
}

type Vec = Float32Array | Float64Array;

/** The activation of x in float64, as the shader applies it (the CPU twins' side). */
export function activate(activation: Activation, x: number): number {
  switch (activation) {
    case 'relu':
      return x > 0 ? x : 0;
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    default:
      return x;
  }
}

/** Derivative of the activation in terms of its output y. */
export function activateGrad(activation: Activation, y: number): number {
  switch (activation) {
    case 'relu':
      return y > 0 ? 1 : 0;
    case 'tanh':
      return 1 - y * y;
    case 'sigmoid':
      return y * (1 - y);
    default:
      return 1;
  }
}

/**
 * Whether `rows` rows of `cols` values, `ld` apart from `base`, are all finite. A sum of float32
 * values is finite unless one of them is not (float64 does not overflow; a Float64Array so large
 * that it does reads as not finite). Four sums, so that the adds do not wait on each other.
 */
function finiteRows(v: Vec, base: number, rows: number, cols: number, ld: number): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let r = 0; r < rows; r++) {
    const start = base + r * ld;
    const end = start + cols;
    let i = start;
    for (; i + 3 < end; i += 4) {
      s0 += v[i];
      s1 += v[i + 1];
      s2 += v[i + 2];
      s3 += v[i + 3];
    }
    for (; i < end; i++) s0 += v[i];
  }
  return Number.isFinite(s0 + s1 + s2 + s3);
}

/**
 * CPU twin of the shader: the same product over the same layout, accumulated in float64.
 * Writes C into `c` (a Float64Array keeps the float64 result; a Float32Array rounds it).
 */
export function matmulCpu(
  variant: MatmulVariant,
  dims: MatmulDims,
  layout: MatmulLayout,
  data: { a: Vec; b: Vec; c: Vec; aux?: Vec },
): void {
  const { m, n, k, batch } = dims;
  const act = variant.activation ?? 'identity';
  const { a, b, c } = data;
  const [lda, ldb] = [layout.a.ld, layout.b.ld];
  const row = new Float64Array(n);
  for (let model = 0; model < batch; model++) {
    const aBase = layout.a.offset + model * layout.a.batchStride;
    const bBase = layout.b.offset + model * layout.b.batchStride;
    // A zero of A skips its row of B only when all of this model's B is finite: 0·Inf and 0·NaN
    // are NaN on the GPU (a NaN weight on an always-0 feature must reach C as it does there).
    // The check reads B once: about 1/m of the product's work.
    const skipZeros = !variant.transB && finiteRows(b, bBase, k, n, ldb);
    for (let i = 0; i < m; i++) {
      const ones = variant.onesRow && i === m - 1;
      // Each C element sums over k in ascending order whichever loop order reads memory best.
      if (variant.transB) {
        for (let j = 0; j < n; j++) {
          const bRow = bBase + j * ldb;
          let sum = 0;
          for (let kk = 0; kk < k; kk++) {
            const av = ones ? 1 : variant.transA ? a[aBase + kk * lda + i] : a[aBase + i * lda + kk];
            sum += av * b[bRow + kk];
          }
          row[j] = sum;
        }
      } else {
        row.fill(0);
        for (let kk = 0; kk < k; kk++) {
          const av = ones ? 1 : variant.transA ? a[aBase + kk * lda + i] : a[aBase + i * lda + kk];
          if (av === 0 && skipZeros) continue;
          const bRow = bBase + kk * ldb;
          for (let j = 0; j < n; j++) row[j] += av * b[bRow + j];
        }
      }
      const cBase = layout.c.offset + model * layout.c.batchStride + i * layout.c.ld;
      for (let j = 0; j < n; j++) {
        let v = row[j];
        if (variant.epilogue === 'bias-activation') {
          v = activate(act, v + b[layout.bias.offset + model * layout.bias.batchStride + j]);
        } else if (variant.epilogue === 'activation-grad') {
          v *= activateGrad(act, data.aux![layout.aux.offset + model * layout.aux.batchStride + i * layout.aux.ld + j]);
        }
        c[cBase + j] = v;
      }
    }
  }
}

// ---- The three products of a dense layer ---------------------------------------------------
// A layer's parameters are one block [inputs + 1, outputs]: the kernel [inputs, outputs]
// row-major, then the bias as one more row. Its gradient has the same layout.

/** `batch` models, each with a `rows × inputs` input and an `inputs → outputs` layer. */
export interface DenseShape {
  batch: number;
  rows: number;
  inputs: number;
  outputs: number;
}

/** The variant of a dense layer's forward product: x·W with the bias and `activation` fused. */
export function denseForwardVariant(activation: Activation): MatmulVariant {
  return { epilogue: 'bias-activation', activation };
}
/** The forward product's dims: M = rows, N = outputs, K = inputs. */
export function denseForwardDims(s: DenseShape): MatmulDims {
  return { batch: s.batch, m: s.rows, n: s.outputs, k: s.inputs };
}

/** y = act(x·W + b): x [rows, inputs], params block at `params.offset`, y [rows, outputs]. */
export function createDenseForward(
  gpu: Gpu,
  shape: DenseShape,
  activation: Activation,
  ops: { x: Operand; params: Operand; y: Operand },
  tiles?: MatmulTiles,
): KernelCall {
  const paramsOffset = ops.params.offset ?? 0;
  const paramsStride = ops.params.batchStride ?? (shape.inputs + 1) * shape.outputs;
  return createMatmul(
    gpu,
    denseForwardVariant(activation),
    denseForwardDims(shape),
    {
      a: ops.x,
      b: { ...ops.params, offset: paramsOffset, batchStride: paramsStride },
      c: ops.y,
      bias: { offset: paramsOffset + shape.inputs * shape.outputs, batchStride: paramsStride },
    },
    tiles,
    "the layer's inputs",
  );
}

/** The variant of a dense layer's input gradient: dz·Wᵀ with the derivative of the layer below's activation fused. */
export function denseInputGradVariant(activationBelow: Activation): MatmulVariant {
  return { transB: true, epilogue: 'activation-grad', activation: activationBelow };
}
/** The input gradient's dims: M = rows, N = inputs, K = outputs. */
export function denseInputGradDims(s: DenseShape): MatmulDims {
  return { batch: s.batch, m: s.rows, n: s.inputs, k: s.outputs };
}

/**
 * dx = (dz·Wᵀ) ⊙ act'(input): the gradient with respect to the pre-activation of the layer
 * below, whose activation output `input` fed this layer.
 */
export function createDenseInputGrad(
  gpu: Gpu,
  shape: DenseShape,
  activationBelow: Activation,
  ops: { dz: Operand; params: Operand; input: Operand; dx: Operand },
  tiles?: MatmulTiles,
): KernelCall {
  return createMatmul(
    gpu,
    denseInputGradVariant(activationBelow),
    denseInputGradDims(shape),
    {
      a: ops.dz,
      b: { ...ops.params, ld: shape.outputs, batchStride: ops.params.batchStride ?? (shape.inputs + 1) * shape.outputs },
      c: ops.dx,
      aux: ops.input,
    },
    tiles,
    "the layer's outputs",
  );
}

/** The variant of a dense layer's weight gradient: [xᵀ; 1]·dz, whose row of ones gives the bias gradient. */
export const DENSE_WEIGHT_GRAD_VARIANT: MatmulVariant = { transA: true, onesRow: true };
/** The weight gradient's dims: M = inputs + 1 (the bias row last), N = outputs, K = rows. */
export function denseWeightGradDims(s: DenseShape): MatmulDims {
  return { batch: s.batch, m: s.inputs + 1, n: s.outputs, k: s.rows };
}

/** grad block = [xᵀ; 1]·dz: kernel gradient, then the bias gradient as the last row. */
export function createDenseWeightGrad(
  gpu: Gpu,
  shape: DenseShape,
  ops: { x: Operand; dz: Operand; grad: Operand },
  tiles?: MatmulTiles,
): KernelCall {
  return createMatmul(gpu, DENSE_WEIGHT_GRAD_VARIANT, denseWeightGradDims(shape), { a: ops.x, b: ops.dz, c: ops.grad }, tiles, "the batch's rows");
}

// CPU twins of the dense products, on tightly packed batches.

function packed(rows: number, cols: number) {
  return { offset: 0, ld: cols, batchStride: rows * cols };
}

/** y [batch, rows, outputs] = act(x·W + b). */
export function denseForwardCpu(shape: DenseShape, activation: Activation, x: Vec, params: Vec, y: Vec): void {
  const { inputs, outputs, rows } = shape;
  const stride = (inputs + 1) * outputs;
  matmulCpu(denseForwardVariant(activation), denseForwardDims(shape), {
    a: packed(rows, inputs),
    b: { offset: 0, ld: outputs, batchStride: stride },
    c: packed(rows, outputs),
    aux: packed(0, 0),
    bias: { offset: inputs * outputs, batchStride: stride },
  }, { a: x, b: params, c: y });
}

/** dx [batch, rows, inputs] = (dz·Wᵀ) ⊙ act'(input). */
export function denseInputGradCpu(shape: DenseShape, activationBelow: Activation, dz: Vec, params: Vec, input: Vec, dx: Vec): void {
  const { inputs, outputs, rows } = shape;
  matmulCpu(denseInputGradVariant(activationBelow), denseInputGradDims(shape), {
    a: packed(rows, outputs),
    b: { offset: 0, ld: outputs, batchStride: (inputs + 1) * outputs },
    c: packed(rows, inputs),
    aux: packed(rows, inputs),
    bias: { offset: 0, batchStride: 0 },
  }, { a: dz, b: params, c: dx, aux: input });
}

/** grad [batch, inputs + 1, outputs] = [xᵀ; 1]·dz. */
export function denseWeightGradCpu(shape: DenseShape, x: Vec, dz: Vec, grad: Vec): void {
  const { inputs, outputs, rows } = shape;
  matmulCpu(DENSE_WEIGHT_GRAD_VARIANT, denseWeightGradDims(shape), {
    a: packed(rows, inputs),
    b: packed(rows, outputs),
    c: packed(inputs + 1, outputs),
    aux: packed(0, 0),
    bias: { offset: 0, batchStride: 0 },
  }, { a: x, b: dz, c: grad });
}
