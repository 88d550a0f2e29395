// Shared by softmax_xent.wgsl, softmax_xent_subgroup.wgsl and metrics.wgsl: their wrappers append
// this file to the shader. The [loss sum (f32 bits), correct, rows, flags] group a kernel adds
// into each model's record of a stats slot. The including shader declares `override WG`,
// `stats: array<atomic<u32>>` and `params` with `stats_stride` (words per model record) and
// `stats_field` (first word of the group).

// What the rows an invocation (or a workgroup) took add to its model's record.
struct Sums {
  loss: f32,
  correct: u32,
  count: u32,
  flags: u32,
}

// NaN and Inf have every exponent bit set; a bit test survives fast-math assumptions.
fn not_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn atomic_add_f32(i: u32, v: f32) {
  var old = atomicLoad(&stats[i]);
  loop {
    let r = atomicCompareExchangeWeak(&stats[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

// Adds `s` into the model's group with atomics (nothing when it counted no row and no flag).
fn flush(model: u32, s: Sums) {
  if (s.count + s.flags > 0u) {
    let at = model * params.stats_stride + params.stats_field;
    atomic_add_f32(at, s.loss);
    atomicAdd(&stats[at + 1u], s.correct);
    atomicAdd(&stats[at + 2u], s.count);
    atomicOr(&stats[at + 3u], s.flags);
  }
}

// Lanes layouts (CPU adapters): invocation `lane` of a dispatch over every model's chunks of `per`
// consecutive rows takes model .x (≥ the model count past the last chunk) from row .y on.
fn lane_chunk(lane: u32, rows: u32, per: u32) -> vec2<u32> {
  let chunks = (rows + per - 1u) / per;
  return vec2<u32>(lane / chunks, (lane % chunks) * per);
}

var<workgroup> loss_part: array<f32, WG>;
var<workgroup> correct_part: array<u32, WG>;
var<workgroup> count_part: array<u32, WG>;
var<workgroup> flag_part: array<u32, WG>;

// Reduces the workgroup's sums (WG a power of two) and flushes them once. Every invocation of
// the workgroup must call it.
fn reduce_and_flush(lid: u32, model: u32, s: Sums) {
  loss_part[lid] = s.loss;
  correct_part[lid] = s.correct;
  count_part[lid] = s.count;
  flag_part[lid] = s.flags;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) {
      loss_part[lid] += loss_part[lid + half];
      correct_part[lid] += correct_part[lid + half];
      count_part[lid] += count_part[lid + half];
      flag_part[lid] |= flag_part[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { flush(model, Sums(loss_part[0], correct_part[0], count_part[0], flag_part[0])); }
}
