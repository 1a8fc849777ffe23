#version 450
// out[t][:] = dequantized W row ids[t]: the embedding lookup, for one row range (piece) of W per dispatch.
//
// Workgroup row y = token; its threads walk the row in groups of 8 elements (F32/F16 rows may end in one of 4). Tokens whose id lies outside the
// piece are left to the piece that holds them; ids past the whole weight are written as zeros by the dispatch
// that has write_unknown set.
//
// Defines: one WTYPE_* (see quant_types.glsl).
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer Outputs { vec4 out4[]; };

layout(push_constant) uniform Push {
  uint k;
  uint n;              // rows in this piece
  uint w_base;         // byte offset of the piece's first row in the weight binding
  uint row_bytes;
  uint first_row;      // the piece's first row in the whole weight
  uint total_rows;     // rows of the whole weight
  uint token0;         // token of workgroup row 0
  uint write_unknown;  // 1: write zeros for ids >= total_rows
} pc;

#include "quant_types.glsl"

void main() {
  const uint tok = pc.token0 + gl_WorkGroupID.y;
  const uint id = ids[tok];
  const bool mine = id >= pc.first_row && id - pc.first_row < pc.n;
  const bool unknown = id >= pc.total_rows && pc.write_unknown != 0u;
  if (!mine && !unknown) return;
  const uint row_off = pc.w_base + (id - pc.first_row) * pc.row_bytes;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint g = gl_GlobalInvocationID.x; g < (pc.k + 7u) / 8u; g += stride) {
    vec4 lo = vec4(0.0), hi = vec4(0.0);
    const uint o = (tok * pc.k) / 4u + 2u * g;
#if PLAIN_WTYPE
    if (8u * g + 8u > pc.k) {  // an F32/F16 row of 8m + 4 elements ends in half a group
      if (mine) lo = plain_vec4(row_off, 2u * g);
      out4[o] = lo;
      continue;
    }
#endif
    if (mine) dequant8(row_off, 8u * g, lo, hi);
    out4[o] = lo;
    out4[o + 1u] = hi;
  }
}
