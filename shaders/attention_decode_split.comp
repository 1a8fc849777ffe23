#version 450
// Flash-decoding, pass 1 of 2: one new query per query head against one chunk of one KV head's cache.
//
// Workgroup (chunk, kv head) reads every K/V row of its chunk once and serves all GROUP query heads that share
// the KV head. Its threads form teams of LANES threads; a team takes one key row at a time, each lane holding
// VECS_PER_LANE uvec4 of the row (interleaved, so a team reads contiguous bytes). A lane keeps its slice of the
// (pre-scaled) queries and of the output accumulators in registers, and every team runs its own online softmax
// (running max m, sum l, unnormalised o) with no barrier in the main loop. At the end the teams are merged and
// the chunk writes per query head: m and l (log2 domain) and o[HEAD_DIM], for the reduce pass.
//
// Defines: KV_F32 (f32 cache; default f16 packed in pairs), USE_SHUFFLE (lanes reduce dot products with
// subgroupShuffleXor; otherwise through shared memory), WITH_PROBS (also writes every key's log2-domain logit
// to the probabilities buffer; the reduce pass normalises it).
#include "common.glsl"
#if USE_SHUFFLE
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HEAD_DIM = 128;
layout(constant_id = 2) const uint GROUP = 1;          // query heads per KV head
layout(constant_id = 3) const uint LANES = 8;          // threads per key row, a power of two
layout(constant_id = 4) const uint ROWS_PER_TEAM = 2;  // key rows a team takes per step

#if KV_F32
const uint ELEMS_PER_VEC = 4;
#else
const uint ELEMS_PER_VEC = 8;
#endif
const uint VECS_PER_ROW = HEAD_DIM / ELEMS_PER_VEC;
const uint VECS_PER_LANE = VECS_PER_ROW / LANES;
const uint SLICE = VECS_PER_LANE * ELEMS_PER_VEC;  // head dims one lane owns
const uint THREADS = gl_WorkGroupSize.x;
const uint TEAMS = THREADS / LANES;
const uint N_LOGITS = ROWS_PER_TEAM * GROUP;
// Stands for "no key seen yet": finite, so that max/exp2 never meet inf - inf.
const float NO_MAX = -3.0e38;

layout(std430, binding = 0) readonly buffer Queries { vec4 q_vec[]; };
layout(std430, binding = 1) readonly buffer Keys { uvec4 k_vec[]; };
layout(std430, binding = 2) readonly buffer Values { uvec4 v_vec[]; };
// [n_q][n_chunks] pairs (m, l), then o [n_q][n_chunks][HEAD_DIM].
layout(std430, binding = 3) writeonly buffer Partials { float partials[]; };
#if WITH_PROBS
layout(std430, binding = 4) writeonly buffer Logits { float logits_out[]; };  // [n_q][kv_length]
#endif

layout(push_constant) uniform Push {
  uint kv_length;
  uint capacity;
  uint chunk_size;
  uint n_chunks;
  float logit_scale;  // softmax scale * log2(e)
} pc;

shared float team_m[TEAMS * GROUP];
shared float team_l[TEAMS * GROUP];
shared float chunk_m[GROUP];
shared float merge_buf[THREADS * ELEMS_PER_VEC];
#if !USE_SHUFFLE
shared float partial_dots[THREADS * N_LOGITS];
#endif

void unpack_vec(uvec4 w, out float x[ELEMS_PER_VEC]) {
#if KV_F32
  [[unroll]] for (uint e = 0; e < 4; ++e) x[e] = uintBitsToFloat(w[e]);
#else
  [[unroll]] for (uint e = 0; e < 4; ++e) {
    const vec2 pair = unpack_f16x2(w[e]);
    x[2 * e] = pair.x;
    x[2 * e + 1] = pair.y;
  }
#endif
}

// The thread's index with lanes of a team inside one subgroup (subgroups hold consecutive indices this way).
uint thread_index() {
#if USE_SHUFFLE
  return gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
#else
  return gl_LocalInvocationIndex;
#endif
}

void main() {
  const uint tid = thread_index();
  const uint lane = tid % LANES;
  const uint team = tid / LANES;
  const uint chunk = gl_WorkGroupID.x;
  const uint kv_head = gl_WorkGroupID.y;
  const uint head0 = kv_head * GROUP;

  // This lane's slice of every query of the group, scaled so that exp2(logit) is the softmax numerator.
  float q[GROUP * SLICE];
  [[unroll]] for (uint h = 0; h < GROUP; ++h) {
    [[unroll]] for (uint j = 0; j < VECS_PER_LANE; ++j) {
      const uint dim0 = (lane + LANES * j) * ELEMS_PER_VEC;
      [[unroll]] for (uint e = 0; e < ELEMS_PER_VEC; e += 4) {
        const vec4 x = q_vec[((head0 + h) * HEAD_DIM + dim0 + e) / 4] * pc.logit_scale;
        [[unroll]] for (uint t = 0; t < 4; ++t) q[(h * VECS_PER_LANE + j) * ELEMS_PER_VEC + e + t] = x[t];
      }
    }
  }

  float m[GROUP], l[GROUP], o[GROUP * SLICE];
  [[unroll]] for (uint h = 0; h < GROUP; ++h) {
    m[h] = NO_MAX;
    l[h] = 0.0;
  }
  [[unroll]] for (uint i = 0; i < GROUP * SLICE; ++i) o[i] = 0.0;

  const uint chunk_start = chunk * pc.chunk_size;
  const uint chunk_end = max(chunk_start, min(chunk_start + pc.chunk_size, pc.kv_length));
  const uint row_base = kv_head * pc.capacity;
  const uint rows_per_step = TEAMS * ROWS_PER_TEAM;

  // The loop bounds are uniform over the workgroup (the shared-memory reduction has barriers inside).
  for (uint step0 = chunk_start; step0 < chunk_end; step0 += rows_per_step) {
    bool valid[ROWS_PER_TEAM];
    uvec4 kw[ROWS_PER_TEAM * VECS_PER_LANE], vw[ROWS_PER_TEAM * VECS_PER_LANE];
    // Issue every load of the step first; rows past the chunk (and the cache's unused rows) are never read.
    [[unroll]] for (uint b = 0; b < ROWS_PER_TEAM; ++b) {
      const uint row = step0 + b * TEAMS + team;
      valid[b] = row < chunk_end;
      const uint vec0 = (row_base + row) * VECS_PER_ROW + lane;
      [[unroll]] for (uint j = 0; j < VECS_PER_LANE; ++j) {
        kw[b * VECS_PER_LANE + j] = uvec4(0);
        vw[b * VECS_PER_LANE + j] = uvec4(0);
        if (valid[b]) {
          kw[b * VECS_PER_LANE + j] = k_vec[vec0 + LANES * j];
          vw[b * VECS_PER_LANE + j] = v_vec[vec0 + LANES * j];
        }
      }
    }

    float s[N_LOGITS];  // s[b * GROUP + h]: logit of row b for query head h
    [[unroll]] for (uint i = 0; i < N_LOGITS; ++i) s[i] = 0.0;
    [[unroll]] for (uint b = 0; b < ROWS_PER_TEAM; ++b) {
      [[unroll]] for (uint j = 0; j < VECS_PER_LANE; ++j) {
        float kf[ELEMS_PER_VEC];
        unpack_vec(kw[b * VECS_PER_LANE + j], kf);
        [[unroll]] for (uint h = 0; h < GROUP; ++h) {
          float dot_part = 0.0;
          [[unroll]] for (uint e = 0; e < ELEMS_PER_VEC; ++e)
            dot_part = fma(q[(h * VECS_PER_LANE + j) * ELEMS_PER_VEC + e], kf[e], dot_part);
          s[b * GROUP + h] += dot_part;
        }
      }
    }

#if USE_SHUFFLE
    [[unroll]] for (uint mask = 1; mask < LANES; mask <<= 1) {
      [[unroll]] for (uint i = 0; i < N_LOGITS; ++i) s[i] += subgroupShuffleXor(s[i], mask);
    }
#else
    barrier();  // the previous step's readers are done
    [[unroll]] for (uint i = 0; i < N_LOGITS; ++i) partial_dots[tid * N_LOGITS + i] = s[i];
    barrier();
    [[unroll]] for (uint i = 0; i < N_LOGITS; ++i) s[i] = 0.0;
    [[dont_unroll]] for (uint c = 0; c < LANES; ++c) {
      [[unroll]] for (uint i = 0; i < N_LOGITS; ++i) s[i] += partial_dots[(team * LANES + c) * N_LOGITS + i];
    }
#endif

#if WITH_PROBS
    if (lane == 0) {
      [[unroll]] for (uint b = 0; b < ROWS_PER_TEAM; ++b) {
        if (valid[b]) {
          const uint row = step0 + b * TEAMS + team;
          [[unroll]] for (uint h = 0; h < GROUP; ++h) logits_out[(head0 + h) * pc.kv_length + row] = s[b * GROUP + h];
        }
      }
    }
#endif

    // Online softmax: rescale what the team has so far to the new running max, then add this step's rows.
    [[unroll]] for (uint h = 0; h < GROUP; ++h) {
      float new_max = m[h];
      [[unroll]] for (uint b = 0; b < ROWS_PER_TEAM; ++b)
        if (valid[b]) new_max = max(new_max, s[b * GROUP + h]);
      const float alpha = exp2(m[h] - new_max);
      m[h] = new_max;
      l[h] *= alpha;
      [[unroll]] for (uint i = 0; i < SLICE; ++i) o[h * SLICE + i] *= alpha;
      [[unroll]] for (uint b = 0; b < ROWS_PER_TEAM; ++b) {
        const float p = valid[b] ? exp2(s[b * GROUP + h] - new_max) : 0.0;
        s[b * GROUP + h] = p;
        l[h] += p;
      }
    }
    [[unroll]] for (uint b = 0; b < ROWS_PER_TEAM; ++b) {
      [[unroll]] for (uint j = 0; j < VECS_PER_LANE; ++j) {
        float vf[ELEMS_PER_VEC];
        unpack_vec(vw[b * VECS_PER_LANE + j], vf);
        [[unroll]] for (uint h = 0; h < GROUP; ++h) {
          const float p = s[b * GROUP + h];
          const uint at = (h * VECS_PER_LANE + j) * ELEMS_PER_VEC;
          [[unroll]] for (uint e = 0; e < ELEMS_PER_VEC; ++e) o[at + e] = fma(p, vf[e], o[at + e]);
        }
      }
    }
  }

  // Merge the teams: the chunk's max and sum per query head...
  if (lane == 0) {
    [[unroll]] for (uint h = 0; h < GROUP; ++h) {
      team_m[team * GROUP + h] = m[h];
      team_l[team * GROUP + h] = l[h];
    }
  }
  barrier();
  const uint n_q = gl_NumWorkGroups.y * GROUP;
  if (tid < GROUP) {
    float chunk_max = NO_MAX;
    for (uint t = 0; t < TEAMS; ++t) chunk_max = max(chunk_max, team_m[t * GROUP + tid]);
    float chunk_sum = 0.0;
    for (uint t = 0; t < TEAMS; ++t) chunk_sum += team_l[t * GROUP + tid] * exp2(team_m[t * GROUP + tid] - chunk_max);
    chunk_m[tid] = chunk_max;
    const uint pair = (head0 + tid) * pc.n_chunks + chunk;
    partials[2 * pair] = chunk_max;
    partials[2 * pair + 1] = chunk_sum;
  }
  barrier();
  // ...then the outputs, rescaled to the chunk max and summed over the teams one piece (ELEMS_PER_VEC dims of one
  // head) of every lane's slice at a time. The piece loop stays a loop: the barriers inside it appear once in the
  // code (drivers that implement barriers by splitting the shader compile it much faster), and the register
  // array is still indexed with constants only.
  [[unroll]] for (uint h = 0; h < GROUP; ++h) {
    const float factor = exp2(m[h] - chunk_m[h]);
    [[unroll]] for (uint i = 0; i < SLICE; ++i) o[h * SLICE + i] *= factor;
  }
  const uint o_base = 2 * n_q * pc.n_chunks;
  const uint n_pieces = GROUP * VECS_PER_LANE;
  [[dont_unroll]] for (uint piece = 0; piece < n_pieces; ++piece) {
    [[unroll]] for (uint candidate = 0; candidate < n_pieces; ++candidate) {
      if (candidate == piece) {
        [[unroll]] for (uint e = 0; e < ELEMS_PER_VEC; ++e)
          merge_buf[tid * ELEMS_PER_VEC + e] = o[candidate * ELEMS_PER_VEC + e];
      }
    }
    barrier();
    const uint h = piece / VECS_PER_LANE, j = piece % VECS_PER_LANE;
    for (uint t = tid; t < LANES * ELEMS_PER_VEC; t += THREADS) {
      const uint c = t / ELEMS_PER_VEC, e = t % ELEMS_PER_VEC;
      float total = 0.0;
      for (uint tm = 0; tm < TEAMS; ++tm) total += merge_buf[(tm * LANES + c) * ELEMS_PER_VEC + e];
      const uint dim = (c + LANES * j) * ELEMS_PER_VEC + e;
      partials[o_base + ((head0 + h) * pc.n_chunks + chunk) * HEAD_DIM + dim] = total;
    }
    barrier();
  }
}
