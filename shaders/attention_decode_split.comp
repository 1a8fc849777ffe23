#version 450
// Flash-decoding, pass 1 of 2: one new query per query head against one chunk of one KV head's cache.
//
// Workgroup (chunk, kv head) reads every K/V row of its chunk once and serves all GROUP query heads that share
// the KV head. A chunk is either chunk_size consecutive rows or (interleaved) every n_chunks-th step of rows: then
// the workgroups of a head read neighbouring rows at any moment, instead of hundreds of streams a power of two
// apart, which can pile onto a few memory channels depending on where the buffer landed physically. Its threads form teams of LANES threads; a team takes ROWS_PER_TEAM key rows per step, each lane
// holding VECS_PER_LANE 16-byte vectors of a row (interleaved, so a team reads contiguous bytes). A lane keeps
// its slice of the (pre-scaled) queries and of the output accumulators in registers, and every team runs its own
// online softmax (running max m, sum l, unnormalised o) with no barrier in the main loop. At the end the teams
// are merged and the chunk writes per query head: m and l (log2 domain) and o[HEAD_DIM], for the reduce pass.
//
// Register arrays have fixed sizes (MAX_*) and are walked by single loops of fixed trip count, which glslang's
// optimizer unrolls: every index is then a literal and the spec-constant guards fold away when the pipeline is
// specialised. Loops bounded by spec constants (or nested loops) leave dynamically indexed arrays, which NVIDIA's
// compiler places in local memory.
//
// Defines: KV_F32 (f32 cache; default f16 packed in pairs), USE_SHUFFLE (lanes reduce dot products with
// subgroupShuffleXor; otherwise through shared memory), WITH_PROBS (also writes every key's log2-domain logit
// to the probabilities buffer; the reduce pass normalises it), MERGE_LAST (no reduce pass: each workgroup counts
// itself done on its KV head's arrival counter, and the last one of the head merges every chunk's partials into
// the group's outputs, then sets the counter back to 0 for the next dispatch).
#include "common.glsl"
#if USE_SHUFFLE
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HEAD_DIM = 128;
layout(constant_id = 2) const uint GROUP = 1;          // query heads per KV head, <= MAX_GROUP
layout(constant_id = 3) const uint LANES = 8;          // threads per key row, dividing VECS_PER_ROW
layout(constant_id = 4) const uint ROWS_PER_TEAM = 2;  // key rows a team takes per step, <= MAX_ROWS

const uint MAX_GROUP = 8;
const uint MAX_VPL = 8;   // 16-byte vectors of a row per lane
const uint MAX_ROWS = 4;
#if KV_F32
const uint VEC4_PER_VEC = 1;  // vec4 of values in one 16-byte vector
#else
const uint VEC4_PER_VEC = 2;
#endif
const uint ELEMS_PER_VEC = 4 * VEC4_PER_VEC;
const uint VECS_PER_ROW = HEAD_DIM / ELEMS_PER_VEC;
const uint VECS_PER_LANE = VECS_PER_ROW / LANES;
const uint THREADS = gl_WorkGroupSize.x;
const uint TEAMS = THREADS / LANES;
const uint N_LOGITS = ROWS_PER_TEAM * GROUP;
// Fixed register-array sizes; index (h * MAX_VPL + j) * VEC4_PER_VEC + e for head h, vector j, vec4 e.
const uint QO_VEC4 = MAX_GROUP * MAX_VPL * VEC4_PER_VEC;
const uint MAX_LOGITS = MAX_ROWS * MAX_GROUP;  // s[b * MAX_GROUP + h]
const uint MAX_LOADS = MAX_ROWS * MAX_VPL;     // kw[b * MAX_VPL + j]
// Stands for "no key seen yet": finite, so that max/exp2 never meet inf - inf.
const float NO_MAX = -3.0e38;

layout(std430, binding = 0) readonly buffer Queries { vec4 q_vec[]; };
layout(std430, binding = 1) readonly buffer Keys { uvec4 k_vec[]; };
layout(std430, binding = 2) readonly buffer Values { uvec4 v_vec[]; };
// [n_q][n_chunks] pairs (m, l), then o [n_q][n_chunks][HEAD_DIM].
#if MERGE_LAST
// Coherent: the merging workgroup reads what the others wrote.
layout(std430, binding = 3) coherent buffer Partials { float partials[]; };
layout(std430, binding = 4) writeonly buffer Output { float out_o[]; };  // [n_q][HEAD_DIM]
layout(std430, binding = 5) buffer Arrivals { uint arrivals[]; };       // [n_kv], 0 between dispatches
#else
layout(std430, binding = 3) writeonly buffer Partials { float partials[]; };
#endif
#if WITH_PROBS
layout(std430, binding = 4) writeonly buffer Logits { float logits_out[]; };  // [n_q][kv_length]
#endif

layout(push_constant) uniform Push {
  uint kv_length;
  uint capacity;
  uint chunk_size;
  uint n_chunks;
  float logit_scale;  // softmax scale * log2(e)
  uint interleaved;   // 1: chunk c takes steps c, c + n_chunks, ... (chunk_size only sets n_chunks)
} pc;

shared float team_m[TEAMS * GROUP];
shared float team_l[TEAMS * GROUP];
shared float chunk_m[GROUP];
#if MERGE_LAST
const uint MERGE_PARTS = 32;  // threads per head that scan the chunks' maxima and sums
const uint MERGE_UNROLL = 8;  // chunks whose partial outputs one merging thread loads before summing
shared float head_inv_sum[GROUP];
shared float merge_part[THREADS];
shared bool merges;
#endif
shared vec4 merge_buf[THREADS * VEC4_PER_VEC];
#if !USE_SHUFFLE
shared float partial_dots[THREADS * N_LOGITS];
#endif

// vec4 number e (< VEC4_PER_VEC) of a 16-byte vector.
vec4 unpack_vec4(uvec4 w, uint e) {
#if KV_F32
  return uintBitsToFloat(w);
#else
  return e == 0u ? vec4(unpack_f16x2(w.x), unpack_f16x2(w.y)) : vec4(unpack_f16x2(w.z), unpack_f16x2(w.w));
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

bool used_qo(uint i) {
  const uint h = i / (MAX_VPL * VEC4_PER_VEC), j = (i / VEC4_PER_VEC) % MAX_VPL;
  return h < GROUP && j < VECS_PER_LANE;
}

void main() {
  const uint tid = thread_index();
  const uint lane = tid % LANES;
  const uint team = tid / LANES;
  const uint chunk = gl_WorkGroupID.x;
  const uint kv_head = gl_WorkGroupID.y;
  const uint head0 = kv_head * GROUP;

  // This lane's slice of every query of the group, scaled so that exp2(logit) is the softmax numerator, and the
  // output accumulators.
  vec4 q[QO_VEC4], o[QO_VEC4];
  [[unroll]] for (uint i = 0; i < QO_VEC4; ++i) {
    o[i] = vec4(0.0);
    q[i] = vec4(0.0);
    if (used_qo(i)) {
      const uint h = i / (MAX_VPL * VEC4_PER_VEC), j = (i / VEC4_PER_VEC) % MAX_VPL, e = i % VEC4_PER_VEC;
      const uint dim0 = (lane + LANES * j) * ELEMS_PER_VEC + 4 * e;
      q[i] = q_vec[((head0 + h) * HEAD_DIM + dim0) / 4] * pc.logit_scale;
    }
  }
  float m[MAX_GROUP], l[MAX_GROUP];
  [[unroll]] for (uint h = 0; h < MAX_GROUP; ++h) {
    m[h] = NO_MAX;
    l[h] = 0.0;
  }

  const uint row_base = kv_head * pc.capacity;
  const uint rows_per_step = TEAMS * ROWS_PER_TEAM;
  uint first, stride, end;
  if (pc.interleaved != 0u) {
    first = chunk * rows_per_step;
    stride = pc.n_chunks * rows_per_step;
    end = pc.kv_length;
  } else {
    first = chunk * pc.chunk_size;
    stride = rows_per_step;
    end = max(first, min(first + pc.chunk_size, pc.kv_length));
  }

  // The loop bounds are uniform over the workgroup (the shared-memory reduction has barriers inside).
  for (uint step0 = first; step0 < end; step0 += stride) {
    const uint step_end = min(step0 + rows_per_step, end);
    // Every load of the step is issued first and unconditionally: rows past the step re-read its last row
    // (inside the cache's valid rows) and get probability 0 below.
    bool valid[MAX_ROWS];
    uvec4 kw[MAX_LOADS], vw[MAX_LOADS];
    [[unroll]] for (uint b = 0; b < MAX_ROWS; ++b) valid[b] = b < ROWS_PER_TEAM && step0 + b * TEAMS + team < step_end;
    [[unroll]] for (uint i = 0; i < MAX_LOADS; ++i) {
      const uint b = i / MAX_VPL, j = i % MAX_VPL;
      kw[i] = uvec4(0);
      vw[i] = uvec4(0);
      if (b < ROWS_PER_TEAM && j < VECS_PER_LANE) {
        const uint row = min(step0 + b * TEAMS + team, step_end - 1);
        const uint at = (row_base + row) * VECS_PER_ROW + lane + LANES * j;
        kw[i] = k_vec[at];
        vw[i] = v_vec[at];
      }
    }

    float s[MAX_LOGITS];
    [[unroll]] for (uint i = 0; i < MAX_LOGITS; ++i) s[i] = 0.0;
    [[unroll]] for (uint i = 0; i < MAX_ROWS * MAX_VPL * MAX_GROUP; ++i) {
      const uint b = i / (MAX_VPL * MAX_GROUP), j = (i / MAX_GROUP) % MAX_VPL, h = i % MAX_GROUP;
      if (b < ROWS_PER_TEAM && j < VECS_PER_LANE && h < GROUP) {
        const uint qi = (h * MAX_VPL + j) * VEC4_PER_VEC;
        float part = dot(q[qi], unpack_vec4(kw[b * MAX_VPL + j], 0));
        if (VEC4_PER_VEC == 2) part += dot(q[qi + VEC4_PER_VEC - 1], unpack_vec4(kw[b * MAX_VPL + j], 1));
        s[b * MAX_GROUP + h] += part;
      }
    }

#if USE_SHUFFLE
    [[unroll]] for (uint i = 0; i < 6 * MAX_LOGITS; ++i) {  // masks 1 .. 32
      const uint mask = 1u << (i / MAX_LOGITS), x = i % MAX_LOGITS;
      if (mask < LANES && x / MAX_GROUP < ROWS_PER_TEAM && x % MAX_GROUP < GROUP) s[x] += subgroupShuffleXor(s[x], mask);
    }
#else
    barrier();  // the previous step's readers are done
    [[unroll]] for (uint x = 0; x < MAX_LOGITS; ++x) {
      const uint b = x / MAX_GROUP, h = x % MAX_GROUP;
      if (b < ROWS_PER_TEAM && h < GROUP) partial_dots[tid * N_LOGITS + b * GROUP + h] = s[x];
    }
    barrier();
    [[unroll]] for (uint x = 0; x < MAX_LOGITS; ++x) s[x] = 0.0;
    [[dont_unroll]] for (uint c = 0; c < LANES; ++c) {
      [[unroll]] for (uint x = 0; x < MAX_LOGITS; ++x) {
        const uint b = x / MAX_GROUP, h = x % MAX_GROUP;
        if (b < ROWS_PER_TEAM && h < GROUP) s[x] += partial_dots[(team * LANES + c) * N_LOGITS + b * GROUP + h];
      }
    }
#endif

#if WITH_PROBS
    if (lane == 0) {
      [[unroll]] for (uint x = 0; x < MAX_LOGITS; ++x) {
        const uint b = x / MAX_GROUP, h = x % MAX_GROUP;
        if (h < GROUP && valid[b]) logits_out[(head0 + h) * pc.kv_length + step0 + b * TEAMS + team] = s[x];
      }
    }
#endif

    // Online softmax: rescale what the team has so far to the new running max, then add this step's rows.
    float new_max[MAX_GROUP];
    [[unroll]] for (uint h = 0; h < MAX_GROUP; ++h) new_max[h] = m[h];
    [[unroll]] for (uint x = 0; x < MAX_LOGITS; ++x) {
      const uint b = x / MAX_GROUP, h = x % MAX_GROUP;
      if (h < GROUP && valid[b]) new_max[h] = max(new_max[h], s[x]);
    }
    float alpha[MAX_GROUP];
    [[unroll]] for (uint h = 0; h < MAX_GROUP; ++h) {
      alpha[h] = exp2(m[h] - new_max[h]);
      m[h] = new_max[h];
      l[h] *= alpha[h];
    }
    [[unroll]] for (uint i = 0; i < QO_VEC4; ++i) {
      if (used_qo(i)) o[i] *= alpha[i / (MAX_VPL * VEC4_PER_VEC)];
    }
    [[unroll]] for (uint x = 0; x < MAX_LOGITS; ++x) {
      const uint b = x / MAX_GROUP, h = x % MAX_GROUP;
      const float p = h < GROUP && valid[b] ? exp2(s[x] - new_max[h]) : 0.0;
      s[x] = p;
      l[h] += p;
    }
    [[unroll]] for (uint i = 0; i < MAX_ROWS * MAX_VPL * MAX_GROUP; ++i) {
      const uint b = i / (MAX_VPL * MAX_GROUP), j = (i / MAX_GROUP) % MAX_VPL, h = i % MAX_GROUP;
      if (b < ROWS_PER_TEAM && j < VECS_PER_LANE && h < GROUP) {
        const uint oi = (h * MAX_VPL + j) * VEC4_PER_VEC;
        const float p = s[b * MAX_GROUP + h];
        o[oi] = fma(vec4(p), unpack_vec4(vw[b * MAX_VPL + j], 0), o[oi]);
        if (VEC4_PER_VEC == 2)
          o[oi + VEC4_PER_VEC - 1] = fma(vec4(p), unpack_vec4(vw[b * MAX_VPL + j], 1), o[oi + VEC4_PER_VEC - 1]);
      }
    }
  }

  // Merge the teams: the chunk's max and sum per query head...
  if (lane == 0) {
    [[unroll]] for (uint h = 0; h < MAX_GROUP; ++h) {
      if (h < GROUP) {
        team_m[team * GROUP + h] = m[h];
        team_l[team * GROUP + h] = l[h];
      }
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
  // ...then the outputs, rescaled to the chunk max and summed over the teams one piece (one 16-byte vector of one
  // head) of every lane's slice at a time. The piece loop stays a loop: the barriers inside it appear once in the
  // code (drivers that implement barriers by splitting the shader compile it much faster).
  [[unroll]] for (uint i = 0; i < QO_VEC4; ++i) {
    const uint h = i / (MAX_VPL * VEC4_PER_VEC);
    if (used_qo(i)) o[i] *= exp2(m[h] - chunk_m[h]);
  }
  const uint o_base = 2 * n_q * pc.n_chunks;
  const uint n_pieces = GROUP * VECS_PER_LANE;
  [[dont_unroll]] for (uint piece = 0; piece < n_pieces; ++piece) {
    const uint h = piece / VECS_PER_LANE, j = piece % VECS_PER_LANE;
    [[unroll]] for (uint i = 0; i < QO_VEC4; ++i) {
      const uint ih = i / (MAX_VPL * VEC4_PER_VEC), ij = (i / VEC4_PER_VEC) % MAX_VPL;
      if (used_qo(i) && ih == h && ij == j) merge_buf[tid * VEC4_PER_VEC + i % VEC4_PER_VEC] = o[i];
    }
    barrier();
    for (uint t = tid; t < LANES * ELEMS_PER_VEC; t += THREADS) {
      const uint c = t / ELEMS_PER_VEC, e = t % ELEMS_PER_VEC;
      float total = 0.0;
      for (uint tm = 0; tm < TEAMS; ++tm) total += merge_buf[(tm * LANES + c) * VEC4_PER_VEC + e / 4][e % 4];
      const uint dim = (c + LANES * j) * ELEMS_PER_VEC + e;
      partials[o_base + ((head0 + h) * pc.n_chunks + chunk) * HEAD_DIM + dim] = total;
    }
    barrier();
  }
#if MERGE_LAST
  // Release this workgroup's partials, then count it in; the last of the head's n_chunks workgroups merges.
  memoryBarrierBuffer();
  barrier();
  if (tid == 0u) {
    merges = atomicAdd(arrivals[kv_head], 1u) == pc.n_chunks - 1u;
    if (merges) atomicExchange(arrivals[kv_head], 0u);  // every workgroup of the head has counted itself
  }
  barrier();
  if (!merges) return;  // uniform: `merges` is shared
  memoryBarrierBuffer();
  // The reduce pass's merge for the group's heads: M = max m_c, L = sum l_c 2^(m_c - M),
  // O = sum o_c 2^(m_c - M) / L. M and L: MERGE_PARTS threads per head take every MERGE_PARTS-th chunk, then one
  // thread per head combines their results; O: one thread per output element, MERGE_UNROLL chunks' loads in flight.
  const uint parts = max(1u, min(MERGE_PARTS, THREADS / GROUP));
  const uint h_part = tid / parts, part = tid % parts;
  const uint part_pair0 = (head0 + h_part) * pc.n_chunks;
  if (h_part < GROUP) {
    float part_max = NO_MAX;
    for (uint c = part; c < pc.n_chunks; c += parts) part_max = max(part_max, partials[2u * (part_pair0 + c)]);
    merge_part[tid] = part_max;
  }
  barrier();
  if (tid < GROUP) {
    float head_max = NO_MAX;
    for (uint p = 0u; p < parts; ++p) head_max = max(head_max, merge_part[tid * parts + p]);
    chunk_m[tid] = head_max;
  }
  barrier();
  if (h_part < GROUP) {
    float part_sum = 0.0;
    for (uint c = part; c < pc.n_chunks; c += parts)
      part_sum += partials[2u * (part_pair0 + c) + 1u] * exp2(partials[2u * (part_pair0 + c)] - chunk_m[h_part]);
    merge_part[tid] = part_sum;
  }
  barrier();
  if (tid < GROUP) {
    float head_sum = 0.0;
    for (uint p = 0u; p < parts; ++p) head_sum += merge_part[tid * parts + p];
    head_inv_sum[tid] = 1.0 / head_sum;  // >= 1: the chunk holding the largest logit contributes 2^0
  }
  barrier();
  for (uint t = tid; t < GROUP * HEAD_DIM; t += THREADS) {
    const uint h = t / HEAD_DIM, dim = t % HEAD_DIM;
    const uint pair0 = (head0 + h) * pc.n_chunks;
    float acc = 0.0;
    uint c = 0u;
    for (; c + MERGE_UNROLL <= pc.n_chunks; c += MERGE_UNROLL) {
      float o_c[MERGE_UNROLL], m_c[MERGE_UNROLL];
      [[unroll]] for (uint u = 0u; u < MERGE_UNROLL; ++u) {
        o_c[u] = partials[o_base + (pair0 + c + u) * HEAD_DIM + dim];
        m_c[u] = partials[2u * (pair0 + c + u)];
      }
      [[unroll]] for (uint u = 0u; u < MERGE_UNROLL; ++u) acc += o_c[u] * exp2(m_c[u] - chunk_m[h]);
    }
    for (; c < pc.n_chunks; ++c)
      acc += partials[o_base + (pair0 + c) * HEAD_DIM + dim] * exp2(partials[2u * (pair0 + c)] - chunk_m[h]);
    out_o[(head0 + h) * HEAD_DIM + dim] = acc * head_inv_sum[h];
  }
#endif
}
