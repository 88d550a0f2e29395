// Evaluation metrics, one invocation per row (a few consecutive rows on CPU adapters): the predicted class (argmax of the logits),
// confusion-matrix counts [label][prediction] by atomics, and per-model sums of the
// cross-entropy loss, correct predictions, rows and flags (1: a loss or logit not finite,
// 2: a label ≥ classes, counted nowhere). Rows past counters[model].y are ignored. Sums, flush
// and reduce_and_flush come from loss_sums.wgsl, which the wrapper appends.

struct Params {
  rows: u32,
  classes: u32,
  stats_stride: u32,
  stats_field: u32,
  rows_per_invocation: u32, // LANE_SUMS only
  models: u32,
  _pad0: u32, _pad1: u32,
}

override WG: u32 = 64u;
// Count the confusion matrix (off for per-epoch validation, which needs only the sums).
override CONFUSION: bool = true;
// CPU adapters: each invocation takes rows_per_invocation consecutive rows of one model
// (invocations over every model's rows) and adds its sums with atomics; no workgroup reduction.
override LANE_SUMS: bool = false;

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // [model][rows][classes]
@group(0) @binding(1) var<storage, read> labels: array<u32>;        // [model][rows]
@group(0) @binding(2) var<storage, read> counters: array<vec4<u32>>; // .y: real rows
@group(0) @binding(3) var<storage, read_write> predictions: array<u32>;   // [model][rows]
@group(0) @binding(4) var<storage, read_write> confusion: array<atomic<u32>>; // [model][classes][classes]
@group(0) @binding(5) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(6) var<uniform> params: Params;

fn add_row(model: u32, r: u32, sums: ptr<function, Sums>) {
  let c = params.classes;
  let base = (model * params.rows + r) * c;
  let label = labels[model * params.rows + r];
  var top = logits[base];
  var best = 0u;
  for (var j = 1u; j < c; j++) {
    let z = logits[base + j];
    if (z > top) { top = z; best = j; }
  }
  predictions[model * params.rows + r] = best;
  if (label >= c) {
    (*sums).flags |= 2u;
  } else {
    var sum = 0.0;
    for (var j = 0u; j < c; j++) { sum += exp(logits[base + j] - top); }
    let loss = log(sum) - (logits[base + label] - top);
    (*sums).loss += loss;
    (*sums).correct += select(0u, 1u, best == label);
    (*sums).count += 1u;
    if (not_finite(loss) || not_finite(top)) { (*sums).flags |= 1u; }
    if (CONFUSION) { atomicAdd(&confusion[(model * c + label) * c + best], 1u); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  var sums = Sums(0.0, 0u, 0u, 0u);
  if (LANE_SUMS) {
    // Lanes over (model, chunk of rows_per_invocation consecutive rows) pairs of all models.
    let per = params.rows_per_invocation;
    let at = lane_chunk((wg.y * groups.x + wg.x) * WG + lid, params.rows, per);
    let model = at.x;
    if (model < params.models) {
      let real_rows = min(counters[model].y, params.rows);
      let first = at.y;
      for (var r = first; r < min(first + per, real_rows); r++) { add_row(model, r, &sums); }
      flush(model, sums);
    }
    return;
  }
  let model = wg.y;
  let r = wg.x * WG + lid;
  if (r < min(counters[model].y, params.rows)) { add_row(model, r, &sums); }
  reduce_and_flush(lid, model, sums);
}
