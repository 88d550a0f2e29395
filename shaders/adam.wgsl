// Adam in place on (w, m, v) for every parameter of every model, PyTorch's form:
//   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  w ← w − lr·m̂/(√v̂ + ε),
//   m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ).
// t is the model's step counter on the GPU (counters[model].z, advanced by the gather kernel), so
// many steps can be encoded into one submission; a model with no rows this step
// (counters[model].y == 0) is left untouched. The L2 term of this epoch comes per model and
// segment in coef: MODE 1 adds it to the gradient (coupled: g + coef·w, coef = c·λ·mask), MODE 2
// decays the weight first (decoupled, AdamW: w ← w − lr·coef·w, coef = λ·mask).

struct Params {
  count: u32,
  per_model: u32,
  segments: u32,
  _pad: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  epsilon: f32,
  log_beta1: f32, // ln β₁ and ln β₂, computed in float64 on the CPU
  log_beta2: f32,
  _pad1: u32,
  _pad2: u32,
  starts: array<vec4<u32>, 16>,
}

override WG: u32 = 256u;
// 0: plain Adam, 1: coupled L2, 2: decoupled weight decay.
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read_write> weights: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(6) var<uniform> params: Params;

fn segment_of(j: u32) -> u32 {
  var s = 0u;
  for (var i = 1u; i < params.segments; i++) {
    if (j >= params.starts[i / 4u][i % 4u]) { s = i; }
  }
  return s;
}

// 1 − βᵗ = −expm1(t·ln β) without cancellation: pow(β, t) is only accurate to a few ulps, and
// 1 − pow(0.999, 1) would lose four of float32's seven digits to it. For small |x| the Taylor
// series of expm1 is exact to float32 precision; elsewhere 1 − exp(x) is at least 0.39.
fn one_minus_pow(log_beta: f32, t: f32) -> f32 {
  let x = t * log_beta;
  if (x < -0.5) { return 1.0 - exp(x); }
  var term = x;
  var sum = x;
  for (var k = 2.0; k <= 12.0; k += 1.0) {
    term *= x / k;
    sum += term;
  }
  return -sum;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * WG + lid;
  if (i >= params.count) { return; }
  let model = i / params.per_model;
  let counter = counters[model];
  if (counter.y == 0u) { return; }
  let t = f32(counter.z);
  var w = weights[i];
  var g = grads[i];
  if (MODE != 0u) {
    let c = coef[model * params.segments + segment_of(i % params.per_model)];
    if (MODE == 1u) { g = g + c * w; } else { w = w - params.lr * c * w; }
  }
  let m1 = params.beta1 * m[i] + (1.0 - params.beta1) * g;
  let v1 = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
  m[i] = m1;
  v[i] = v1;
  let m_hat = m1 / one_minus_pow(params.log_beta1, t);
  let v_hat = v1 / one_minus_pow(params.log_beta2, t);
  weights[i] = w - params.lr * m_hat / (sqrt(v_hat) + params.epsilon);
}
