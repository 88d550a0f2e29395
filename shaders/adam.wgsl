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
}

override WG: u32 = 256u;
// 0: plain Adam, 1: coupled L2, 2: decoupled weight decay.
override MODE: u32 = 0u;

// Four parameters per invocation, as vec4 (buffers are padded to 16 bytes).
@group(0) @binding(0) var<storage, read_write> weights: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(6) var<uniform> params: Params;
// The segment (tensor) of each parameter of a model: a lookup instead of a search per invocation.
@group(0) @binding(7) var<storage, read> segment_of: array<u32>;

// 1 − βᵗ = −expm1(t·ln β) without cancellation: pow(β, t) is only accurate to a few ulps, and
// 1 − pow(0.999, 1) would lose four of float32's seven digits to it. For small |x| the Taylor
// series of expm1 (to x¹¹, Horner form) is exact to float32 precision; elsewhere 1 − exp(x) is
// at least 0.39.
fn one_minus_pow(log_beta: f32, t: f32) -> f32 {
  let x = t * log_beta;
  if (x < -0.5) { return 1.0 - exp(x); }
  var s = 1.0 + x * (1.0 / 11.0);
  s = 1.0 + x * (1.0 / 10.0) * s;
  s = 1.0 + x * (1.0 / 9.0) * s;
  s = 1.0 + x * (1.0 / 8.0) * s;
  s = 1.0 + x * (1.0 / 7.0) * s;
  s = 1.0 + x * (1.0 / 6.0) * s;
  s = 1.0 + x * (1.0 / 5.0) * s;
  s = 1.0 + x * (1.0 / 4.0) * s;
  s = 1.0 + x * (1.0 / 3.0) * s;
  s = 1.0 + x * 0.5 * s;
  return -x * s;
}

// The step of one model: its L2 coefficient and bias corrections, or skip when it had no rows.
struct ModelStep {
  running: bool,
  inv_correction1: f32, // 1 / (1 − β₁ᵗ)
  inv_correction2: f32, // 1 / (1 − β₂ᵗ)
}

fn model_step(model: u32) -> ModelStep {
  let counter = counters[model];
  let t = f32(counter.z);
  return ModelStep(counter.y != 0u, 1.0 / one_minus_pow(params.log_beta1, t), 1.0 / one_minus_pow(params.log_beta2, t));
}

// The same update for a vec4 of parameters sharing model and segment, and for one lane.
fn update4(k: u32, c: f32, s: ModelStep) {
  var w = weights[k];
  var g = grads[k];
  if (MODE == 1u) { g = g + c * w; }
  if (MODE == 2u) { w = w - params.lr * c * w; }
  let m1 = params.beta1 * m[k] + (1.0 - params.beta1) * g;
  let v1 = params.beta2 * v[k] + (1.0 - params.beta2) * g * g;
  m[k] = m1;
  v[k] = v1;
  weights[k] = w - params.lr * (m1 * s.inv_correction1) / (sqrt(v1 * s.inv_correction2) + params.epsilon);
}

fn update1(k: u32, lane: u32, c: f32, s: ModelStep) {
  var w = weights[k][lane];
  var g = grads[k][lane];
  if (MODE == 1u) { g = g + c * w; }
  if (MODE == 2u) { w = w - params.lr * c * w; }
  let m1 = params.beta1 * m[k][lane] + (1.0 - params.beta1) * g;
  let v1 = params.beta2 * v[k][lane] + (1.0 - params.beta2) * g * g;
  m[k][lane] = m1;
  v[k][lane] = v1;
  weights[k][lane] = w - params.lr * (m1 * s.inv_correction1) / (sqrt(v1 * s.inv_correction2) + params.epsilon);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let k = (wg.y * groups.x + wg.x) * WG + lid;
  let first = 4u * k;
  if (first >= params.count) { return; }
  let model = first / params.per_model;
  let j = first - model * params.per_model;
  if (first + 3u < params.count && j + 3u < params.per_model) {
    let seg = segment_of[j];
    if (seg == segment_of[j + 3u]) {
      // Common case: four parameters of one tensor of one model.
      let s = model_step(model);
      if (s.running) { update4(k, coef[model * params.segments + seg], s); }
      return;
    }
  }
  // Four parameters straddling a tensor or model boundary (or the end): lane by lane.
  for (var lane = 0u; lane < 4u; lane++) {
    let i = first + lane;
    if (i >= params.count) { break; }
    let mi = i / params.per_model;
    let s = model_step(mi);
    if (s.running) { update1(k, lane, coef[mi * params.segments + segment_of[i - mi * params.per_model]], s); }
  }
}
