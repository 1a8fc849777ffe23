#version 450
// Radix select, step 1 of each pass: histogram of the current 8-bit digit over the scores of one row whose key
// matches the prefix found by the earlier passes. Workgroups (x) stride over the row, y is the row; each
// workgroup counts into shared memory and adds its non-zero bins to the row's global histogram.
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "topk_common.glsl"
layout(std430, binding = 0) readonly buffer Scores { float scores[]; };
layout(std430, binding = 1) buffer Scratch { uint scratch[]; };

shared uint local_hist[kBins];

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint lid = gl_LocalInvocationID.x;
  const uint prefix = scratch[state_base(row)];
  const uint mask = scratch[state_base(row) + 1u];
  const uint shift = 24u - 8u * pc.pass;

  for (uint b = lid; b < kBins; b += gl_WorkGroupSize.x) local_hist[b] = 0u;
  barrier();

  const uint row_base = row * pc.n;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_WorkGroupID.x * gl_WorkGroupSize.x + lid; i < pc.n; i += stride) {
    const uint key = order_key(scores[row_base + i]);
    if ((key & mask) == prefix) atomicAdd(local_hist[(key >> shift) & 0xFFu], 1u);
  }
  barrier();

  const uint global_hist = hist_base(row, pc.pass);
  for (uint b = lid; b < kBins; b += gl_WorkGroupSize.x) {
    const uint count = local_hist[b];
    if (count != 0u) atomicAdd(scratch[global_hist + b], count);
  }
}
