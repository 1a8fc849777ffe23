#version 450
// Compaction, step 3: writes the kept indices of each block in ascending order, then (all workgroups together)
// the window indices n .. n + window - 1 after the k selected ones. A score is kept when its key is above the
// threshold t, or equal to t and among the first `ties` such scores of the row by index. Its output position is
// (#keys > t before it) + min(#keys == t before it, ties), so the output is sorted by construction.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ITEMS = 8;  // scores per invocation; must match topk_count
#include "topk_common.glsl"
layout(std430, binding = 0) readonly buffer Scores { float scores[]; };
layout(std430, binding = 1) readonly buffer Scratch { uint scratch[]; };
layout(std430, binding = 2) writeonly buffer Indices { uint indices[]; };

const uint kDrop = 0u, kAbove = 1u, kEqual = 2u;
// Classes of the block's scores, loaded coalesced and then read ITEMS consecutive ones per invocation; one
// padding word every 32 keeps those strided reads off a single bank.
shared uint classes[gl_WorkGroupSize.x * ITEMS + gl_WorkGroupSize.x * ITEMS / 32u];
uint padded(uint i) { return i + (i >> 5); }

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint block = gl_WorkGroupID.x;
  const uint lid = gl_LocalInvocationID.x;
  const uint out_base = row * (pc.k + pc.window);

  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint j = block * gl_WorkGroupSize.x + lid; j < pc.window; j += stride) indices[out_base + pc.k + j] = pc.n + j;
  if (pc.k == 0u || block >= pc.blocks) return;  // uniform per workgroup

  const uint threshold = scratch[state_base(row)];
  const uint ties = scratch[state_base(row) + 2u];
  const uint block_size = gl_WorkGroupSize.x * ITEMS;
  const uint begin = block * block_size;
  for (uint j = 0u; j < ITEMS; ++j) {
    const uint local = j * gl_WorkGroupSize.x + lid;
    uint cls = kDrop;
    if (begin + local < pc.n) {
      const uint key = order_key(scores[row * pc.n + begin + local]);
      cls = key > threshold ? kAbove : (key == threshold ? kEqual : kDrop);
    }
    classes[padded(local)] = cls;
  }
  barrier();

  uvec2 counts = uvec2(0u);
  for (uint j = 0u; j < ITEMS; ++j) {
    const uint cls = classes[padded(lid * ITEMS + j)];
    counts += uvec2(cls == kAbove ? 1u : 0u, cls == kEqual ? 1u : 0u);
  }
  uvec2 total;
  const uint at = block_base(row) + 2u * block;
  uvec2 before = uvec2(scratch[at], scratch[at + 1u]) + workgroup_exclusive_scan(counts, total);

  for (uint j = 0u; j < ITEMS; ++j) {
    const uint cls = classes[padded(lid * ITEMS + j)];
    const uint index = begin + lid * ITEMS + j;
    if (cls == kAbove) {
      indices[out_base + before.x + min(before.y, ties)] = index;
      before.x++;
    } else if (cls == kEqual) {
      if (before.y < ties) indices[out_base + before.x + before.y] = index;
      before.y++;
    }
  }
}
