#version 450
// The whole top-k selection of one row in one workgroup (y = row): the four radix passes keep the threshold
// prefix in shared memory instead of global scratch, and the stable compaction walks the row in chunks with a
// running offset, so the step is one dispatch instead of twelve separated by barriers. Same contract as the
// multi-pass kernels (topk_select.hpp): the k largest keys (ties: lower index first) in ascending index order,
// then the window indices n .. n + window - 1. Rows of up to REG_ITEMS keys per invocation are read once and kept in
// registers for the four passes; longer rows are re-read (from the cache) by every pass.
// USE_BALLOT: most keys of a pass share a few digits (pass 0 sees little more than the exponent), and same-address
// shared atomics serialise; so each subgroup adds the counts of its two smallest digits with one atomic each.
#include "common.glsl"
#if USE_BALLOT
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;  // at least 256 (one digit bin per invocation in the pick)
#include "topk_common.glsl"
layout(std430, binding = 0) readonly buffer Scores { float scores[]; };
layout(std430, binding = 1) writeonly buffer Indices { uint indices[]; };

const uint ITEMS = 4u;       // consecutive scores per invocation in a compaction chunk
const uint REG_ITEMS = 32u;  // keys per invocation kept in registers (32 K keys with 1024 invocations)
shared uint hist[kBins];
shared uint chosen_digit, chosen_remaining;

// Adds a key's digit to the histogram when `wanted`. Called by every invocation of the workgroup (uniformly).
void count_key(uint key, bool wanted, uint shift) {
  const uint bin = (key >> shift) & 0xFFu;
#if USE_BALLOT
  for (uint round = 0u; round < 2u; ++round) {
    const uint leader = subgroupMin(wanted ? bin : kBins);
    if (leader == kBins) return;  // subgroup-uniform: no key left to count
    const bool same = wanted && bin == leader;
    const uvec4 lanes = subgroupBallot(same);
    if (same && gl_SubgroupInvocationID == subgroupBallotFindLSB(lanes))
      atomicAdd(hist[leader], subgroupBallotBitCount(lanes));
    wanted = wanted && !same;
  }
#endif
  if (wanted) atomicAdd(hist[bin], 1u);
}

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint lid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint row_base = row * pc.n;
  const uint out_base = row * (pc.k + pc.window);

  for (uint j = lid; j < pc.window; j += threads) indices[out_base + pc.k + j] = pc.n + j;
  if (pc.k == 0u) return;

  const bool in_registers = pc.n <= threads * REG_ITEMS;
  uint cached[REG_ITEMS];
  if (in_registers) {
    [[unroll]] for (uint r = 0u; r < REG_ITEMS; ++r) {
      const uint i = r * threads + lid;
      cached[r] = i < pc.n ? order_key(scores[row_base + i]) : 0u;
    }
  }

  uint prefix = 0u, mask = 0u, remaining = pc.k;
  for (uint pass = 0u; pass < 4u; ++pass) {
    const uint shift = 24u - 8u * pass;
    if (lid < kBins) hist[lid] = 0u;
    barrier();
    if (in_registers) {
      [[unroll]] for (uint r = 0u; r < REG_ITEMS; ++r) {
        if (r * threads >= pc.n) break;  // uniform
        count_key(cached[r], r * threads + lid < pc.n && (cached[r] & mask) == prefix, shift);
      }
    } else {
      for (uint base = 0u; base < pc.n; base += threads) {
        const uint i = base + lid;
        const uint key = i < pc.n ? order_key(scores[row_base + i]) : 0u;
        count_key(key, i < pc.n && (key & mask) == prefix, shift);
      }
    }
    barrier();
    // Invocation b < 256 owns digit 255 - b, so the exclusive scan counts the keys in higher buckets.
    const uint count = lid < kBins ? hist[kBins - 1u - lid] : 0u;
    uvec2 total;
    const uint above = workgroup_exclusive_scan(uvec2(count, 0u), total).x;
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
    uvec2 counts = uvec2(0u);
    for (uint j = 0u; j < ITEMS; ++j) {
      keys[j] = first + j < pc.n ? order_key(scores[row_base + first + j]) : 0u;
      const bool inside = first + j < pc.n;
      counts += uvec2(inside && keys[j] > threshold ? 1u : 0u, inside && keys[j] == threshold ? 1u : 0u);
    }
    uvec2 total;
    uvec2 before = carry + workgroup_exclusive_scan(counts, total);
    carry += total;
    for (uint j = 0u; j < ITEMS; ++j) {
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
