#include "engine/quant/dequant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/half.hpp"

namespace ckv::quant {

namespace {

float half_at(const uint8_t* p) { return half_to_float(uint16_t(p[0] | (p[1] << 8))); }

void store_half(uint8_t* p, float value) {
  const uint16_t h = float_to_half(value);
  p[0] = uint8_t(h);
  p[1] = uint8_t(h >> 8);
}

// ---- one block each: 32 or 256 outputs ----

void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  for (int j = 0; j < 32; ++j) y[j] = float(int8_t(b[2 + j])) * d;
}

void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = float((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = float((qs[j] >> 4) - 8) * d;
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(qs[j] & 0x0F) * d + m;
    y[j + 16] = float(qs[j] >> 4) * d + m;
  }
}

// The 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of a Q4_K block.
void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dequant_q4_k(const uint8_t* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int c = 0; c < 4; ++c, q += 32, y += 64) {
    uint8_t sc, m;
    scale_min_k4(2 * c, scales, sc, m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(2 * c + 1, scales, sc, m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) y[l] = d1 * float(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) y[l + 32] = d2 * float(q[l] >> 4) - m2;
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {
  const float d = half_at(b + 208);
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = int((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

// ---- quantizers ----

void quantize_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_half(b, d);
  for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(std::roundf(x[j] * id)));
}

void quantize_q4_0(const float* x, uint8_t* b) {
  float amax = 0, max = 0;  // max keeps the sign of the largest magnitude
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -8;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_half(b, d);
  for (int j = 0; j < 16; ++j) {
    const uint8_t lo = uint8_t(std::min(15, int(int8_t(x[j] * id + 8.5f))));
    const uint8_t hi = uint8_t(std::min(15, int(int8_t(x[j + 16] * id + 8.5f))));
    b[2 + j] = uint8_t(lo | (hi << 4));
  }
}

void quantize_q4_1(const float* x, uint8_t* b) {
  float min = x[0], max = x[0];
  for (int j = 1; j < 32; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  const float d = (max - min) / 15;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_half(b, d);
  store_half(b + 2, min);
  for (int j = 0; j < 16; ++j) {
    const uint8_t lo = uint8_t(std::min(15, int(int8_t((x[j] - min) * id + 0.5f))));
    const uint8_t hi = uint8_t(std::min(15, int(int8_t((x[j + 16] - min) * id + 0.5f))));
    b[4 + j] = uint8_t(lo | (hi << 4));
  }
}

int clamp_round(float v, int lo, int hi) { return std::clamp(int(std::lround(v)), lo, hi); }

void quantize_q4_k(const float* x, uint8_t* b) {
  float scale[8], min[8];  // per sub-block: x ≈ scale * q - min with q in 0..15
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float lo = 0, hi = 0;
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    scale[j] = (hi - lo) / 15;
    min[j] = -lo;
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  const float d = round_to_half(max_scale / 63), dmin = round_to_half(max_min / 63);
  store_half(b, d);
  store_half(b + 2, dmin);
  uint8_t sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = uint8_t(d > 0 ? clamp_round(scale[j] / d, 0, 63) : 0);
    m[j] = uint8_t(dmin > 0 ? clamp_round(min[j] / dmin, 0, 63) : 0);
  }
  uint8_t* scales = b + 4;
  for (int j = 0; j < 4; ++j) {
    scales[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    scales[j + 4] = uint8_t(m[j] | ((m[j + 4] >> 4) << 6));
    scales[j + 8] = uint8_t((sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4));
  }
  uint8_t q[256];
  for (int j = 0; j < 8; ++j) {
    const float dd = d * sc[j], mm = dmin * m[j];
    for (int l = 0; l < 32; ++l) q[32 * j + l] = uint8_t(dd > 0 ? clamp_round((x[32 * j + l] + mm) / dd, 0, 15) : 0);
  }
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) b[16 + 32 * c + l] = uint8_t(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

void quantize_q6_k(const float* x, uint8_t* b) {
  float scale[16];  // per group of 16: x ≈ scale * q with q in -32..31
  float max_abs_scale = 0;
  for (int g = 0; g < 16; ++g) {
    float amax = 0;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * g + l]));
    scale[g] = amax / 31;
    max_abs_scale = std::max(max_abs_scale, scale[g]);
  }
  const float d = round_to_half(max_abs_scale / 127);
  std::memset(b, 0, 210);
  store_half(b + 208, d);
  for (int g = 0; g < 16; ++g) {
    const int sc = d > 0 ? clamp_round(scale[g] / d, -128, 127) : 0;
    b[192 + g] = uint8_t(int8_t(sc));
    const float dd = d * float(sc);
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * g + l;
      const int q = (dd != 0 ? clamp_round(x[e] / dd, -32, 31) : 0) + 32;  // 0..63
      const int half = e / 128, quad = (e % 128) / 32, pos = e % 32;
      b[64 * half + pos + (quad & 1) * 32] |= uint8_t((q & 0x0F) << ((quad >> 1) * 4));
      b[128 + 32 * half + pos] |= uint8_t((q >> 4) << (2 * quad));
    }
  }
}

constexpr size_t kX8Bytes = 8 * 18;  // one Q4_0_X8 super-block, the bytes of 8 Q4_0 blocks

void check_x8_sizes(size_t a, size_t b, const char* what) {
  if (a != b || a % kX8Bytes)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " and " + std::to_string(b) +
                                " bytes are not the same whole number of 144-byte super-blocks");
}

void check_count(GgmlType type, size_t count, size_t bytes_available, const char* what) {
  const BlockLayout layout = block_layout(type);
  if (count % layout.block_size)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(count) + " elements of " + type_name(type) +
                                " are not a multiple of its block size " + std::to_string(layout.block_size));
  const size_t need = count / layout.block_size * layout.block_bytes;
  if (bytes_available < need)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(count) + " elements of " + type_name(type) +
                                " need " + std::to_string(need) + " bytes, got " + std::to_string(bytes_available));
}

}  // namespace

void dequantize(GgmlType type, std::span<const uint8_t> data, std::span<float> out) {
  check_count(type, out.size(), data.size(), "dequantize");
  const uint8_t* src = data.data();
  float* y = out.data();
  const size_t n = out.size();
  switch (type) {
    case GgmlType::F32:
      std::memcpy(y, src, n * 4);
      return;
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) y[i] = half_at(src + 2 * i);
      return;
    case GgmlType::Q8_0:
      for (size_t i = 0; i < n / 32; ++i) dequant_q8_0(src + 34 * i, y + 32 * i);
      return;
    case GgmlType::Q4_0:
      for (size_t i = 0; i < n / 32; ++i) dequant_q4_0(src + 18 * i, y + 32 * i);
      return;
    case GgmlType::Q4_1:
      for (size_t i = 0; i < n / 32; ++i) dequant_q4_1(src + 20 * i, y + 32 * i);
      return;
    case GgmlType::Q4_K:
      for (size_t i = 0; i < n / 256; ++i) dequant_q4_k(src + 144 * i, y + 256 * i);
      return;
    case GgmlType::Q6_K:
      for (size_t i = 0; i < n / 256; ++i) dequant_q6_k(src + 210 * i, y + 256 * i);
      return;
    case GgmlType::Q4_0_X8:
      for (size_t i = 0; i < n / 256; ++i) {
        uint8_t blocks[kX8Bytes];
        unpack_q4_0_x8(std::span<const uint8_t>(src + kX8Bytes * i, kX8Bytes), blocks);
        for (size_t j = 0; j < 8; ++j) dequant_q4_0(blocks + 18 * j, y + 256 * i + 32 * j);
      }
      return;
    default:
      block_layout(type);  // throws, naming the type
  }
}

std::vector<float> dequantize(GgmlType type, std::span<const uint8_t> data, size_t count) {
  std::vector<float> out(count);
  dequantize(type, data, out);
  return out;
}

std::vector<float> dequantize_row(GgmlType type, std::span<const uint8_t> tensor, uint32_t k, uint64_t row) {
  const uint64_t bytes = row_bytes(type, k);
  if ((row + 1) * bytes > tensor.size())
    throw std::invalid_argument("dequantize_row: row " + std::to_string(row) + " of " + std::to_string(bytes) +
                                " bytes lies outside the " + std::to_string(tensor.size()) + "-byte tensor");
  return dequantize(type, tensor.subspan(row * bytes, bytes), k);
}

void repack_q4_0_x8(std::span<const uint8_t> q4_0, std::span<uint8_t> out) {
  check_x8_sizes(q4_0.size(), out.size(), "repack_q4_0_x8");
  for (size_t s = 0; s < q4_0.size(); s += kX8Bytes)
    for (size_t j = 0; j < 8; ++j) {
      const uint8_t* block = q4_0.data() + s + 18 * j;
      std::memcpy(out.data() + s + 16 * j, block + 2, 16);
      std::memcpy(out.data() + s + 128 + 2 * j, block, 2);
    }
}

void unpack_q4_0_x8(std::span<const uint8_t> x8, std::span<uint8_t> q4_0) {
  check_x8_sizes(x8.size(), q4_0.size(), "unpack_q4_0_x8");
  for (size_t s = 0; s < x8.size(); s += kX8Bytes)
    for (size_t j = 0; j < 8; ++j) {
      uint8_t* block = q4_0.data() + s + 18 * j;
      std::memcpy(block + 2, x8.data() + s + 16 * j, 16);
      std::memcpy(block, x8.data() + s + 128 + 2 * j, 2);
    }
}

std::vector<uint8_t> quantize(GgmlType type, std::span<const float> values) {
  if (type == GgmlType::Q4_0_X8) {
    check_count(type, values.size(), SIZE_MAX, "quantize");
    const std::vector<uint8_t> blocks = quantize(GgmlType::Q4_0, values);
    std::vector<uint8_t> out(blocks.size());
    repack_q4_0_x8(blocks, out);
    return out;
  }
  const BlockLayout layout = block_layout(type);
  check_count(type, values.size(), SIZE_MAX, "quantize");
  const size_t blocks = values.size() / layout.block_size;
  std::vector<uint8_t> out(blocks * layout.block_bytes, 0);
  const float* x = values.data();
  for (size_t i = 0; i < blocks; ++i) {
    uint8_t* b = out.data() + i * layout.block_bytes;
    const float* xb = x + i * layout.block_size;
    switch (type) {
      case GgmlType::F32: std::memcpy(b, xb, 4); break;
      case GgmlType::F16: store_half(b, *xb); break;
      case GgmlType::Q8_0: quantize_q8_0(xb, b); break;
      case GgmlType::Q4_0: quantize_q4_0(xb, b); break;
      case GgmlType::Q4_1: quantize_q4_1(xb, b); break;
      case GgmlType::Q4_K: quantize_q4_k(xb, b); break;
      case GgmlType::Q6_K: quantize_q6_k(xb, b); break;
      default: break;  // block_layout rejected it
    }
  }
  return out;
}

}  // namespace ckv::quant
