// Adam in place on (w, m, v) for every parameter of every model, PyTorch's form:
//   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  w ← w − lr·m̂/(√v̂ + ε),
//   m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ).
// t is the model's step counter on the GPU (counters[model].z, advanced by the gather kernel), so
// many steps can be encoded into one submission; a model with no rows this step
// (counters[model].y == 0) is left untouched. The L2 term of this epoch comes per model and
// segment in coef: MODE 1 adds it to the gradient (coupled: g + coef·w, coef = c·λ·mask), MODE 2
// decays the weight first (decoupled, AdamW: w ← w − lr·coef·w, coef = λ·mask).
//
// Each invocation updates four consecutive parameters as one vec4, whatever tensors or models
// they belong to: the segment, model, coefficient and step of each of the four are looked up
// and the update is one straight path of vec4 arithmetic, with select() keeping what must not
// change (a model that did not step, the padding after the last parameter). There are no
// branches on purpose: CPU adapters (llvmpipe) run invocations as SIMD lanes and execute every
// branch any lane might take, so a rarely taken lane-by-lane path costs as much as a taken one.

struct Params {
  count: u32,      // parameters of all models
  per_model: u32,
  segments: u32,   // per model
  models: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  epsilon: f32,
  log_beta1: f32,  // ln β₁ and ln β₂, computed in float64 on the CPU
  log_beta2: f32,
  inv_per_model: f32,
  _pad: u32,
}

override WG: u32 = 256u;
// 0: plain Adam, 1: coupled L2, 2: decoupled weight decay.
override MODE: u32 = 0u;
// Consecutive vec4 per invocation: 1 on GPUs (neighbouring invocations read neighbouring
// vec4); more on CPU adapters, where a run inside one model and one tensor (almost all of them)
// looks up its model, coefficient and step once instead of once per vec4.
override RUN: u32 = 1u;
// Every model has at least 4 parameters, so four consecutive parameters span at most two
// models (the step of two is read instead of four).
override WIDE_MODELS: bool = true;

@group(0) @binding(0) var<storage, read_write> weights: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
// Four words per model: .y rows this step, .z the step count t.
@group(0) @binding(5) var<storage, read> counters: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;
// The segment (tensor) of each parameter of a model.
@group(0) @binding(7) var<storage, read> segment_of: array<u32>;

// 1 − βᵗ = −expm1(x), x = t·ln β, without cancellation (four at a time): pow(β, t) is only
// accurate to a few ulps, and 1 − pow(0.999, 1) would lose four of float32's seven digits to
// it. For small |x| the Taylor series of expm1 (to x¹¹, Horner form) is exact to float32
// precision; elsewhere 1 − exp(x) is at least 0.39.
fn one_minus_pow(x: vec4<f32>) -> vec4<f32> {
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
  return select(-x * s, 1.0 - exp(x), x < vec4<f32>(-0.5));
}

// The model holding parameter i: a float quotient, corrected to the exact one. Its relative error
// is below 3·2⁻²⁴, so below one for up to 2²² models (createAdam refuses more) and one step
// either way suffices.
fn model_of(i: u32) -> u32 {
  var q = min(u32(f32(i) * params.inv_per_model), params.models - 1u);
  q = select(q, q - 1u, q > 0u && q * params.per_model > i);
  q = select(q, q + 1u, q + 1u < params.models && (q + 1u) * params.per_model <= i);
  return q;
}

// What one vec4 of parameters needs besides its own values: the L2 coefficient, whether its
// model steps, and the bias corrections 1 / (1 − βᵗ), per parameter.
struct Lookup {
  c: vec4<f32>,
  step: vec4<bool>,
  inv_correction1: vec4<f32>,
  inv_correction2: vec4<f32>,
}

// 1 / (1 − β₁ᵗ) and 1 / (1 − β₂ᵗ) for step counts t_a (.x, .z) and t_b (.y, .w).
fn corrections(t_a: f32, t_b: f32) -> vec4<f32> {
  return 1.0 / one_minus_pow(vec4<f32>(t_a, t_b, t_a, t_b) * vec4<f32>(params.log_beta1, params.log_beta1, params.log_beta2, params.log_beta2));
}

// The lookup of vec4 k, whose four parameters may belong to different tensors and models.
fn lookup(k: u32) -> Lookup {
  let first = 4u * k;
  let lanes = vec4<u32>(0u, 1u, 2u, 3u);
  let valid = vec4<u32>(first) + lanes < vec4<u32>(params.count);

  // Model and index within it of each of the four parameters: the first one's, carried over
  // model boundaries (at most three, when models have a single parameter).
  let m0 = model_of(first);
  var model = vec4<u32>(m0);
  var j = vec4<u32>(first - m0 * params.per_model) + lanes;
  for (var r = 0u; r < select(3u, 1u, WIDE_MODELS); r++) {
    let over = j >= vec4<u32>(params.per_model);
    j = select(j, j - params.per_model, over);
    model = select(model, model + 1u, over);
  }
  model = min(model, vec4<u32>(params.models - 1u)); // the padding after the last parameter
  let seg = vec4<u32>(segment_of[j.x], segment_of[j.y], segment_of[j.z], segment_of[j.w]);
  let at = model * params.segments + seg;

  // Rows and step count of each parameter's model, and its bias corrections.
  // A model that has not stepped yet has t = 0: any finite value does, it is not written.
  var out: Lookup;
  out.c = vec4<f32>(coef[at.x], coef[at.y], coef[at.z], coef[at.w]);
  if (WIDE_MODELS) {
    // Two models at most: the first parameter's and the last one's.
    let rows_a = counters[4u * model.x + 1u];
    let rows_b = counters[4u * model.w + 1u];
    let inv = corrections(max(f32(counters[4u * model.x + 2u]), 1.0), max(f32(counters[4u * model.w + 2u]), 1.0));
    let second = model != vec4<u32>(model.x);
    out.step = select(vec4<u32>(rows_a), vec4<u32>(rows_b), second) != vec4<u32>(0u);
    out.inv_correction1 = select(vec4<f32>(inv.x), vec4<f32>(inv.y), second);
    out.inv_correction2 = select(vec4<f32>(inv.z), vec4<f32>(inv.w), second);
  } else {
    let rows = vec4<u32>(counters[4u * model.x + 1u], counters[4u * model.y + 1u], counters[4u * model.z + 1u], counters[4u * model.w + 1u]);
    let t = vec4<u32>(counters[4u * model.x + 2u], counters[4u * model.y + 2u], counters[4u * model.z + 2u], counters[4u * model.w + 2u]);
    let tf = max(vec4<f32>(t), vec4<f32>(1.0));
    out.step = rows != vec4<u32>(0u);
    out.inv_correction1 = 1.0 / one_minus_pow(tf * params.log_beta1);
    out.inv_correction2 = 1.0 / one_minus_pow(tf * params.log_beta2);
  }
  out.step = out.step & valid;
  return out;
}

// The lookup shared by every parameter of one tensor of one model.
fn lookup_tensor(model: u32, seg: u32) -> Lookup {
  var out: Lookup;
  out.c = vec4<f32>(coef[model * params.segments + seg]);
  out.step = vec4<bool>(counters[4u * model + 1u] != 0u);
  let inv = corrections(max(f32(counters[4u * model + 2u]), 1.0), 1.0);
  out.inv_correction1 = vec4<f32>(inv.x);
  out.inv_correction2 = vec4<f32>(inv.z);
  return out;
}

fn update(k: u32, s: Lookup) {
  let w0 = weights[k];
  let m0v = m[k];
  let v0 = v[k];
  var w = w0;
  var g = grads[k];
  if (MODE == 1u) { g = g + s.c * w; }
  if (MODE == 2u) { w = w - params.lr * s.c * w; }
  let m1 = params.beta1 * m0v + (1.0 - params.beta1) * g;
  let v1 = params.beta2 * v0 + (1.0 - params.beta2) * g * g;
  m[k] = select(m0v, m1, s.step);
  v[k] = select(v0, v1, s.step);
  weights[k] = select(w0, w - params.lr * (m1 * s.inv_correction1) / (sqrt(v1 * s.inv_correction2) + params.epsilon), s.step);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let k0 = ((wg.y * groups.x + wg.x) * WG + lid) * RUN;
  let first = 4u * k0;
  if (first >= params.count) { return; }
  if (RUN == 1u) {
    update(k0, lookup(k0));
    return;
  }
  // A whole run inside one tensor of one model (its first and last parameter agree) looks up
  // once; a run across a boundary, or past the last parameter, looks up each vec4.
  let last = first + 4u * RUN - 1u;
  let end = min(last, params.count - 1u);
  let model_a = model_of(first);
  let model_b = model_of(end);
  let seg_a = segment_of[first - model_a * params.per_model];
  let seg_b = segment_of[end - model_b * params.per_model];
  if (last < params.count && model_a == model_b && seg_a == seg_b) {
    let s = lookup_tensor(model_a, seg_a);
    for (var r = 0u; r < RUN; r++) { update(k0 + r, s); }
  } else {
    for (var r = 0u; r < RUN; r++) {
      if (4u * (k0 + r) < params.count) { update(k0 + r, lookup(k0 + r)); }
    }
  }
}
