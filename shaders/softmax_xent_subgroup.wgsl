// Fused softmax cross-entropy for wide rows (many classes) on adapters with subgroups: the same
// results as softmax_xent.wgsl, but each row is taken by one subgroup, its lanes over the
// classes, so that consecutive lanes read consecutive logits (coalesced on a GPU, where one
// invocation per row strides its loads by a whole row). A row is read twice: once for its
// maximum, argmax and Σ exp (each lane keeps a running maximum and rescales its sum when the
// maximum grows; subgroup operations combine the lanes), once to write dlogits.
//
// Workgroup wg.x takes rows [wg.x · R, wg.x · R + R) of model wg.y, R = params.rows_per_group;
// its subgroups take turns over them, each numbered once through a workgroup counter (subgroup
// ids need not follow local_invocation_index). Each subgroup adds its sums into the stats slot
// itself: the only barrier is the one after the numbering. Sums and flush come from
// loss_sums.wgsl, which the wrapper appends.

enable subgroups;
// Every subgroup operation below runs with the whole subgroup on the same row; the workgroup-wide
// analysis cannot see that.
diagnostic(off, subgroup_uniformity);

struct Params {
  rows: u32,        // rows per model in logits (a step's batch)
  classes: u32,
  stats_stride: u32, // u32 words per model record in the stats slot
  stats_field: u32,  // first word of [loss sum, correct, count, flags] in the record
  rows_per_group: u32,
  _pad0: u32, _pad1: u32, _pad2: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // [model][rows][classes]
@group(0) @binding(1) var<storage, read> labels: array<u32>;        // [model][rows]
@group(0) @binding(2) var<storage, read> counters: array<vec4<u32>>; // .y: real rows this step
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>; // [model][rows][classes]
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>; // one epoch slot
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> next_subgroup: atomic<u32>;

// The most negative finite f32.
const LOWEST: f32 = -0x1.fffffep+127f;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) width: u32) {
  let model = wg.y;
  let real_rows = min(counters[model].y, params.rows);
  let c = params.classes;
  var ticket = 0u;
  if (subgroupElect()) { ticket = atomicAdd(&next_subgroup, 1u); }
  let me = subgroupBroadcastFirst(ticket);
  // After the barrier the counter holds the number of subgroups, whatever their sizes.
  workgroupBarrier();
  let subgroups = atomicLoad(&next_subgroup);
  let first = wg.x * params.rows_per_group;
  let end = min(first + params.rows_per_group, params.rows);

  var sums = Sums(0.0, 0u, 0u, 0u);
  for (var r = first + me; r < end; r += subgroups) {
    let base = (model * params.rows + r) * c;
    let label = labels[model * params.rows + r];
    let bad = label >= c;
    let counts = r < real_rows && !bad;
    // This lane's classes: running maximum, its first index, Σ exp(z − maximum), and the same Σ
    // without the label (the label's dlogit is −that·scale/Σ: p − 1 would cancel for a confident row).
    let hot = min(label, c - 1u);
    var top = LOWEST;
    var best = 0xffffffffu;
    var sum = 0.0;
    var others = 0.0;
    for (var j = lane; j < c; j += width) {
      let z = logits[base + j];
      if (z > top || best == 0xffffffffu) {
        let rescale = exp(top - z);
        sum = sum * rescale + 1.0;
        others = others * rescale + select(1.0, 0.0, j == hot);
        top = z;
        best = j;
      } else {
        let e = exp(z - top);
        sum += e;
        others += select(e, 0.0, j == hot);
      }
    }
    let row_top = subgroupMax(select(top, LOWEST, best == 0xffffffffu));
    // The first class holding the maximum: the smallest index among lanes that reached it.
    let row_best = subgroupMin(select(0xffffffffu, best, best != 0xffffffffu && top == row_top));
    let to_row = select(exp(top - row_top), 0.0, best == 0xffffffffu);
    let row_sum = subgroupAdd(sum * to_row);
    let row_others = subgroupAdd(others * to_row);
    let scale = select(0.0, 1.0 / f32(real_rows), counts);
    let inv = scale / row_sum;
    for (var j = lane; j < c; j += width) {
      let p = exp(logits[base + j] - row_top) * inv;
      dlogits[base + j] = select(0.0, select(p, -row_others * inv, j == hot), counts);
    }
    let row_loss = log(row_sum) - (logits[base + hot] - row_top);
    sums.loss += select(0.0, row_loss, counts);
    sums.correct += select(0u, 1u, counts && row_best == label);
    sums.count += select(0u, 1u, counts);
    sums.flags |= select(0u, 1u, counts && (not_finite(row_loss) || not_finite(row_top)));
    sums.flags |= select(0u, 2u, r < real_rows && bad);
  }
  // Every lane holds the same sums: one adds them.
  if (subgroupElect()) { flush(model, sums); }
}
