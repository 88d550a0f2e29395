// Gathers one step's batch for every model: rows of the shared data set picked by each model's
// permutation of its training rows, standardized per model (x·scale + shift), plus their labels.
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

@group(0) @binding(0) var<storage, read> x: array<f32>;             // shard rows × features
@group(0) @binding(1) var<storage, read> y: array<u32>;             // all rows
@group(0) @binding(2) var<storage, read> perm: array<u32>;          // [model][index_stride], one epoch slot
@group(0) @binding(3) var<storage, read> affine: array<f32>;        // [model][2][features]: scale, shift
@group(0) @binding(4) var<storage, read_write> counters: array<vec4<u32>>; // [model]: rows, step rows, step, -
@group(0) @binding(5) var<storage, read_write> xb: array<f32>;      // [model][batch_rows][features]
@group(0) @binding(6) var<storage, read_write> yb: array<u32>;      // [model][batch_rows]
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> step: Step;

// Invocations run over every model's batch elements (x, then y past the dispatch limit), so a
// batch of many small models shares workgroups.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let per_model = params.batch_rows * params.features;
  let g = (wg.y * groups.x + wg.x) * WG + lid;
  let model = g / per_model;
  if (model >= params.models) { return; }
  let e = g % per_model;
  let n = counters[model].x;
  let start = step.index * params.batch_rows;
  let rows = min(params.batch_rows, n - min(n, start));
  if (e == 0u && params.first_shard == 1u) {
    counters[model].y = rows;
    if (params.count_steps == 1u && rows > 0u) { counters[model].z += 1u; }
  }
  let r = e / params.features;
  let f = e % params.features;
  let out = (model * params.batch_rows + r) * params.features + f;
  if (r >= rows) {
    if (params.first_shard == 1u) {
      xb[out] = 0.0;
      if (f == 0u) { yb[model * params.batch_rows + r] = 0u; }
    }
    return;
  }
  let row = perm[model * params.index_stride + start + r];
  if (params.first_shard == 1u && f == 0u) { yb[model * params.batch_rows + r] = y[row]; }
  if (row < params.shard_first_row || row >= params.shard_first_row + params.shard_rows) { return; }
  let a = model * 2u * params.features;
  xb[out] = x[(row - params.shard_first_row) * params.features + f] * affine[a + f] + affine[a + params.features + f];
}
