#version 450
// Top-k of one row (y = row) in one workgroup with the row held in registers: the same contract and radix select
// as topk_one_group.comp (four 8-bit passes, then a stable compaction), but the row is read from memory once.
// topk_one_group.comp re-reads it in every pass, and on an H200 each of its passes cost about 5 µs at 32 K scores,
// one memory round trip per batch of loads on a single SM; here the passes only touch registers and shared memory.
//
// Invocation lid holds the quads lid, lid + THREADS, ... of the row (16-byte loads, adjacent invocations on adjacent
// quads), so the row's index order is (quad step q, invocation, element). The compaction counts each invocation's
// kept keys per step q, takes subgroup inclusive sums, then one scan over the (q, subgroup) totals in that order,
// and every invocation writes its kept indices: two barriers instead of one scan per chunk.
// Needs subgroup arithmetic, n <= QUADS · 4 · THREADS and n a multiple of 4 (rows start on 16-byte boundaries); the
// host checks all three.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MAX_SUBGROUPS = 128;  // local size / the device's smallest subgroup size
#include "topk_common.glsl"
layout(std430, binding = 0) readonly buffer Scores4 { vec4 scores4[]; };
layout(std430, binding = 1) writeonly buffer Indices { uint indices[]; };

const uint THREADS = gl_WorkGroupSize.x;
#ifndef QUADS
#define QUADS 9  // quads per invocation: 36 K scores with 1024 invocations
#endif
const uint COPIES = 16u;  // histogram copies (see topk_one_group.comp)
const uint COPY_STRIDE = kBins + 1u;
const uint HIST_WORDS = COPIES * COPY_STRIDE;
// The histogram's words are reused by the compaction for its (q, subgroup) totals: QUADS · MAX_SUBGROUPS of them.
shared uint hist[HIST_WORDS > QUADS * MAX_SUBGROUPS ? HIST_WORDS : QUADS * MAX_SUBGROUPS];
shared uint chosen_digit, chosen_remaining;
shared uint subgroup_sums[MAX_SUBGROUPS];

shared uint scan_total;

// Exclusive prefix sum of one uint per invocation across the workgroup; `total` gets the workgroup's sum. The
// subgroup totals are scanned by the first subgroup (a serial loop over them cost more than the rest of a pass).
// Two calls must have a barrier between them (they share subgroup_sums and scan_total); main's calls do.
uint exclusive_scan(uint value, out uint total) {
  const uint inclusive = subgroupInclusiveAdd(value);
  if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) subgroup_sums[gl_SubgroupID] = inclusive;
  barrier();
  if (gl_SubgroupID == 0u) {
    uint carry = 0u;
    for (uint base = 0u; base < gl_NumSubgroups; base += gl_SubgroupSize) {
      const uint i = base + gl_SubgroupInvocationID;
      const uint v = i < gl_NumSubgroups ? subgroup_sums[i] : 0u;
      const uint before = subgroupExclusiveAdd(v);
      if (i < gl_NumSubgroups) subgroup_sums[i] = carry + before;
      carry += subgroupAdd(v);
    }
    if (gl_SubgroupInvocationID == 0u) scan_total = carry;
  }
  barrier();
  total = scan_total;
  return subgroup_sums[gl_SubgroupID] + inclusive - value;
}

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint lid = gl_LocalInvocationID.x;
  const uint quads = pc.n / 4u;
  const uint row_quad = row * quads;
  const uint out_base = row * (pc.k + pc.window);

  for (uint j = lid; j < pc.window; j += THREADS) indices[out_base + pc.k + j] = pc.n + j;
  if (pc.k == 0u) return;

  // Quads past the row read as key 0 and are never counted (`inside`).
  uvec4 keys[QUADS];
  [[unroll]] for (uint q = 0u; q < QUADS; ++q) {
    const uint at = lid + q * THREADS;
    const vec4 v = at < quads ? scores4[row_quad + at] : vec4(0.0);
    keys[q] = uvec4(order_key(v.x), order_key(v.y), order_key(v.z), order_key(v.w));
  }

  uint prefix = 0u, mask = 0u, remaining = pc.k;
  const uint copy = (lid % COPIES) * COPY_STRIDE;
  for (uint b = lid; b < HIST_WORDS; b += THREADS) hist[b] = 0u;
  barrier();
  for (uint pass = 0u; pass < 4u; ++pass) {
    const uint shift = 24u - 8u * pass;
    [[unroll]] for (uint q = 0u; q < QUADS; ++q) {
      if (lid + q * THREADS < quads) {
        [[unroll]] for (uint e = 0u; e < 4u; ++e)
          if ((keys[q][e] & mask) == prefix) atomicAdd(hist[copy + ((keys[q][e] >> shift) & 0xFFu)], 1u);
      }
    }
    barrier();
    // Invocation b < 256 owns digit 255 - b, so the exclusive scan counts the keys in higher buckets.
    // Each of these invocations also clears the words it read: the next pass's histogram starts at zero.
    uint count = 0u;
    if (lid < kBins) {
      [[unroll]] for (uint c = 0u; c < COPIES; ++c) count += hist[c * COPY_STRIDE + kBins - 1u - lid];
      [[unroll]] for (uint c = 0u; c < COPIES; ++c) hist[c * COPY_STRIDE + kBins - 1u - lid] = 0u;
    }
    uint total;
    const uint above = exclusive_scan(count, total);
    if (lid < kBins && above < remaining && remaining <= above + count) {
      chosen_digit = kBins - 1u - lid;
      chosen_remaining = remaining - above;
    }
    barrier();
    // chosen_* is next written after the next pass's first barrier, which every invocation reaches after this read.
    prefix |= chosen_digit << shift;
    mask |= 0xFFu << shift;
    remaining = chosen_remaining;
  }

  // prefix is now the threshold key t, remaining the number of keys equal to t to keep. A key's output position is
  // (#keys > t before it) + min(#keys == t before it, ties). Counts are packed as (#greater) | (#equal << 16): with
  // n < 2^16 no sum of #greater carries into the upper half, and no sum of #equal leaves it.
  const uint threshold = prefix, ties = remaining;
  uint mine[QUADS], before_in_subgroup[QUADS];
  [[unroll]] for (uint q = 0u; q < QUADS; ++q) {
    uint c = 0u;
    if (lid + q * THREADS < quads) {
      [[unroll]] for (uint e = 0u; e < 4u; ++e)
        c += keys[q][e] > threshold ? 1u : (keys[q][e] == threshold ? 0x10000u : 0u);
    }
    mine[q] = c;
    const uint inclusive = subgroupInclusiveAdd(c);
    before_in_subgroup[q] = inclusive - c;
    if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) hist[q * gl_NumSubgroups + gl_SubgroupID] = inclusive;
  }
  barrier();
  // Exclusive scan of the QUADS · subgroups totals in (q, subgroup) order: each invocation sums a run of them.
  const uint entries = QUADS * gl_NumSubgroups;
  const uint per = (entries + THREADS - 1u) / THREADS;
  const uint first = lid * per;
  uint run = 0u;
  for (uint i = first; i < min(first + per, entries); ++i) run += hist[i];
  uint total;
  uint carry = exclusive_scan(run, total);
  for (uint i = first; i < min(first + per, entries); ++i) {
    const uint t = hist[i];
    hist[i] = carry;
    carry += t;
  }
  barrier();
  [[unroll]] for (uint q = 0u; q < QUADS; ++q) {
    if (mine[q] == 0u) continue;
    const uint before = hist[q * gl_NumSubgroups + gl_SubgroupID] + before_in_subgroup[q];
    uint gt = before & 0xFFFFu, eq = before >> 16u;
    const uint index0 = 4u * (lid + q * THREADS);
    [[unroll]] for (uint e = 0u; e < 4u; ++e) {
      const uint key = keys[q][e];
      if (key > threshold) {
        indices[out_base + gt + min(eq, ties)] = index0 + e;
        gt++;
      } else if (key == threshold) {
        if (eq < ties) indices[out_base + gt + eq] = index0 + e;
        eq++;
      }
    }
  }
}
