#version 450
// Flash-decoding, pass 2 of 2: one workgroup per query head merges the chunks' partial results of
// attention_decode_split with the log-sum-exp rescaling: M = max m_c, L = sum l_c 2^(m_c - M),
// O = sum o_c 2^(m_c - M) / L. With WITH_PROBS it also turns the log2-domain logits the split pass stored into
// softmax probabilities, in place.
#include "common.glsl"

layout(local_size_x_id = 0) in;  // a power of two
layout(constant_id = 1) const uint HEAD_DIM = 128;
const uint THREADS = gl_WorkGroupSize.x;
const float NO_MAX = -3.0e38;

// [n_q][n_chunks] pairs (m, l), then o [n_q][n_chunks][HEAD_DIM].
layout(std430, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, binding = 1) writeonly buffer Output { float out_o[]; };  // [n_q][HEAD_DIM]
#if WITH_PROBS
layout(std430, binding = 2) buffer Probs { float probs[]; };  // [n_q][kv_length]
#endif

layout(push_constant) uniform Push {
  uint n_chunks;
  uint kv_length;
} pc;

shared float reduce_buf[THREADS];

float chunk_max(uint pair) { return partials[2 * pair]; }
float chunk_sum(uint pair) { return partials[2 * pair + 1]; }

void main() {
  const uint tid = gl_LocalInvocationIndex;
  const uint head = gl_WorkGroupID.x;
  const uint n_q = gl_NumWorkGroups.x;
  const uint pair0 = head * pc.n_chunks;

  float local_max = NO_MAX;
  for (uint c = tid; c < pc.n_chunks; c += THREADS) local_max = max(local_max, chunk_max(pair0 + c));
  reduce_buf[tid] = local_max;
  barrier();
  for (uint half_size = THREADS / 2; half_size > 0; half_size /= 2) {
    if (tid < half_size) reduce_buf[tid] = max(reduce_buf[tid], reduce_buf[tid + half_size]);
    barrier();
  }
  const float global_max = reduce_buf[0];
  barrier();

  float local_sum = 0.0;
  for (uint c = tid; c < pc.n_chunks; c += THREADS)
    local_sum += chunk_sum(pair0 + c) * exp2(chunk_max(pair0 + c) - global_max);
  reduce_buf[tid] = local_sum;
  barrier();
  for (uint half_size = THREADS / 2; half_size > 0; half_size /= 2) {
    if (tid < half_size) reduce_buf[tid] += reduce_buf[tid + half_size];
    barrier();
  }
  // The chunk holding the largest logit contributes at least 2^0 = 1, so the sum is >= 1.
  const float inv_sum = 1.0 / reduce_buf[0];

  const uint o_base = 2 * n_q * pc.n_chunks + pair0 * HEAD_DIM;
  for (uint d = tid; d < HEAD_DIM; d += THREADS) {
    float acc = 0.0;
    for (uint c = 0; c < pc.n_chunks; ++c)
      acc += partials[o_base + c * HEAD_DIM + d] * exp2(chunk_max(pair0 + c) - global_max);
    out_o[head * HEAD_DIM + d] = acc * inv_sum;
  }

#if WITH_PROBS
  for (uint j = tid; j < pc.kv_length; j += THREADS) {
    const uint i = head * pc.kv_length + j;
    probs[i] = exp2(probs[i] - global_max) * inv_sum;
  }
#endif
}
