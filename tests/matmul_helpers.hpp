// Test weights in every ggml type the matrix kernels read, with their CPU-dequantized values, and the double
// precision reference of Y = W · X. Shared by the matmul and get_rows tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/half.hpp"
#include "engine/quant/dequant.hpp"

namespace ckv::test {

inline const std::vector<GgmlType>& kernel_types() {
  static const std::vector<GgmlType> types = {GgmlType::F32,  GgmlType::F16,  GgmlType::Q8_0, GgmlType::Q4_0,
                                              GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::Q6_K};
  return types;
}

// The ggml types and the engine's own device layouts (Q4_0_X8): what the matrix and get_rows kernels read.
inline const std::vector<GgmlType>& device_kernel_types() {
  static const std::vector<GgmlType> types = [] {
    std::vector<GgmlType> t = kernel_types();
    t.push_back(GgmlType::Q4_0_X8);
    return t;
  }();
  return types;
}

inline std::string type_label(GgmlType type) { return quant::type_name(type); }

enum class WeightSource {
  Quantized,    // random normal values run through the CPU quantizer
  RandomBytes,  // uniformly random block bytes with finite, moderate f16 scales: every quant bit pattern occurs
};

struct TestWeight {
  GgmlType type = GgmlType::F32;
  uint32_t k = 0, n = 0;
  std::vector<uint8_t> bytes;  // the ggml tensor, padded to whole words
  std::vector<float> values;   // CPU dequantization, [n][k]
};

// Byte offsets of the f16 scale fields inside a block.
inline std::vector<uint32_t> half_fields(GgmlType type) {
  switch (type) {
    case GgmlType::Q8_0: case GgmlType::Q4_0: return {0};
    case GgmlType::Q4_1: case GgmlType::Q4_K: return {0, 2};
    case GgmlType::Q6_K: return {208};
    case GgmlType::Q4_0_X8: return {128, 130, 132, 134, 136, 138, 140, 142};
    default: return {};
  }
}

inline std::vector<uint8_t> random_weight_bytes(GgmlType type, uint32_t k, uint32_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const uint64_t total = quant::row_bytes(type, k) * n;
  std::vector<uint8_t> bytes(total);
  if (type == GgmlType::F32 || type == GgmlType::F16) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (uint64_t i = 0; i < uint64_t(k) * n; ++i) {
      const float v = dist(rng);
      if (type == GgmlType::F32) std::memcpy(&bytes[4 * i], &v, 4);
      else {
        const uint16_t h = float_to_half(v);
        std::memcpy(&bytes[2 * i], &h, 2);
      }
    }
    return bytes;
  }
  for (uint64_t i = 0; i + 4 <= total; i += 4) {
    const uint32_t r = rng();
    std::memcpy(&bytes[i], &r, 4);
  }
  for (uint64_t i = total / 4 * 4; i < total; ++i) bytes[i] = uint8_t(rng());
  const quant::BlockLayout layout = quant::block_layout(type);
  // Scales of either sign with magnitudes 2^-9 .. 2^-4, so that every value stays well inside f32.
  std::uniform_real_distribution<float> mag(0.5f, 1.0f);
  std::uniform_int_distribution<int> exp(-8, -4);
  for (uint64_t b = 0; b < total / layout.block_bytes; ++b)
    for (uint32_t off : half_fields(type)) {
      const float v = std::ldexp(mag(rng), exp(rng)) * ((rng() & 1) ? -1.0f : 1.0f);
      const uint16_t h = float_to_half(v);
      std::memcpy(&bytes[b * layout.block_bytes + off], &h, 2);
    }
  return bytes;
}

inline TestWeight make_weight(GgmlType type, uint32_t k, uint32_t n, uint32_t seed,
                              WeightSource source = WeightSource::Quantized) {
  TestWeight w;
  w.type = type;
  w.k = k;
  w.n = n;
  if (source == WeightSource::Quantized) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> raw(size_t(k) * n);
    for (float& v : raw) v = dist(rng);
    w.bytes = quant::quantize(type, raw);
  } else {
    w.bytes = random_weight_bytes(type, k, n, seed);
  }
  w.values = quant::dequantize(type, w.bytes, size_t(k) * n);
  w.bytes.resize((w.bytes.size() + 3) / 4 * 4, 0);
  return w;
}

// Y[t][n] = Σ_k W[n][k] X[t][k] in double, and Σ_k |W[n][k] X[t][k]| (the scale of its rounding error).
struct MatmulReference {
  std::vector<double> y, abs_sum;
};

inline MatmulReference matmul_reference(const TestWeight& w, const std::vector<float>& x, uint32_t t,
                                        uint32_t x_stride) {
  MatmulReference r;
  r.y.assign(size_t(t) * w.n, 0.0);
  r.abs_sum.assign(size_t(t) * w.n, 0.0);
  for (uint32_t i = 0; i < t; ++i)
    for (uint32_t j = 0; j < w.n; ++j) {
      double s = 0, a = 0;
      for (uint32_t c = 0; c < w.k; ++c) {
        const double p = double(w.values[size_t(j) * w.k + c]) * double(x[size_t(i) * x_stride + c]);
        s += p;
        a += std::abs(p);
      }
      r.y[size_t(i) * w.n + j] = s;
      r.abs_sum[size_t(i) * w.n + j] = a;
    }
  return r;
}

// The kernels use the reference's dequantized values exactly, so their error comes only from fp32 products and
// sums in another order: bounded here by 2e-6 · sqrt(K) of Σ|w·x| (fp32 epsilon is 1.2e-7), for every type.
inline double matmul_tolerance(uint32_t k, double abs_sum) { return 2e-6 * std::sqrt(double(k)) * abs_sum + 1e-30; }

// Products on int8 activations (ops::MatmulOptions::int8_activations, Q4_0_X8 weights): rounding x to int8 per
// 32-element block moves each element by at most half a step, max|x in its block| / 254, so row j's error beyond
// the float kernels' grows by sum |w| * that step; the block sums' fp32 roundings see the raw quants (up to 16 |d|
// per weight) rather than |w|, bounded like matmul_tolerance over those. x: the row's k inputs.
inline double int8_activation_bound(const TestWeight& w, uint32_t row, const double* x) {
  const uint8_t* r = w.bytes.data() + quant::row_bytes(w.type, w.k) * row;
  double rounding = 0, raw = 0;
  for (uint32_t b = 0; b < w.k / 32; ++b) {
    double amax = 0, x_abs = 0, w_abs = 0;
    for (uint32_t c = 32 * b; c < 32 * b + 32; ++c) {
      amax = std::max(amax, std::abs(x[c]));
      x_abs += std::abs(x[c]);
      w_abs += std::abs(double(w.values[size_t(row) * w.k + c]));
    }
    const uint8_t* d = r + (b / 8) * 144 + 128 + 2 * (b % 8);
    rounding += w_abs * amax / 254 * 1.001;
    raw += 16.0 * std::abs(double(half_to_float(uint16_t(d[0] | (d[1] << 8))))) * (x_abs + 32 * amax / 254);
  }
  return rounding + 2e-6 * std::sqrt(double(w.k)) * raw;
}

}  // namespace ckv::test
