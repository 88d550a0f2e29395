// Batched matrix product with a fused epilogue: the three products of a dense layer's step.
//   forward      C = act(A·B + bias)      A = X [M,K], B = W [K,N], bias = the row after W
//   input grad   C = (A·Bᵀ) ⊙ act'(aux)   A = dZ [M,N'], B = W read transposed, aux = layer input
//   weight grad  C = [Aᵀ; 1]·B            A = X read transposed with a row of ones appended,
//                                          so the last row of C is the bias gradient
// Every operand has an element offset, a row stride and a batch stride; workgroup_id.z picks
// one of `batch` independent models that share the dispatch.
// Each workgroup computes a BM×BN tile of C from BK-deep slices of A and B staged in workgroup
// memory; each invocation holds a 4×4 block of C in registers.

struct Dims {
  m: u32, n: u32, k: u32, batch: u32,
  a_offset: u32, a_ld: u32, a_batch: u32,
  b_offset: u32, b_ld: u32, b_batch: u32,
  c_offset: u32, c_ld: u32, c_batch: u32,
  aux_offset: u32, aux_ld: u32, aux_batch: u32,
  bias_offset: u32, bias_batch: u32, _pad0: u32, _pad1: u32,
}

// Invocations along N and M; each covers TN columns and TM rows.
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
// Depth of the K slice staged per iteration.
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

const TM: u32 = 4u;
const TN: u32 = 4u;
override BM: u32 = WG_Y * TM;
override BN: u32 = WG_X * TN;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

var<workgroup> a_tile: array<f32, BK * BM>; // [k][m]
var<workgroup> b_tile: array<f32, BK * BN>; // [k][n]

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

// Derivative of the activation written in terms of its output y = act(x).
fn activate_grad(y: f32) -> f32 {
  switch ACTIVATION {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let model = wg.z;
  let tid = lid.y * WG_X + lid.x;
  let threads = WG_X * WG_Y;
  let tile_row = wg.y * BM;
  let tile_col = wg.x * BN;

  var acc: array<vec4<f32>, TM>;
  for (var k0 = 0u; k0 < dims.k; k0 += BK) {
    for (var e = tid; e < BM * BK; e += threads) {
      // Consecutive invocations read consecutive addresses in either layout.
      var mm: u32; var kk: u32;
      if (TRANS_A) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
      a_tile[kk * BM + mm] = load_a(model, tile_row + mm, k0 + kk);
    }
    for (var e = tid; e < BN * BK; e += threads) {
      var nn: u32; var kk: u32;
      if (TRANS_B) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
      b_tile[kk * BN + nn] = load_b(model, k0 + kk, tile_col + nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ar = kk * BM + lid.y * TM;
      let br = kk * BN + lid.x * TN;
      let bv = vec4<f32>(b_tile[br], b_tile[br + 1u], b_tile[br + 2u], b_tile[br + 3u]);
      for (var i = 0u; i < TM; i++) {
        acc[i] = fma(vec4<f32>(a_tile[ar + i]), bv, acc[i]);
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
      var v = acc[i][j];
      if (EPILOGUE == 1u) {
        v = activate(v + b[dims.bias_offset + model * dims.bias_batch + col]);
      } else if (EPILOGUE == 2u) {
        v = v * activate_grad(aux[dims.aux_offset + model * dims.aux_batch + row * dims.aux_ld + col]);
      }
      c[dims.c_offset + model * dims.c_batch + row * dims.c_ld + col] = v;
    }
  }
}
