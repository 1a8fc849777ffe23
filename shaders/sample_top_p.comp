#version 450
// Nucleus (top-p) sampling of one token from f32 logits [vocab], entirely in one workgroup; writes only the
// chosen id to out_token[0].
//
// w_i = exp2((logit_i - max_logit) * log2(e) / temperature) in fp32 (so max w = 1; p_i = w_i / sum w).
// Kept set: {i : w_i >= theta}, theta the largest w value whose kept mass sum_{w_j >= theta} w_j still reaches
// top_p * sum_j w_j, i.e. the smallest set of most probable tokens with mass >= top_p (ties at theta all kept).
// theta is found exactly by bisection over the bit patterns of non-negative floats (ordered like their values)
// in [0, 1]: at most 30 steps, each a workgroup reduction of (kept mass, kept count) over the vocabulary; the
// search stops early once a single token lies between the bounds. top_p >= 1 keeps every token (theta = 0).
// The pick: the first token in id order at which the cumulative kept mass exceeds u * (total kept mass), with
// u in [0, 1) from the host; each thread owns a contiguous chunk of ids and a workgroup scan gives chunk offsets.
// Tokens with w = 0 are never chosen.
// Defines: SUBGROUP_OPS (subgroup reductions and scans; otherwise shared-memory trees, which need a power-of-two
// workgroup size).
#include "common.glsl"
#if SUBGROUP_OPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) writeonly buffer Token { uint out_token[]; };
layout(push_constant) uniform Push {
  uint vocab;
  float log2e_over_temperature;
  float top_p;
  float u;
} pc;

const uint THREADS = gl_WorkGroupSize.x;
const uint NONE = 0xffffffffu;
const uint ONE_BITS = 0x3f800000u;  // 1.0: the largest weight
shared vec2 partial[THREADS];
shared uint chosen;
shared uint last_kept;

// Weights must come out bit-identical in every pass: `precise` keeps the compiler from rewriting the arithmetic.
float weight(uint i, float max_logit) {
  precise float d = (logits[i] - max_logit) * pc.log2e_over_temperature;
  return exp2(d);
}

// Workgroup reductions: the same result in every thread. Call from uniform control flow.
vec2 workgroup_sum(vec2 v) {
#if SUBGROUP_OPS
  v = subgroupAdd(v);
  if (subgroupElect()) partial[gl_SubgroupID] = v;
  barrier();
  vec2 total = vec2(0.0);
  for (uint s = 0; s < gl_NumSubgroups; ++s) total += partial[s];
#else
  const uint lid = gl_LocalInvocationID.x;
  partial[lid] = v;
  barrier();
  for (uint half_size = THREADS / 2; half_size > 0; half_size >>= 1) {
    if (lid < half_size) partial[lid] += partial[lid + half_size];
    barrier();
  }
  const vec2 total = partial[0];
#endif
  barrier();  // partial is reused by the next call
  return total;
}

float workgroup_max(float v) {
#if SUBGROUP_OPS
  v = subgroupMax(v);
  if (subgroupElect()) partial[gl_SubgroupID].x = v;
  barrier();
  float result = partial[0].x;
  for (uint s = 1; s < gl_NumSubgroups; ++s) result = max(result, partial[s].x);
#else
  const uint lid = gl_LocalInvocationID.x;
  partial[lid].x = v;
  barrier();
  for (uint half_size = THREADS / 2; half_size > 0; half_size >>= 1) {
    if (lid < half_size) partial[lid].x = max(partial[lid].x, partial[lid + half_size].x);
    barrier();
  }
  const float result = partial[0].x;
#endif
  barrier();
  return result;
}

// Sum of v over the threads before this one (by local index); `total` gets the sum over all threads.
float workgroup_exclusive_scan(float v, out float total) {
  const uint lid = gl_LocalInvocationID.x;
#if SUBGROUP_OPS
  const float in_subgroup = subgroupExclusiveAdd(v);
  const float subgroup_total = subgroupAdd(v);
  if (subgroupElect()) partial[gl_SubgroupID].x = subgroup_total;
  barrier();
  float before = 0.0;
  total = 0.0;
  for (uint s = 0; s < gl_NumSubgroups; ++s) {
    if (s < gl_SubgroupID) before += partial[s].x;
    total += partial[s].x;
  }
  const float result = before + in_subgroup;
#else
  // Hillis-Steele inclusive scan.
  partial[lid].x = v;
  barrier();
  for (uint offset = 1; offset < THREADS; offset <<= 1) {
    const float add = lid >= offset ? partial[lid - offset].x : 0.0;
    barrier();
    partial[lid].x += add;
    barrier();
  }
  const float result = lid > 0 ? partial[lid - 1].x : 0.0;
  total = partial[THREADS - 1].x;
#endif
  barrier();
  return result;
}

void main() {
  const uint lid = gl_LocalInvocationID.x;

  float local_max = uintBitsToFloat(0xff800000u);  // -inf
  for (uint i = lid; i < pc.vocab; i += THREADS) local_max = max(local_max, logits[i]);
  const float max_logit = workgroup_max(local_max);

  float theta = 0.0;
  if (pc.top_p < 1.0) {
    vec2 local = vec2(0.0);
    for (uint i = lid; i < pc.vocab; i += THREADS) local.x += weight(i, max_logit);
    const float target = pc.top_p * workgroup_sum(local).x;
    // Invariant: mass(lo) >= target > mass(hi); count_lo / count_hi: tokens with w >= lo / >= hi.
    uint lo = 0u, hi = ONE_BITS + 1u;
    float count_lo = float(pc.vocab), count_hi = 0.0;
    while (hi - lo > 1u && count_lo - count_hi > 1.0) {
      const uint mid = lo + (hi - lo) / 2u;
      const float mid_value = uintBitsToFloat(mid);
      vec2 kept = vec2(0.0);  // (mass, count) of w >= mid_value
      for (uint i = lid; i < pc.vocab; i += THREADS) {
        const float w = weight(i, max_logit);
        if (w >= mid_value) kept += vec2(w, 1.0);
      }
      kept = workgroup_sum(kept);
      if (kept.x >= target) {
        lo = mid;
        count_lo = kept.y;
      } else {
        hi = mid;
        count_hi = kept.y;
      }
    }
    theta = uintBitsToFloat(lo);
  }

  // Pick: thread lid owns ids [begin, end).
  const uint chunk = ceil_div(pc.vocab, THREADS);
  const uint begin = min(lid * chunk, pc.vocab);
  const uint end = min(begin + chunk, pc.vocab);
  float chunk_mass = 0.0;
  uint first = NONE, last = NONE;
  for (uint i = begin; i < end; ++i) {
    const float w = weight(i, max_logit);
    if (w >= theta && w > 0.0) {
      chunk_mass += w;
      if (first == NONE) first = i;
      last = i;
    }
  }
  if (lid == 0) {
    chosen = NONE;
    last_kept = 0u;
  }
  float total_mass;
  const float mass_before = workgroup_exclusive_scan(chunk_mass, total_mass);  // its barriers publish the init
  const float target = pc.u * total_mass;

  // A chunk that starts past the target offers its first kept token; one that starts at or before it walks to
  // the first token where the running mass exceeds it. The lowest offer wins, so rounding differences between
  // the scan and the walk cannot skip the crossing.
  uint offer = NONE;
  if (mass_before > target) {
    offer = first;
  } else if (first != NONE) {
    float running = mass_before;
    for (uint i = first; i <= last; ++i) {
      const float w = weight(i, max_logit);
      if (w >= theta && w > 0.0) {
        running += w;
        if (running > target) {
          offer = i;
          break;
        }
      }
    }
  }
  if (offer != NONE) atomicMin(chosen, offer);
  if (last != NONE) atomicMax(last_kept, last);
  barrier();
  // No offer: u * mass rounded up to the whole mass; the last kept token is where the mass ends.
  if (lid == 0) out_token[0] = chosen != NONE ? chosen : last_kept;
}
