// Gathers one step's batch for every model: rows of the shared data set picked by each model's
// permutation of its training rows, standardized per model (x·scale + shift) when AFFINE, plus
// their labels.
// Rows past the end of a model's epoch are zero so that the products downstream ignore them;
// the number of real rows goes to counters[model].y and the model's step counter (Adam's t) is
// advanced when it has any. The data set may be split over several shards when it is larger than
// one storage binding: one dispatch per shard, each writing the rows that live in it; the first
// shard's dispatch also writes labels, zero padding and counters.

struct Params {
  batch_rows: u32,      // rows per step
  features: u32,
  index_stride: u32,    // entries per model in the permutation slot
  count_steps: u32,     // 1: advance counters[model].z for models with rows this step
  shard_first_row: u32, // first data row held by the bound x shard
  shard_rows: u32,      // rows held by the bound x shard
  first_shard: u32,     // 1 for the dispatch that writes labels, padding and counters
  models: u32,
}

struct Step { index: u32 }

override WG: u32 = 64u;
override ROW_LOOP: bool = false;
// false: no model standardizes, rows are copied as they are and `affine` is not read.
override AFFINE: bool = true;

// Prepended by the wrapper: `alias Elem = vec4<f32>; const WIDTH = 4u;` when features are a
// multiple of 4 (four features per invocation), else `alias Elem = f32; const WIDTH = 1u;`.

@group(0) @binding(0) var<storage, read> x: array<Elem>;            // shard rows × features
@group(0) @binding(1) var<storage, read> y: array<u32>;             // all rows
@group(0) @binding(2) var<storage, read> perm: array<u32>;          // [model][index_stride], one epoch slot
@group(0) @binding(3) var<storage, read> affine: array<Elem>;       // [model][2][features]: scale, shift
@group(0) @binding(4) var<storage, read_write> counters: array<vec4<u32>>; // [model]: rows, step rows, step, -
@group(0) @binding(5) var<storage, read_write> xb: array<Elem>;     // [model][batch_rows][features]
@group(0) @binding(6) var<storage, read_write> yb: array<u32>;      // [model][batch_rows]
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> step: Step;

// The model's real rows this step (its epoch's rows from `start` on, at most a batch). The
// invocation that `records` (one per model, in the first shard's dispatch) stores them in
// counters[model].y and advances the model's step count when there are any.
fn step_rows(model: u32, start: u32, records: bool) -> u32 {
  let n = counters[model].x;
  let rows = min(params.batch_rows, n - min(n, start));
  if (records && params.first_shard == 1u) {
    counters[model].y = rows;
    if (params.count_steps == 1u && rows > 0u) { counters[model].z += 1u; }
  }
  return rows;
}

// Feature (or vec4) f of a row as model `a` (= model · 2 · Elems per row) sees it.
fn standardized(value: Elem, a: u32, fw: u32, f: u32) -> Elem {
  if (!AFFINE) { return value; }
  return value * affine[a + f] + affine[a + fw + f];
}

// ROW_LOOP (CPU adapters): invocation `g` takes one batch row of one model and loops over its
// features, so that each row's permutation entry, label and counters are read once and the
// invocation index is divided once (CPU adapters have no vector integer division).
fn gather_rows(g: u32, fw: u32) {
  let model = g / params.batch_rows;
  if (model >= params.models) { return; }
  let r = g - model * params.batch_rows;
  let start = step.index * params.batch_rows;
  let rows = step_rows(model, start, r == 0u);
  let out = (model * params.batch_rows + r) * fw;
  if (r >= rows) {
    if (params.first_shard == 1u) {
      for (var f = 0u; f < fw; f++) { xb[out + f] = Elem(); }
      yb[model * params.batch_rows + r] = 0u;
    }
    return;
  }
  let row = perm[model * params.index_stride + start + r];
  if (params.first_shard == 1u) { yb[model * params.batch_rows + r] = y[row]; }
  if (row < params.shard_first_row || row >= params.shard_first_row + params.shard_rows) { return; }
  let a = model * 2u * fw;
  let at = (row - params.shard_first_row) * fw;
  for (var f = 0u; f < fw; f++) { xb[out + f] = standardized(x[at + f], a, fw, f); }
}

// Invocations run over every model's batch elements (x, then y past the dispatch limit), so a
// batch of many small models shares workgroups.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let fw = params.features / WIDTH; // Elems per row
  if (ROW_LOOP) {
    gather_rows((wg.y * groups.x + wg.x) * WG + lid, fw);
    return;
  }
  let per_model = params.batch_rows * fw;
  let g = (wg.y * groups.x + wg.x) * WG + lid;
  let model = g / per_model;
  if (model >= params.models) { return; }
  let e = g % per_model;
  let start = step.index * params.batch_rows;
  let rows = step_rows(model, start, e == 0u);
  let r = e / fw;
  let f = e % fw;
  let out = (model * params.batch_rows + r) * fw + f;
  if (r >= rows) {
    if (params.first_shard == 1u) {
      xb[out] = Elem();
      if (f == 0u) { yb[model * params.batch_rows + r] = 0u; }
    }
    return;
  }
  let row = perm[model * params.index_stride + start + r];
  if (params.first_shard == 1u && f == 0u) { yb[model * params.batch_rows + r] = y[row]; }
  if (row < params.shard_first_row || row >= params.shard_first_row + params.shard_rows) { return; }
  let a = model * 2u * fw;
  xb[out] = standardized(x[(row - params.shard_first_row) * fw + f], a, fw, f);
}
