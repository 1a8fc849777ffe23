#version 450
// Compaction, step 2 (one workgroup per row): exclusive prefix sums of the per-block counts, in place, so each
// block knows how many kept keys lie before it.
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "topk_common.glsl"
layout(std430, binding = 0) buffer Scratch { uint scratch[]; };

void main() {
  const uint base = block_base(gl_WorkGroupID.y);
  uvec2 carry = uvec2(0u);
  for (uint start = 0u; start < pc.blocks; start += gl_WorkGroupSize.x) {
    const uint block = start + gl_LocalInvocationID.x;
    const uint at = base + 2u * block;
    const uvec2 counts = block < pc.blocks ? uvec2(scratch[at], scratch[at + 1u]) : uvec2(0u);
    uvec2 total;
    const uvec2 before = carry + workgroup_exclusive_scan(counts, total);
    if (block < pc.blocks) {
      scratch[at] = before.x;
      scratch[at + 1u] = before.y;
    }
    carry += total;
  }
}
