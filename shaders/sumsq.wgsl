// Sum of squares of every parameter segment (tensor) of every model: one workgroup per
// (segment, model), or on CPU adapters one invocation per pair (LANES), written as f32 into
// the epoch's stats slot. The history gets per-tensor
// weight norms from it and the penalty value λ·Σ mask·Σw² without another pass.

struct Params {
  per_model: u32,
  segments: u32,
  stats_stride: u32, // words per model record
  stats_field: u32,  // first word of the per-segment sums in the record
  models: u32,
  _pad0: u32, _pad1: u32, _pad2: u32,
  starts: array<vec4<u32>, 17>, // segment i spans [starts[i], starts[i + 1])
}

override WG: u32 = 256u;
// CPU adapters, every segment short: each invocation sums one (segment, model) pair by itself,
// invocations over all pairs, so many small tensors of many models share a few workgroups and
// nothing is reduced across invocations (llvmpipe runs workgroup memory and barriers as per-lane
// loops).
override LANES: bool = false;

@group(0) @binding(0) var<storage, read> weights: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> part: array<f32, WG>;

fn start_of(i: u32) -> u32 {
  return params.starts[i / 4u][i % 4u];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
  if (LANES) {
    let pair = (wg.y * groups.x + wg.x) * WG + lid;
    let model = pair / params.segments;
    if (model < params.models) {
      let segment = pair % params.segments;
      let base = model * params.per_model;
      var sum = 0.0;
      for (var j = start_of(segment); j < start_of(segment + 1u); j++) {
        let w = weights[base + j];
        sum += w * w;
      }
      stats[model * params.stats_stride + params.stats_field + segment] = sum;
    }
    return;
  }
  let segment = wg.x;
  let model = wg.y;
  let base = model * params.per_model;
  var sum = 0.0;
  for (var j = start_of(segment) + lid; j < start_of(segment + 1u); j += WG) {
    let w = weights[base + j];
    sum += w * w;
  }
  part[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { stats[model * params.stats_stride + params.stats_field + segment] = part[0]; }
}
