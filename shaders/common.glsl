// Shared declarations for every compute shader.
#ifndef CKV_COMMON_GLSL
#define CKV_COMMON_GLSL
#extension GL_EXT_control_flow_attributes : enable

// f16 values are stored packed, two per uint, so no shader needs the 16-bit storage feature.
vec2 unpack_f16x2(uint packed) { return unpackHalf2x16(packed); }
uint pack_f16x2(vec2 v) { return packHalf2x16(v); }

uint ceil_div(uint a, uint b) { return (a + b - 1u) / b; }
#endif
