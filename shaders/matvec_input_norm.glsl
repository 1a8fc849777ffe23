// The RMS norm that NORM_INPUT matrix-vector kernels apply to each input vector on its way in: every workgroup
// computes the vector's mean square itself, so the product needs no norm pass. The includer defines THREADS
// (its local size), MAX_SUBGROUPS, USE_SUBGROUP_ADD, `x4` (the vectors as vec4) and `pc.k`, `pc.norm_eps`.
#ifndef CKV_MATVEC_INPUT_NORM_GLSL
#define CKV_MATVEC_INPUT_NORM_GLSL

#if USE_SUBGROUP_ADD
shared float norm_partial[MAX_SUBGROUPS];
#else
shared float norm_partial[THREADS];
#endif

// The workgroup's sum of v (every invocation gets it).
float workgroup_sum(float v) {
  const uint tid = gl_LocalInvocationID.x;
#if USE_SUBGROUP_ADD
  v = subgroupAdd(v);
  if (subgroupElect()) norm_partial[gl_SubgroupID] = v;
  barrier();
  float total = 0.0;
  for (uint p = 0u; p < gl_NumSubgroups; ++p) total += norm_partial[p];
#else
  norm_partial[tid] = v;
  barrier();
  for (uint half_ = THREADS / 2u; half_ > 0u; half_ /= 2u) {
    if (tid < half_) norm_partial[tid] += norm_partial[tid + half_];
    barrier();
  }
  const float total = norm_partial[0];
#endif
  barrier();
  return total;
}

// 1 / sqrt(mean(x²) + eps) of the pc.k values from vec4 index x_row of x4.
float input_inv_rms(uint x_row) {
  float squares = 0.0;
  for (uint i = gl_LocalInvocationID.x; i < pc.k / 4u; i += THREADS) {
    const vec4 v = x4[x_row + i];
    squares += dot(v, v);
  }
  return inversesqrt(workgroup_sum(squares) / float(pc.k) + pc.norm_eps);
}

#endif
