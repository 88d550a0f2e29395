// Fused L2-gradient add over every tensor of every model: g += coef[model][segment] · w.
// A model's parameters are segments (one per tensor) laid out back to back; coef holds, per
// model and segment, c·mask (c = 2λ in the Keras convention, λ in PyTorch's) for this epoch, 0
// for untargeted tensors. A new epoch's mask is a new coef slot, not a new pipeline.

struct Params {
  count: u32,      // models × per_model
  per_model: u32,  // parameters of one model
  segments: u32,
  _pad: u32,
  starts: array<vec4<u32>, 16>, // first parameter of each segment (up to 64)
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> weights: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>; // [model][segments], one epoch slot
@group(0) @binding(3) var<uniform> params: Params;

fn segment_of(j: u32) -> u32 {
  var s = 0u;
  for (var i = 1u; i < params.segments; i++) {
    if (j >= params.starts[i / 4u][i % 4u]) { s = i; }
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * WG + lid;
  if (i >= params.count) { return; }
  let model = i / params.per_model;
  let c = coef[model * params.segments + segment_of(i % params.per_model)];
  grads[i] = grads[i] + c * weights[i];
}
