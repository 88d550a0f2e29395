// Batched matrix product with a fused epilogue: the three products of a dense layer's step.
//   forward      C = act(A·B + bias)      A = X [M,K], B = W [K,N], bias = the row after W
//   input grad   C = (A·Bᵀ) ⊙ act'(aux)   A = dZ [M,N'], B = W read transposed, aux = layer input
//   weight grad  C = [Aᵀ; 1]·B            A = X read transposed with a row of ones appended,
//                                          so the last row of C is the bias gradient
// Every operand has an element offset, a row stride and a batch stride; workgroup_id.z picks
// one of `batch` independent models that share the dispatch.
//
// Two strategies, chosen per adapter by the override DIRECT (src/kernels/matmul.ts decides):
// - tiled (GPUs): each workgroup computes a BM×BN tile of C from BK-deep slices of A and B
//   staged in workgroup memory; each invocation holds an 8×8 block of C in registers and reads
//   its 8 rows of A and 8 columns of B per k as two vec4 each (16×16 invocations: 128×128).
//   Tiles inside the operands stage without bounds checks and with vec4 reads where aligned.
// - direct (CPU adapters such as llvmpipe and SwiftShader, where invocations run as the lanes
//   of SIMD loops and workgroup memory is no faster than storage: llvmpipe turns both kinds of
//   access into per-lane loops): no barriers, and workgroup memory only to stage results. Each
//   invocation keeps a DR×4·DV block of C in registers and reads 4 k at a time; all invocations
//   of a workgroup share its DR rows, so every A element read feeds 16·WG_X columns. Tiles
//   wholly inside C skip every bounds check. Narrow products (N ≤ 16, e.g. a classifier's last
//   layer) instead spread the workgroup's invocations over rows (ROW_LANES, direct_rows below).

struct Dims {
  m: u32, n: u32, k: u32, batch: u32,
  a_offset: u32, a_ld: u32, a_batch: u32,
  b_offset: u32, b_ld: u32, b_batch: u32,
  c_offset: u32, c_ld: u32, c_batch: u32,
  aux_offset: u32, aux_ld: u32, aux_batch: u32,
  bias_offset: u32, bias_batch: u32, _pad0: u32, _pad1: u32,
}

// Invocations along N and M (direct: WG_Y must be 1).
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
// Tiled: depth of the K slice staged per iteration.
override BK: u32 = 16u;
// A is stored [K, M] (read transposed) instead of [M, K].
override TRANS_A: bool = false;
// B is stored [N, K] (read transposed) instead of [K, N].
override TRANS_B: bool = false;
// Row M-1 of op(A) is all ones: the bias gradient comes out as the last row of C.
override ONES_ROW: bool = false;
// 0: C = A·B.  1: C = act(A·B + bias).  2: C = (A·B) ⊙ act'(aux), with aux an activation output.
override EPILOGUE: u32 = 0u;
// 0: identity, 1: relu, 2: tanh, 3: sigmoid.
override ACTIVATION: u32 = 0u;
// Strategy: false tiled, true direct (see the header).
override DIRECT: bool = false;
// A's (B's) offset, row stride and batch stride are multiples of 4, so interior tiles read it as
// vec4 through binding 5 (6), a second view of the same buffer. Tiled: only with BK % 4 = 0.
override VEC_A: bool = false;
override VEC_B: bool = false;
// Direct, for narrow products (N of a few columns): the invocations of a workgroup take
// consecutive row blocks and share one column block, instead of the other way round.
override ROW_LANES: bool = false;

// Tiled: rows and columns of C per invocation (multiples of 4: read as vec4).
const TM: u32 = 8u;
const TN: u32 = 8u;
override BM: u32 = WG_Y * TM;
override BN: u32 = WG_X * TN;
// Direct: rows of C per invocation (DR: 16, or 8 for small row-lane products) and vec4 column
// groups per invocation (DV: 4, or as few as a row-lane product's N < 16 needs), both prepended
// by the wrapper. Constants, not overrides: the compilers keep these blocks in registers only
// when the loops over them have constant trip counts they can unroll.

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
// Prepended by the wrapper, for the direct strategy when C's offset, row stride and batch stride
// are multiples of 4: `const VEC_C = true; alias CElem = vec4<f32>;` with put_c/put_c4 writing a
// component or a whole vec4 (every vec4 of C is then written by one invocation), so blocks with
// all their columns inside C store whole vec4. Else `const VEC_C = false; alias CElem = f32;`
// with scalar ones.
@group(0) @binding(2) var<storage, read_write> c: array<CElem>;
// aux likewise: a vec4 array (AuxElem, aux_at, aux4_at prepended) in the vec4 C code, where the
// wrapper only goes when aux is aligned too.
@group(0) @binding(3) var<storage, read> aux: array<AuxElem>;
@group(0) @binding(4) var<uniform> dims: Dims;
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;

// Each strategy's workgroup arrays shrink to one element in the other's pipelines: workgroup
// memory a pipeline declares limits how many of its workgroups a GPU keeps in flight.
var<workgroup> a_tile: array<vec4<f32>, select(BK * BM / 4u, 1u, DIRECT)>; // [k][m / 4]
var<workgroup> b_tile: array<vec4<f32>, select(BK * BN / 4u, 1u, DIRECT)>; // [k][n / 4]

fn load_a(model: u32, i: u32, kk: u32) -> f32 {
  if (i >= dims.m || kk >= dims.k) { return 0.0; }
  if (ONES_ROW && i == dims.m - 1u) { return 1.0; }
  let base = dims.a_offset + model * dims.a_batch;
  if (TRANS_A) { return a[base + kk * dims.a_ld + i]; }
  return a[base + i * dims.a_ld + kk];
}

fn load_b(model: u32, kk: u32, j: u32) -> f32 {
  if (j >= dims.n || kk >= dims.k) { return 0.0; }
  let base = dims.b_offset + model * dims.b_batch;
  if (TRANS_B) { return b[base + j * dims.b_ld + kk]; }
  return b[base + kk * dims.b_ld + j];
}

// Numerically safe tanh: exp never overflows.
fn tanh_safe(x: f32) -> f32 {
  let t = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - t) / (1.0 + t);
}

fn activate(x: f32) -> f32 {
  switch ACTIVATION {
    case 1u: { return max(x, 0.0); }
    case 2u: { return tanh_safe(x); }
    case 3u: { return 1.0 / (1.0 + exp(-x)); }
    default: { return x; }
  }
}

fn activate4(x: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(activate(x.x), activate(x.y), activate(x.z), activate(x.w));
}

// Derivative of the activation written in terms of its output y = act(x).
fn activate_grad(y: f32) -> f32 {
  switch ACTIVATION {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}

// Stores `v` at C[row, col] of `model`, with the input-grad epilogue (× act'(aux)) applied. The
// forward epilogue is applied before: by store_c (tiled), in registers (direct).
fn finish_c(model: u32, row: u32, col: u32, v: f32) {
  var out = v;
  if (EPILOGUE == 2u) {
    out = v * activate_grad(aux_at(dims.aux_offset + model * dims.aux_batch + row * dims.aux_ld + col));
  }
  put_c(dims.c_offset + model * dims.c_batch + row * dims.c_ld + col, out);
}

// finish_c for C[row, col .. col + 3], as one vec4 store.
fn finish_c4(model: u32, row: u32, col: u32, v: vec4<f32>) {
  var out = v;
  if (EPILOGUE == 2u) {
    let g = aux4_at(dims.aux_offset + model * dims.aux_batch + row * dims.aux_ld + col);
    out = v * vec4<f32>(activate_grad(g.x), activate_grad(g.y), activate_grad(g.z), activate_grad(g.w));
  }
  put_c4(dims.c_offset + model * dims.c_batch + row * dims.c_ld + col, out);
}

// Applies the whole epilogue to the product `v` at C[row, col] of `model` and stores it.
fn store_c(model: u32, row: u32, col: u32, v: f32) {
  var out = v;
  if (EPILOGUE == 1u) {
    out = activate(v + b[dims.bias_offset + model * dims.bias_batch + col]);
  }
  finish_c(model, row, col, out);
}

// The direct strategies' forward epilogue, in registers: the bias of each of the block's columns
// read once (clamped into the row: columns past N read an element that exists and are never
// stored), added to every row, then the activation. Reading it per stored element instead cost
// as much as a small product's arithmetic.
fn bias_activate(model: u32, col0: u32, acc: ptr<function, array<array<vec4<f32>, DV>, DR>>) {
  let base = dims.bias_offset + model * dims.bias_batch;
  let last = dims.n - 1u;
  for (var v = 0u; v < DV; v++) {
    let j = col0 + 4u * v;
    let bias = vec4<f32>(b[base + min(j, last)], b[base + min(j + 1u, last)], b[base + min(j + 2u, last)], b[base + min(j + 3u, last)]);
    for (var i = 0u; i < DR; i++) { (*acc)[i][v] = activate4((*acc)[i][v] + bias); }
  }
}

// ---- tiled ----------------------------------------------------------------------------------

// Stages op(A)[tile_row .., k0 ..] and op(B)[k0 .., tile_col ..] of a slice that lies wholly
// inside the operands: no checks, and vec4 reads from operands aligned for them.
fn stage_inner(model: u32, tid: u32, tile_row: u32, tile_col: u32, k0: u32) {
  let threads = WG_X * WG_Y;
  let a_base = dims.a_offset + model * dims.a_batch;
  let b_base = dims.b_offset + model * dims.b_batch;
  if (VEC_A && TRANS_A) {
    // A is [K, M]: four consecutive m of one k, one vec4 of the tile.
    for (var e = tid; e < BK * BM / 4u; e += threads) {
      let kk = e / (BM / 4u);
      let mq = e % (BM / 4u);
      a_tile[kk * (BM / 4u) + mq] = a4[(a_base + (k0 + kk) * dims.a_ld + tile_row) / 4u + mq];
    }
  } else if (VEC_A) {
    // A is [M, K]: four consecutive k of one m, one component in each of four vec4 of the tile.
    for (var e = tid; e < BM * BK / 4u; e += threads) {
      let mm = e / (BK / 4u);
      let kq = 4u * (e % (BK / 4u));
      let v = a4[(a_base + (tile_row + mm) * dims.a_ld + k0 + kq) / 4u];
      for (var q = 0u; q < 4u; q++) { a_tile[((kq + q) * BM + mm) / 4u][mm % 4u] = v[q]; }
    }
  } else {
    for (var e = tid; e < BM * BK; e += threads) {
      var mm: u32; var kk: u32;
      if (TRANS_A) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
      var at: u32;
      if (TRANS_A) { at = a_base + (k0 + kk) * dims.a_ld + tile_row + mm; } else { at = a_base + (tile_row + mm) * dims.a_ld + k0 + kk; }
      a_tile[(kk * BM + mm) / 4u][mm % 4u] = a[at];
    }
  }
  if (VEC_B && !TRANS_B) {
    // B is [K, N]: four consecutive n of one k, one vec4 of the tile.
    for (var e = tid; e < BK * BN / 4u; e += threads) {
      let kk = e / (BN / 4u);
      let nq = e % (BN / 4u);
      b_tile[kk * (BN / 4u) + nq] = b4[(b_base + (k0 + kk) * dims.b_ld + tile_col) / 4u + nq];
    }
  } else if (VEC_B) {
    // B is [N, K]: four consecutive k of one n.
    for (var e = tid; e < BN * BK / 4u; e += threads) {
      let nn = e / (BK / 4u);
      let kq = 4u * (e % (BK / 4u));
      let v = b4[(b_base + (tile_col + nn) * dims.b_ld + k0 + kq) / 4u];
      for (var q = 0u; q < 4u; q++) { b_tile[((kq + q) * BN + nn) / 4u][nn % 4u] = v[q]; }
    }
  } else {
    for (var e = tid; e < BN * BK; e += threads) {
      var nn: u32; var kk: u32;
      if (TRANS_B) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
      var at: u32;
      if (TRANS_B) { at = b_base + (tile_col + nn) * dims.b_ld + k0 + kk; } else { at = b_base + (k0 + kk) * dims.b_ld + tile_col + nn; }
      b_tile[(kk * BN + nn) / 4u][nn % 4u] = b[at];
    }
  }
}

fn tiled(model: u32, wg: vec3<u32>, lid: vec3<u32>) {
  let tid = lid.y * WG_X + lid.x;
  let threads = WG_X * WG_Y;
  let tile_row = wg.y * BM;
  let tile_col = wg.x * BN;
  // Tiles whose rows are all stored rows of op(A) (the ones row, when present, is not) and whose
  // columns are all inside C stage their full K slices through stage_inner. The test is the same
  // for the whole workgroup.
  let stored_rows = select(dims.m, dims.m - 1u, ONES_ROW);
  let inner = tile_row + BM <= stored_rows && tile_col + BN <= dims.n;

  // acc[i][h] = C[tile_row + 8·lid.y + i][tile_col + 8·lid.x + 4h .. + 3]
  var acc: array<array<vec4<f32>, 2>, TM>;
  for (var k0 = 0u; k0 < dims.k; k0 += BK) {
    if (inner && k0 + BK <= dims.k) {
      stage_inner(model, tid, tile_row, tile_col, k0);
    } else {
      for (var e = tid; e < BM * BK; e += threads) {
        // Consecutive invocations read consecutive addresses in either layout.
        var mm: u32; var kk: u32;
        if (TRANS_A) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
        a_tile[(kk * BM + mm) / 4u][mm % 4u] = load_a(model, tile_row + mm, k0 + kk);
      }
      for (var e = tid; e < BN * BK; e += threads) {
        var nn: u32; var kk: u32;
        if (TRANS_B) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
        b_tile[(kk * BN + nn) / 4u][nn % 4u] = load_b(model, k0 + kk, tile_col + nn);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ar = (kk * BM + lid.y * TM) / 4u;
      let br = (kk * BN + lid.x * TN) / 4u;
      let a_lo = a_tile[ar];
      let a_hi = a_tile[ar + 1u];
      let b_lo = b_tile[br];
      let b_hi = b_tile[br + 1u];
      for (var i = 0u; i < 4u; i++) {
        acc[i][0] = fma(vec4<f32>(a_lo[i]), b_lo, acc[i][0]);
        acc[i][1] = fma(vec4<f32>(a_lo[i]), b_hi, acc[i][1]);
        acc[i + 4u][0] = fma(vec4<f32>(a_hi[i]), b_lo, acc[i + 4u][0]);
        acc[i + 4u][1] = fma(vec4<f32>(a_hi[i]), b_hi, acc[i + 4u][1]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let row = tile_row + lid.y * TM + i;
    if (row >= dims.m) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = tile_col + lid.x * TN + j;
      if (col >= dims.n) { break; }
      store_c(model, row, col, acc[i][j / 4u][j % 4u]);
    }
  }
}

// ---- direct ---------------------------------------------------------------------------------

// Each invocation's block of C goes through here on its way out, so that the epilogue runs in a
// loop with run-time bounds: unrolled 256 times it would multiply the compile time.
var<workgroup> c_stage: array<vec4<f32>, select(1u, WG_X * DR * DV, DIRECT)>;

// Four consecutive floats of A's (B's) buffer from element `at`, a multiple of 4 when VEC_A (VEC_B).
fn a_quad(at: u32) -> vec4<f32> {
  if (VEC_A) { return a4[at / 4u]; }
  return vec4<f32>(a[at], a[at + 1u], a[at + 2u], a[at + 3u]);
}

fn b_quad(at: u32) -> vec4<f32> {
  if (VEC_B) { return b4[at / 4u]; }
  return vec4<f32>(b[at], b[at + 1u], b[at + 2u], b[at + 3u]);
}

fn direct(model: u32, wg: vec3<u32>, lid: vec3<u32>) {
  let row0 = wg.y * DR;
  let col0 = (wg.x * WG_X + lid.x) * 4u * DV;
  // Rows of op(A) read from A's buffer: the ones row, when present, is not.
  let stored_rows = select(dims.m, dims.m - 1u, ONES_ROW);
  // Interior tiles read without checks. The test is the same for the whole workgroup.
  let interior = row0 + DR <= stored_rows && (wg.x + 1u) * WG_X * 4u * DV <= dims.n;
  let a_base = dims.a_offset + model * dims.a_batch;
  let b_base = dims.b_offset + model * dims.b_batch;

  // acc[i][v][e] = C[row0 + i][col0 + 4v + e]
  var acc: array<array<vec4<f32>, DV>, DR>;
  let k_fast = select(0u, dims.k & ~3u, interior);
  for (var k0 = 0u; k0 < k_fast; k0 += 4u) {
    // av[i][q] = op(A)[row0 + i][k0 + q]
    var av: array<vec4<f32>, DR>;
    if (TRANS_A) {
      // A is [K, M]: the block's rows are contiguous for each k.
      for (var q = 0u; q < 4u; q++) {
        for (var g = 0u; g < DR / 4u; g++) {
          let v = a_quad(a_base + (k0 + q) * dims.a_ld + row0 + 4u * g);
          av[4u * g][q] = v.x;
          av[4u * g + 1u][q] = v.y;
          av[4u * g + 2u][q] = v.z;
          av[4u * g + 3u][q] = v.w;
        }
      }
    } else {
      for (var i = 0u; i < DR; i++) { av[i] = a_quad(a_base + (row0 + i) * dims.a_ld + k0); }
    }
    // B is [N, K]: bt[j][q] = op(B)[k0 + q][col0 + j], four contiguous k per column.
    var bt: array<vec4<f32>, 4u * DV>;
    if (TRANS_B) {
      for (var j = 0u; j < 4u * DV; j++) { bt[j] = b_quad(b_base + (col0 + j) * dims.b_ld + k0); }
    }
    for (var q = 0u; q < 4u; q++) {
      // bv[v][e] = op(B)[k0 + q][col0 + 4v + e]
      var bv: array<vec4<f32>, DV>;
      for (var v = 0u; v < DV; v++) {
        if (TRANS_B) {
          bv[v] = vec4<f32>(bt[4u * v][q], bt[4u * v + 1u][q], bt[4u * v + 2u][q], bt[4u * v + 3u][q]);
        } else {
          bv[v] = b_quad(b_base + (k0 + q) * dims.b_ld + col0 + 4u * v);
        }
      }
      for (var i = 0u; i < DR; i++) {
        let s = vec4<f32>(av[i][q]);
        for (var v = 0u; v < DV; v++) { acc[i][v] = fma(s, bv[v], acc[i][v]); }
      }
    }
  }
  // Edge tiles, and the last K % 4 of interior ones: one k at a time, every read checked.
  for (var kk = k_fast; kk < dims.k; kk++) {
    var bv: array<vec4<f32>, DV>;
    for (var v = 0u; v < DV; v++) {
      let j = col0 + 4u * v;
      bv[v] = vec4<f32>(load_b(model, kk, j), load_b(model, kk, j + 1u), load_b(model, kk, j + 2u), load_b(model, kk, j + 3u));
    }
    for (var i = 0u; i < DR; i++) {
      let s = vec4<f32>(load_a(model, row0 + i, kk));
      for (var v = 0u; v < DV; v++) { acc[i][v] = fma(s, bv[v], acc[i][v]); }
    }
  }

  if (EPILOGUE == 1u) { bias_activate(model, col0, &acc); }
  // Each invocation reads back only what it staged: no barrier needed.
  let base = lid.x * DR * DV;
  for (var i = 0u; i < DR; i++) {
    for (var v = 0u; v < DV; v++) { c_stage[base + i * DV + v] = acc[i][v]; }
  }
  let rows = min(DR, dims.m - row0);
  let cols = min(4u * DV, select(0u, dims.n - col0, col0 < dims.n));
  if (VEC_C && cols == 4u * DV) {
    for (var i = 0u; i < rows; i++) {
      for (var v = 0u; v < DV; v++) { finish_c4(model, row0 + i, col0 + 4u * v, c_stage[base + i * DV + v]); }
    }
    return;
  }
  for (var i = 0u; i < rows; i++) {
    for (var j = 0u; j < cols; j++) { finish_c(model, row0 + i, col0 + j, c_stage[base + i * DV + j / 4u][j % 4u]); }
  }
}

// Direct with ROW_LANES: each invocation keeps a DR×4·DV block of C as in direct(), but its rows
// (and model) differ from its neighbours' and its columns do not. Reads are clamped into the operands (rows
// past M and columns past N read elements that exist, and their products are never stored), so
// edge blocks take the same path as interior ones: on a CPU adapter a bounds check per read costs
// more than the arithmetic of a narrow product.
fn direct_rows(wg: vec3<u32>, groups: vec3<u32>, lid: vec3<u32>) {
  // Lanes run over (model, row block) pairs, so that a batch of small products (many models of
  // a few rows each) fills workgroups instead of giving each model its own. Lanes past the last
  // pair compute clamped values for the last model and store nothing.
  let blocks = (dims.m + DR - 1u) / DR;
  let lane = (wg.z * groups.y + wg.y) * WG_X + lid.x;
  let model = min(lane / blocks, dims.batch - 1u);
  let live = lane < blocks * dims.batch;
  let row0 = (lane % blocks) * DR;
  let col0 = wg.x * 4u * DV;
  let stored_rows = select(dims.m, dims.m - 1u, ONES_ROW);
  let a_base = dims.a_offset + model * dims.a_batch;
  let b_base = dims.b_offset + model * dims.b_batch;
  // The stored row (of op(A)) that row0 + i reads, and whether it is the ones row instead.
  var a_row: array<u32, DR>;
  var ones: array<bool, DR>;
  for (var i = 0u; i < DR; i++) {
    a_row[i] = min(row0 + i, stored_rows - 1u);
    ones[i] = ONES_ROW && row0 + i == dims.m - 1u;
  }
  // The column of op(B) that col0 + j reads.
  var b_col: array<u32, 4u * DV>;
  for (var j = 0u; j < 4u * DV; j++) { b_col[j] = min(col0 + j, dims.n - 1u); }

  var acc: array<array<vec4<f32>, DV>, DR>;
  // Four k at a time; the last K % 4 once more with k clamped to K - 1 and A's values zeroed.
  let k_vec = dims.k & ~3u;
  for (var kk = 0u; kk < dims.k; kk += 4u) {
    let kq = min(vec4<u32>(kk) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(dims.k - 1u));
    let live = vec4<u32>(kk) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(dims.k);
    var av: array<vec4<f32>, DR>;
    for (var i = 0u; i < DR; i++) {
      var v: vec4<f32>;
      if (TRANS_A) {
        let at = a_base + a_row[i];
        v = vec4<f32>(a[at + kq.x * dims.a_ld], a[at + kq.y * dims.a_ld], a[at + kq.z * dims.a_ld], a[at + kq.w * dims.a_ld]);
      } else {
        let at = a_base + a_row[i] * dims.a_ld;
        if (VEC_A && kk < k_vec) {
          v = a_quad(at + kk);
        } else {
          v = vec4<f32>(a[at + kq.x], a[at + kq.y], a[at + kq.z], a[at + kq.w]);
        }
      }
      av[i] = select(vec4<f32>(0.0), select(v, vec4<f32>(1.0), ones[i]), live);
    }
    for (var q = 0u; q < 4u; q++) {
      var bv: array<vec4<f32>, DV>;
      for (var v = 0u; v < DV; v++) {
        var e: vec4<f32>;
        for (var x = 0u; x < 4u; x++) {
          let col = b_col[4u * v + x];
          if (TRANS_B) { e[x] = b[b_base + col * dims.b_ld + kq[q]]; } else { e[x] = b[b_base + kq[q] * dims.b_ld + col]; }
        }
        bv[v] = e;
      }
      for (var i = 0u; i < DR; i++) {
        let s = vec4<f32>(av[i][q]);
        for (var v = 0u; v < DV; v++) { acc[i][v] = fma(s, bv[v], acc[i][v]); }
      }
    }
  }

  if (EPILOGUE == 1u) { bias_activate(model, col0, &acc); }
  let base = lid.x * DR * DV;
  for (var i = 0u; i < DR; i++) {
    for (var v = 0u; v < DV; v++) { c_stage[base + i * DV + v] = acc[i][v]; }
  }
  let rows = select(0u, min(DR, dims.m - row0), live);
  let cols = min(4u * DV, dims.n - col0);
  for (var i = 0u; i < rows; i++) {
    for (var j = 0u; j < cols; j++) { finish_c(model, row0 + i, col0 + j, c_stage[base + i * DV + j / 4u][j % 4u]); }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  if (DIRECT && ROW_LANES) {
    direct_rows(wg, groups, lid);
  } else if (DIRECT) {
    direct(wg.z, wg, lid);
  } else {
    tiled(wg.z, wg, lid);
  }
}
