// Double-precision references of the KV score steps: window scores per listed head, then pooling + head mean.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/ops/kv_scores.hpp"

namespace ckv::test {

// Host copies of the op's inputs. k holds the values the GPU reads (already rounded to half for f16 caches).
struct ScoreInputs {
  ops::KvScoreParams params;
  std::vector<float> qw;             // element (h, w, c) at h * qw_head_stride + w * qw_row_stride + c
  std::vector<float> k;              // [n_kv, kv_capacity, head_dim]
  std::vector<uint32_t> head_sets;   // [rows, heads_per_row]
};

// S [R·Hr, N]: for each listed head, the window rows' causal softmax probabilities summed per key j < N.
inline std::vector<double> window_scores_reference(const ScoreInputs& in) {
  const ops::KvScoreParams& p = in.params;
  const size_t n = p.t - p.window, d = p.head_dim;
  const size_t heads = size_t(p.rows) * p.heads_per_row;
  std::vector<double> s(heads * n, 0.0);
  std::vector<double> logits(p.t);
  for (size_t slot = 0; slot < heads; ++slot) {
    const size_t h = in.head_sets[slot];
    const size_t g = h / (p.n_q / p.n_kv);
    for (size_t w = 0; w < p.window; ++w) {
      const size_t visible = n + w + 1;  // row w sits at position N + w
      const float* q = &in.qw[h * p.qw_head_stride + w * p.qw_row_stride];
      double max_logit = -std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < visible; ++j) {
        const float* key = &in.k[(g * p.kv_capacity + j) * d];
        double dot = 0;
        for (size_t c = 0; c < d; ++c) dot += double(q[c]) * double(key[c]);
        logits[j] = dot * double(p.scale);
        max_logit = std::max(max_logit, logits[j]);
      }
      double sum = 0;
      for (size_t j = 0; j < visible; ++j) sum += std::exp(logits[j] - max_logit);
      for (size_t j = 0; j < n; ++j) s[slot * n + j] += std::exp(logits[j] - max_logit) / sum;
    }
  }
  return s;
}

// out [R, N]: mean over the Hr slots of each row of the 1-D pooled scores (stride 1, padding kernel / 2; avg
// counts the zero padding, max ignores it).
inline std::vector<double> pool_mean_reference(const std::vector<double>& s, const ops::KvScoreParams& p) {
  const long n = long(p.t - p.window), half = long(p.pool_kernel / 2);
  std::vector<double> out(size_t(p.rows) * n, 0.0);
  for (size_t r = 0; r < p.rows; ++r)
    for (size_t i = 0; i < p.heads_per_row; ++i) {
      const double* row = &s[(r * p.heads_per_row + i) * n];
      for (long j = 0; j < n; ++j) {
        double pooled = p.pool == ops::PoolKind::Max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (long x = std::max(0L, j - half); x <= std::min(n - 1, j + half); ++x)
          pooled = p.pool == ops::PoolKind::Max ? std::max(pooled, row[x]) : pooled + row[x];
        if (p.pool == ops::PoolKind::Avg) pooled /= double(p.pool_kernel);
        out[r * n + j] += pooled / double(p.heads_per_row);
      }
    }
  return out;
}

}  // namespace ckv::test
