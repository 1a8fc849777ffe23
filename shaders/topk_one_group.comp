#version 450
// The whole top-k selection of one row in one workgroup (y = row): the four radix passes keep the threshold
// prefix in shared memory instead of global scratch, and the stable compaction walks the row in chunks with a
// running offset, so the step is one dispatch instead of twelve separated by barriers. Same contract as the
// multi-pass kernels (topk_select.hpp): the k largest keys (ties: lower index first) in ascending index order,
// then the window indices n .. n + window - 1. Pass 2+ re-read the row, which the first pass left in the cache.
// The workgroup's prefix sums (one per pass, one per compaction chunk) are its barrier-bound part: USE_SUBGROUP_SCAN
// does each with subgroup inclusive adds and one shared slot per subgroup (two barriers), else a shared-memory
// Hillis-Steele scan (two barriers per step).
#include "common.glsl"
#if USE_SUBGROUP_SCAN
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;  // at least 256 (one digit bin per invocation in the pick)
layout(constant_id = 1) const uint MAX_SUBGROUPS = 128;  // local size / the device's smallest subgroup size
// Rows start and end on 16-byte boundaries (n a multiple of 4): the compaction reads its consecutive scores
// 16 bytes at a time. With 4-byte loads an invocation's ITEMS consecutive scores put every lane of a subgroup on
// its own cache line per load, which made the compaction cost most of the kernel.
layout(constant_id = 2) const bool VEC4_ROWS = false;
#include "topk_common.glsl"
layout(std430, binding = 0) readonly buffer Scores { float scores[]; };
layout(std430, binding = 0) readonly buffer Scores4 { vec4 scores4[]; };
layout(std430, binding = 1) writeonly buffer Indices { uint indices[]; };

const uint ITEMS = 16u;  // consecutive scores per invocation in a compaction chunk
const uint BATCH = 8u;   // scores each invocation loads before counting them: loads in flight, not one at a time
// Histogram copies, one per invocation index mod COPIES: in pass 0 most keys share a few digits (little more than
// the exponent), and same-address shared atomics serialise, so spreading them over copies cuts the conflicts. A
// copy spans kBins + 1 words so that the same digit of different copies sits in different banks.
const uint COPIES = 16u;
const uint COPY_STRIDE = kBins + 1u;
shared uint hist[COPIES * COPY_STRIDE];
shared uint chosen_digit, chosen_remaining;

#if USE_SUBGROUP_SCAN
shared uvec2 subgroup_totals[MAX_SUBGROUPS];
#endif

// Exclusive prefix sum of one uvec2 per invocation across the workgroup; `total` gets the workgroup's sum.
uvec2 exclusive_scan(uvec2 value, out uvec2 total) {
#if USE_SUBGROUP_SCAN
  const uvec2 inclusive = subgroupInclusiveAdd(value);
  if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) subgroup_totals[gl_SubgroupID] = inclusive;
  barrier();
  uvec2 before = uvec2(0u);
  total = uvec2(0u);
  for (uint g = 0u; g < gl_NumSubgroups; ++g) {
    const uvec2 t = subgroup_totals[g];
    if (g < gl_SubgroupID) before += t;
    total += t;
  }
  barrier();  // subgroup_totals is reused by the next scan
  return before + inclusive - value;
#else
  return workgroup_exclusive_scan(value, total);
#endif
}

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint lid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint row_base = row * pc.n;
  const uint out_base = row * (pc.k + pc.window);

  for (uint j = lid; j < pc.window; j += threads) indices[out_base + pc.k + j] = pc.n + j;
  if (pc.k == 0u) return;

  uint prefix = 0u, mask = 0u, remaining = pc.k;
  for (uint pass = 0u; pass < 4u; ++pass) {
    const uint shift = 24u - 8u * pass;
    for (uint b = lid; b < COPIES * COPY_STRIDE; b += threads) hist[b] = 0u;
    barrier();
    const uint copy = (lid % COPIES) * COPY_STRIDE;
    for (uint base = lid; base < pc.n; base += threads * BATCH) {
      uint keys[BATCH];
      [[unroll]] for (uint u = 0u; u < BATCH; ++u) {
        const uint i = base + u * threads;
        keys[u] = i < pc.n ? order_key(scores[row_base + i]) : 0u;
      }
      [[unroll]] for (uint u = 0u; u < BATCH; ++u)
        if (base + u * threads < pc.n && (keys[u] & mask) == prefix) atomicAdd(hist[copy + ((keys[u] >> shift) & 0xFFu)], 1u);
    }
    barrier();
    // Invocation b < 256 owns digit 255 - b, so the exclusive scan counts the keys in higher buckets.
    uint count = 0u;
    if (lid < kBins)
      for (uint c = 0u; c < COPIES; ++c) count += hist[c * COPY_STRIDE + kBins - 1u - lid];
    uvec2 total;
    const uint above = exclusive_scan(uvec2(count, 0u), total).x;
    if (lid < kBins && above < remaining && remaining <= above + count) {
      chosen_digit = kBins - 1u - lid;
      chosen_remaining = remaining - above;
    }
    barrier();
    prefix |= chosen_digit << shift;
    mask |= 0xFFu << shift;
    remaining = chosen_remaining;
    barrier();  // chosen_* is rewritten by the next pass
  }

  // prefix is now the threshold key t, remaining the number of keys equal to t to keep. A key's output position
  // is (#keys > t before it) + min(#keys == t before it, ties): sorted by construction.
  const uint threshold = prefix, ties = remaining;
  uvec2 carry = uvec2(0u);
  for (uint chunk = 0u; chunk < pc.n; chunk += threads * ITEMS) {
    const uint first = chunk + lid * ITEMS;
    uint keys[ITEMS];
    if (VEC4_ROWS) {
      [[unroll]] for (uint q = 0u; q < ITEMS / 4u; ++q) {
        // n is a multiple of 4 here, so a quad is wholly inside the row or wholly past it.
        const vec4 v = first + 4u * q < pc.n ? scores4[(row_base + first) / 4u + q] : vec4(0.0);
        [[unroll]] for (uint e = 0u; e < 4u; ++e) keys[4u * q + e] = order_key(v[e]);
      }
    } else {
      [[unroll]] for (uint j = 0u; j < ITEMS; ++j) keys[j] = first + j < pc.n ? order_key(scores[row_base + first + j]) : 0u;
    }
    uvec2 counts = uvec2(0u);
    [[unroll]] for (uint j = 0u; j < ITEMS; ++j) {
      const bool inside = first + j < pc.n;
      counts += uvec2(inside && keys[j] > threshold ? 1u : 0u, inside && keys[j] == threshold ? 1u : 0u);
    }
    uvec2 total;
    uvec2 before = carry + exclusive_scan(counts, total);
    carry += total;
    [[unroll]] for (uint j = 0u; j < ITEMS; ++j) {
      if (first + j >= pc.n) break;
      if (keys[j] > threshold) {
        indices[out_base + before.x + min(before.y, ties)] = first + j;
        before.x++;
      } else if (keys[j] == threshold) {
        if (before.y < ties) indices[out_base + before.x + before.y] = first + j;
        before.y++;
      }
    }
  }
}
