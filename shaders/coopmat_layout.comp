#version 450
// Which element of which invocation holds which (row, column) of a 16x16 subgroup matrix: the accumulator (f32)
// and the A operand (f16) types of the tensor-core prefill kernel. Each matrix is loaded from a table whose entry
// (row, column) holds 16 * row + column, and invocation l writes its element i as out[type * 256 + 8 * l + i]
// (type 0: accumulator, 1: A); out[512] and out[513] get the element counts. The register-softmax variant of
// attention_prefill_cm.comp needs the layout engine/ops/coopmat_layout.cpp checks for.
// One workgroup of one subgroup of 32 invocations. Compile-time: COOPMAT_KHR or COOPMAT_NV.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_GOOGLE_include_directive : require  // the KHR tools (glslang 13) ask for it
#include "coopmat.glsl"

layout(local_size_x = 32) in;
layout(std430, binding = 0) writeonly buffer Out { uint out_words[]; };

// uvec4 tables: the one element type both coopmat extensions load any matrix from.
shared uvec4 acc_table[64];  // 256 floats, row-major
shared uvec4 a_table[32];    // 256 halves, row-major

void main() {
  const uint l = gl_LocalInvocationID.x;
  [[unroll]] for (uint v = 0u; v < 2u; ++v) {
    const uint at = 2u * l + v;  // acc_table entry: floats 4 * at .. 4 * at + 3
    acc_table[at] = floatBitsToUint(vec4(4u * at, 4u * at + 1u, 4u * at + 2u, 4u * at + 3u));
  }
  uvec4 halves;
  [[unroll]] for (uint e = 0u; e < 4u; ++e) halves[e] = packFloat2x16(f16vec2(8u * l + 2u * e, 8u * l + 2u * e + 1u));
  a_table[l] = halves;
  barrier();
  MAT_ACC acc;
  MAT_A a;
  LOAD_ROW_MAJOR(acc, acc_table, 0u, 4u);
  LOAD_ROW_MAJOR(a, a_table, 0u, 2u);
  for (int i = 0; i < acc.length() && i < 8; ++i) out_words[8u * l + uint(i)] = uint(acc[i]);
  for (int i = 0; i < a.length() && i < 8; ++i) out_words[256u + 8u * l + uint(i)] = uint(float(a[i]));
  if (l == 0u) {
    out_words[512] = uint(acc.length());
    out_words[513] = uint(a.length());
  }
}
