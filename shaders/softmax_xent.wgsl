// Fused softmax cross-entropy for a training step: stable log-softmax, the row's loss,
// dlogits = (softmax − onehot) / rows, and per-model sums for the epoch's history (loss sum,
// correct predictions, rows, flags). Rows past counters[model].y are padding: their dlogits are
// zero and they count nowhere. A label ≥ classes sets flag 2 instead of being read out of
// bounds; a loss that is not finite sets flag 1.
//
// Each invocation takes params.rows_per_invocation rows, WG apart (consecutive invocations read
// consecutive rows), and adds them up privately; the workgroup then reduces once. On CPU
// adapters any reduction is the expensive part (llvmpipe runs workgroup memory and barriers as
// per-lane loops), so there each invocation adds its own sums with atomics (LANE_SUMS).
//
// With CLASSES set (the wrapper does so for up to MAX_CACHED classes) a row is read once into
// registers and exponentiated once; otherwise the row is read in three passes (max, sum, write).
// Sums, flush and reduce_and_flush come from loss_sums.wgsl, which the wrapper appends.

struct Params {
  rows: u32,        // rows per model in logits (a step's batch)
  classes: u32,
  stats_stride: u32, // u32 words per model record in the stats slot
  stats_field: u32,  // first word of [loss sum, correct, count, flags] in the record
  rows_per_invocation: u32,
  models: u32,
  _pad1: u32, _pad2: u32,
}

override WG: u32 = 64u;
// CPU adapters: each invocation takes rows_per_invocation consecutive rows of one model (lanes
// run over every model's row chunks, so a batch of many small models shares workgroups) and adds
// its sums to the model's record with atomics itself: no workgroup reduction, no barrier.
override LANE_SUMS: bool = false;
// The class count when it is at most MAX_CACHED (the loops over a row then have a constant trip
// count and the row stays in registers); 0 for any count.
override CLASSES: u32 = 0u;
const MAX_CACHED: u32 = 32u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // [model][rows][classes]
@group(0) @binding(1) var<storage, read> labels: array<u32>;        // [model][rows]
@group(0) @binding(2) var<storage, read> counters: array<vec4<u32>>; // .y: real rows this step
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>; // [model][rows][classes]
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>; // one epoch slot
@group(0) @binding(5) var<uniform> params: Params;

// What a row adds to the sums: its loss relative to the row maximum (log Σ exp(z − top) and
// z[label] − top), the maximum itself and the argmax.
struct Row {
  log_sum: f32,
  z_label: f32,
  top: f32,
  best: u32,
}

// A row of CLASSES (≤ MAX_CACHED) logits. `scale` is 1 / real rows for a row that counts and 0
// for padding or a bad label, whose dlogits are then written as zeros. The label's dlogit,
// (p − 1)·scale, is written as −Σ_{j≠label} p_j·scale: for a confident row p − 1 would cancel
// float32's digits away.
fn row_cached(base: u32, label: u32, scale: f32) -> Row {
  var z: array<f32, MAX_CACHED>;
  for (var j = 0u; j < CLASSES; j++) { z[j] = logits[base + j]; }
  var top = z[0];
  var best = 0u;
  for (var j = 1u; j < CLASSES; j++) {
    let better = z[j] > top;
    top = select(top, z[j], better);
    best = select(best, j, better);
  }
  var sum = 0.0;
  var others = 0.0; // Σ over the other classes: the label's dlogit without cancellation
  var z_label = 0.0;
  for (var j = 0u; j < CLASSES; j++) {
    z_label = select(z_label, z[j], j == label);
    z[j] = exp(z[j] - top);
    sum += z[j];
    others += select(z[j], 0.0, j == label);
  }
  let inv = scale / sum;
  let live = scale > 0.0;
  for (var j = 0u; j < CLASSES; j++) {
    dlogits[base + j] = select(0.0, select(z[j] * inv, -others * inv, j == label), live);
  }
  return Row(log(sum), z_label - top, top, best);
}

// A row of any length, read in three passes.
fn row_any(base: u32, label: u32, scale: f32) -> Row {
  let c = params.classes;
  if (scale == 0.0) {
    for (var j = 0u; j < c; j++) { dlogits[base + j] = 0.0; }
    return Row(0.0, 0.0, 0.0, 0u);
  }
  var top = logits[base];
  var best = 0u;
  for (var j = 1u; j < c; j++) {
    let z = logits[base + j];
    if (z > top) { top = z; best = j; }
  }
  var sum = 0.0;
  var others = 0.0;
  for (var j = 0u; j < c; j++) {
    let e = exp(logits[base + j] - top);
    sum += e;
    others += select(e, 0.0, j == label);
  }
  let inv = scale / sum;
  for (var j = 0u; j < c; j++) {
    dlogits[base + j] = select(exp(logits[base + j] - top) * inv, -others * inv, j == label);
  }
  return Row(log(sum), logits[base + label] - top, top, best);
}

fn add_row(model: u32, r: u32, real_rows: u32, sums: ptr<function, Sums>) {
  let c = params.classes;
  let base = (model * params.rows + r) * c;
  let label = labels[model * params.rows + r];
  let bad = label >= c;
  let counts = r < real_rows && !bad;
  let scale = select(0.0, 1.0 / f32(real_rows), counts);
  var row: Row;
  if (CLASSES > 0u) {
    row = row_cached(base, min(label, c - 1u), scale);
  } else {
    row = row_any(base, min(label, c - 1u), scale);
  }
  let row_loss = row.log_sum - row.z_label;
  (*sums).loss += select(0.0, row_loss, counts);
  (*sums).correct += select(0u, 1u, counts && row.best == label);
  (*sums).count += select(0u, 1u, counts);
  (*sums).flags |= select(0u, 1u, counts && (not_finite(row_loss) || not_finite(row.top)));
  (*sums).flags |= select(0u, 2u, r < real_rows && bad);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let per = params.rows_per_invocation;
  var sums = Sums(0.0, 0u, 0u, 0u);
  if (LANE_SUMS) {
    // Lanes over (model, chunk of `per` consecutive rows) pairs of all models.
    let at = lane_chunk((wg.y * groups.x + wg.x) * WG + lid, params.rows, per);
    let model = at.x;
    if (model < params.models) {
      let real_rows = min(counters[model].y, params.rows);
      let first = at.y;
      for (var r = first; r < min(first + per, params.rows); r++) { add_row(model, r, real_rows, &sums); }
      flush(model, sums);
    }
    return;
  }
  let model = wg.y;
  let real_rows = min(counters[model].y, params.rows);
  for (var t = 0u; t < per; t++) {
    let r = (wg.x * per + t) * WG + lid;
    if (r < params.rows) { add_row(model, r, real_rows, &sums); }
  }
  reduce_and_flush(lid, model, sums);
}
