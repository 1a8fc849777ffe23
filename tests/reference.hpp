// Plain double-precision references shared by the kernel tests, and the comparison helpers.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/half.hpp"

namespace ckv::test {

// RMS norm of t rows of `width` values, `stride` floats apart: x * weight / sqrt(mean(x²) + eps) per row; values
// between the rows are copied unchanged.
inline std::vector<double> rms_norm_reference(const std::vector<float>& x, const std::vector<float>& weight, uint32_t t,
                                              uint32_t width, uint32_t stride, double eps) {
  std::vector<double> y(x.begin(), x.end());
  for (uint32_t r = 0; r < t; ++r) {
    double squares = 0;
    for (uint32_t i = 0; i < width; ++i) squares += double(x[size_t(r) * stride + i]) * x[size_t(r) * stride + i];
    const double inv_rms = 1.0 / std::sqrt(squares / width + eps);
    for (uint32_t i = 0; i < width; ++i) y[size_t(r) * stride + i] = x[size_t(r) * stride + i] * inv_rms * weight[i];
  }
  return y;
}

// Causal grouped-query attention. q: [n_q, t_q, d] (query i sits at position q_offset + i);
// k, v: [n_kv, t_k, d]; returns o: [t_q, n_q, d]. Keys j <= q_offset + i are visible when causal.
inline std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<float>& k,
                                               const std::vector<float>& v, int n_q, int n_kv, int t_q, int t_k,
                                               int d, int q_offset, bool causal = true) {
  std::vector<double> out(size_t(t_q) * n_q * d, 0.0);
  const int group = n_q / n_kv;
  const double scale = 1.0 / std::sqrt(double(d));
  std::vector<double> logits(t_k);
  for (int h = 0; h < n_q; ++h) {
    const int g = h / group;
    for (int i = 0; i < t_q; ++i) {
      const int visible = causal ? std::min(t_k, q_offset + i + 1) : t_k;
      double max_logit = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < visible; ++j) {
        double dot = 0;
        for (int c = 0; c < d; ++c)
          dot += double(q[(size_t(h) * t_q + i) * d + c]) * double(k[(size_t(g) * t_k + j) * d + c]);
        logits[j] = dot * scale;
        max_logit = std::max(max_logit, logits[j]);
      }
      double sum = 0;
      for (int j = 0; j < visible; ++j) sum += (logits[j] = std::exp(logits[j] - max_logit));
      double* o = &out[(size_t(i) * n_q + h) * d];
      for (int j = 0; j < visible; ++j)
        for (int c = 0; c < d; ++c) o[c] += logits[j] / sum * double(v[(size_t(g) * t_k + j) * d + c]);
    }
  }
  return out;
}

// Values as the GPU sees them once stored as f16.
inline std::vector<float> rounded_to_half(std::vector<float> values) {
  for (float& x : values) x = round_to_half(x);
  return values;
}

// Packs floats into f16 pairs (element 2i in the low half of word i), the engine's f16 storage format.
inline std::vector<uint32_t> pack_half(const std::vector<float>& values) {
  std::vector<uint32_t> words((values.size() + 1) / 2, 0);
  for (size_t i = 0; i < values.size(); ++i) words[i / 2] |= uint32_t(float_to_half(values[i])) << (16 * (i % 2));
  return words;
}

// Max absolute error and normalised mean squared error (Σ(a−b)² / Σb²) of a result against a reference.
struct ErrorStats {
  double max_abs = 0;
  double nmse = 0;
  size_t worst_index = 0;
};

template <class A, class B>
ErrorStats compare(const std::vector<A>& got, const std::vector<B>& want) {
  ErrorStats s;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::abs(double(got[i]) - double(want[i]));
    if (!(e <= s.max_abs)) {  // also catches NaN
      s.max_abs = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
      s.worst_index = i;
    }
    num += e * e;
    den += double(want[i]) * double(want[i]);
  }
  s.nmse = den > 0 ? num / den : num;
  return s;
}

// EXPECT that got matches want within an absolute tolerance (and its size matches).
template <class A, class B>
void expect_close(const std::vector<A>& got, const std::vector<B>& want, double max_abs, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const ErrorStats s = compare(got, want);
  EXPECT_LE(s.max_abs, max_abs) << what << ": worst at " << s.worst_index << " got " << double(got[s.worst_index])
                                << " want " << double(want[s.worst_index]) << " (nmse " << s.nmse << ")";
}

}  // namespace ckv::test
