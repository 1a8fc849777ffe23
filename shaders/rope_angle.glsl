// The rotary angle of pair i at a position and the rotation itself, shared by rope.comp, the RoPE-fused KV store and
// the Q/K/V products' row-pair epilogue (matvec.comp ROW_PAIRS). The angle is fp32, as ggml
// computes it, theta = float(pos) * base^(-2i/rope_dim) * freq_scale, the frequency as exp2(i * log2_inv_freq_step)
// with log2_inv_freq_step = -2 log2(base) / rope_dim from the host. theta is reduced to [-pi, pi] (Cody-Waite,
// exact for |theta| < 2^18) before cos/sin, because Vulkan bounds their error only on that interval; what remains
// is the fp32 error of theta itself (see engine/ops/rope.hpp).
#ifndef CKV_ROPE_ANGLE_GLSL
#define CKV_ROPE_ANGLE_GLSL

// 2 pi = TWO_PI_HI + TWO_PI_LO; TWO_PI_HI has 8 significant bits, so k * TWO_PI_HI is exact for k < 2^16.
const float TWO_PI_HI = 6.28125;
const float TWO_PI_LO = 1.9353071795864769253e-3;
const float INV_TWO_PI = 0.15915494309189533577;

float reduce_angle(float theta) {
  const float k = round(theta * INV_TWO_PI);
  precise float r = theta - k * TWO_PI_HI;
  r = r - k * TWO_PI_LO;
  return r;
}

// (cos, sin) of pair i's angle at position pos.
vec2 rope_cos_sin(uint pos, uint i, float log2_inv_freq_step, float freq_scale) {
  const float inv_freq = exp2(float(i) * log2_inv_freq_step);
  const float theta = reduce_angle(float(pos) * inv_freq * freq_scale);
  return vec2(cos(theta), sin(theta));
}

// A pair (x0, x1) turned by the angle whose (cos, sin) is cs: (x0 cos - x1 sin, x0 sin + x1 cos).
vec2 rope_rotate(vec2 x, vec2 cs) { return vec2(x.x * cs.x - x.y * cs.y, x.x * cs.y + x.y * cs.x); }

#endif
