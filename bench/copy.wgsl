// The simplest memory-bound kernel, as the bandwidth yardstick for altreg's memory-bound
// kernels: dst[i] = src[i], one vec4 per invocation, workgroups spread over x and y.

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * WG + lid;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}
