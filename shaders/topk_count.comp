#version 450
// Compaction, step 1: each workgroup counts the keys of its block of BLOCK = workgroup size x ITEMS scores that
// are above the threshold key t and equal to it.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ITEMS = 8;  // scores per invocation; must match topk_write
#include "topk_common.glsl"
layout(std430, binding = 0) readonly buffer Scores { float scores[]; };
layout(std430, binding = 1) buffer Scratch { uint scratch[]; };

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint block = gl_WorkGroupID.x;
  const uint threshold = scratch[state_base(row)];
  const uint begin = block * gl_WorkGroupSize.x * ITEMS;
  const uint end = min(pc.n, begin + gl_WorkGroupSize.x * ITEMS);

  uvec2 counts = uvec2(0u);
  for (uint i = begin + gl_LocalInvocationID.x; i < end; i += gl_WorkGroupSize.x) {
    const uint key = order_key(scores[row * pc.n + i]);
    counts += uvec2(key > threshold ? 1u : 0u, key == threshold ? 1u : 0u);
  }
  uvec2 total;
  workgroup_exclusive_scan(counts, total);
  if (gl_LocalInvocationID.x == 0u) {
    const uint at = block_base(row) + 2u * block;
    scratch[at] = total.x;
    scratch[at + 1u] = total.y;
  }
}
