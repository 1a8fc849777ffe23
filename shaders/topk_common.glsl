// Shared by the topk_*.comp radix-select kernels: push constants, scratch layout, the order-preserving key and
// a workgroup scan. Include after the `layout(local_size_x_id = 0) in;` line.
#ifndef CKV_TOPK_COMMON_GLSL
#define CKV_TOPK_COMMON_GLSL

// One push-constant block for every top-k kernel (24 bytes, same struct on the host).
layout(push_constant) uniform Push {
  uint rows;
  uint n;       // candidates per row
  uint k;       // indices to keep per row (excluding the window)
  uint window;  // window indices n .. n + window - 1 appended to every row
  uint blocks;  // compaction blocks per row (count / scan / write)
  uint pass;    // radix pass 0..3, most significant digit first
} pc;

// Scratch words (zeroed by the host before the first pass):
//   state [rows][4]          prefix of the threshold key, mask of its known bits, k still to place, unused
//   hist  [rows][4][256]     global digit histogram of each pass
//   block [rows][blocks][2]  per compaction block (count > t, count == t), scanned in place to exclusive sums
const uint kStateWords = 4u;
const uint kBins = 256u;
uint state_base(uint row) { return row * kStateWords; }
uint hist_base(uint row, uint pass) { return pc.rows * kStateWords + (row * 4u + pass) * kBins; }
uint block_base(uint row) { return pc.rows * (kStateWords + 4u * kBins) + row * pc.blocks * 2u; }

// Float bits to a uint whose unsigned order is the float order; -0 maps like +0 so that they tie.
uint order_key(float score) {
  uint bits = floatBitsToUint(score);
  if (bits == 0x80000000u) bits = 0u;
  return (bits & 0x80000000u) != 0u ? ~bits : bits | 0x80000000u;
}

// Exclusive prefix sum of one uvec2 per invocation across the workgroup (Hillis-Steele in shared memory, so it
// needs no subgroup feature); `total` receives the workgroup sum. Every invocation must call it.
shared uvec2 scan_buf[gl_WorkGroupSize.x];
uvec2 workgroup_exclusive_scan(uvec2 value, out uvec2 total) {
  const uint lid = gl_LocalInvocationID.x;
  scan_buf[lid] = value;
  barrier();
  for (uint offset = 1u; offset < gl_WorkGroupSize.x; offset <<= 1) {
    const uvec2 add = lid >= offset ? scan_buf[lid - offset] : uvec2(0u);
    barrier();
    scan_buf[lid] += add;
    barrier();
  }
  total = scan_buf[gl_WorkGroupSize.x - 1u];
  const uvec2 inclusive = scan_buf[lid];
  barrier();  // scan_buf may be reused by the next call
  return inclusive - value;
}

#endif
