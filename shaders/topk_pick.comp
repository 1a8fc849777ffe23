#version 450
// Radix select, step 2 of each pass (one workgroup per row): finds the digit bucket that holds the k-th largest
// key among those matching the prefix, appends that digit to the prefix and subtracts the keys of higher
// buckets from the count still to place. After pass 3 the prefix is the exact threshold key t and the count is
// the number of keys equal to t to keep. The workgroup size must divide 256.
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "topk_common.glsl"
layout(std430, binding = 0) buffer Scratch { uint scratch[]; };

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint lid = gl_LocalInvocationID.x;
  const uint state = state_base(row);
  const uint hist = hist_base(row, pc.pass);
  const uint bins_per_invocation = kBins / gl_WorkGroupSize.x;
  // Every invocation reads the state before the scan's barriers; only the one that finds the bucket writes it.
  const uint prefix = scratch[state];
  const uint mask = scratch[state + 1u];
  const uint remaining = pc.pass == 0u ? pc.k : scratch[state + 2u];

  // Invocation `lid` takes buckets in descending digit order, so an exclusive scan gives the keys above each.
  const uint first = lid * bins_per_invocation;
  uint own = 0u;
  for (uint j = 0u; j < bins_per_invocation; ++j) own += scratch[hist + kBins - 1u - (first + j)];
  uvec2 total;
  uint above = workgroup_exclusive_scan(uvec2(own, 0u), total).x;

  for (uint j = 0u; j < bins_per_invocation; ++j) {
    const uint digit = kBins - 1u - (first + j);
    const uint count = scratch[hist + digit];
    if (above < remaining && remaining <= above + count) {
      const uint shift = 24u - 8u * pc.pass;
      scratch[state] = prefix | (digit << shift);
      scratch[state + 1u] = mask | (0xFFu << shift);
      scratch[state + 2u] = remaining - above;
    }
    above += count;
  }
}
