// KV token scores (window scores, pooling, head mean) against the double-precision reference.
//
// Tolerances: outputs are sums of W probabilities (<= W). The reference reads the same key values as the GPU
// (f16 keys are rounded to half before the reference sees them), so f16 and f32 caches differ only in storage
// and share one tolerance: what is left is fp32 rounding of the dot products, the exp2 and the sums, a relative
// error of a few 1e-6 at most (seen on lavapipe: <= 2.5e-7 absolute, <= 1.5e-6 relative). Checked: absolute
// error <= 1e-5 on every value, and the error relative to the largest reference value <= 2e-5, so that small
// scores at large T are checked too (a mask off by one key moves every probability by about 1/T relative).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "engine/ops/kv_scores.hpp"
#include "gpu_env.hpp"
#include "kv_scores_reference.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

constexpr double kAbsTolerance = 1e-5;
constexpr double kRelTolerance = 2e-5;
constexpr uint32_t kNanBits = 0x7fc00000u;

struct ScoreCase {
  uint32_t n_q, n_kv, head_dim, t, window;
  uint32_t rows, heads_per_row;  // rows == n_kv: SnapKV-like sets (row g = the query heads of KV head g)
  uint32_t pool_kernel;
  ops::PoolKind pool;
  KvDtype dtype;
  uint32_t seed;
  bool token_major = false;    // queries [W, n_q, d] instead of [n_q, W, d]
  bool offset_ranges = false;  // scratch and output bound at an offset inside larger buffers
  bool duplicate_head = false;
};

std::string describe(const ScoreCase& c) {
  return "n_q " + std::to_string(c.n_q) + " n_kv " + std::to_string(c.n_kv) + " d " + std::to_string(c.head_dim) +
         " T " + std::to_string(c.t) + " W " + std::to_string(c.window) + " R " + std::to_string(c.rows) + " Hr " +
         std::to_string(c.heads_per_row) + " k " + std::to_string(c.pool_kernel) +
         (c.pool == ops::PoolKind::Max ? " max" : " avg") + (c.dtype == KvDtype::F16 ? " f16" : " f32");
}

ops::KvScoreParams make_params(const ScoreCase& c) {
  ops::KvScoreParams p;
  p.n_q = c.n_q;
  p.n_kv = c.n_kv;
  p.head_dim = c.head_dim;
  p.t = c.t;
  p.window = c.window;
  p.kv_capacity = c.t + 7;  // rows past T hold data that must not be read
  p.scale = 1.0f / std::sqrt(float(c.head_dim));
  p.kv_dtype = c.dtype;
  p.rows = c.rows;
  p.heads_per_row = c.heads_per_row;
  p.pool_kernel = c.pool_kernel;
  p.pool = c.pool;
  p.qw_head_stride = c.token_major ? c.head_dim : c.window * c.head_dim;
  p.qw_row_stride = c.token_major ? c.n_q * c.head_dim : c.head_dim;
  return p;
}

std::vector<uint32_t> make_head_sets(const ScoreCase& c, std::mt19937& rng) {
  std::vector<uint32_t> ids;
  if (c.rows == c.n_kv && c.heads_per_row == c.n_q / c.n_kv) {
    ids.resize(c.n_q);
    std::iota(ids.begin(), ids.end(), 0u);
    return ids;
  }
  std::uniform_int_distribution<uint32_t> pick(0, c.n_q - 1);
  for (uint32_t i = 0; i < c.rows * c.heads_per_row; ++i) ids.push_back(pick(rng));
  if (c.duplicate_head) ids[1] = ids[0];
  return ids;
}

ScoreInputs random_inputs(const ScoreCase& c) {
  ScoreInputs in;
  in.params = make_params(c);
  const auto& p = in.params;
  // Queries wider than keys make the softmax rows peaky rather than nearly uniform.
  in.qw = random_floats(size_t(c.n_q) * c.window * c.head_dim, c.seed, -4.0f, 4.0f);
  in.k = random_floats(size_t(c.n_kv) * p.kv_capacity * c.head_dim, c.seed + 1);
  if (c.dtype == KvDtype::F16) in.k = rounded_to_half(in.k);
  std::mt19937 rng(c.seed + 2);
  in.head_sets = make_head_sets(c, rng);
  return in;
}

struct GpuScores {
  std::vector<float> s;    // per-slot window scores [R·Hr, N], read from the scratch
  std::vector<float> out;  // [R, N]
};

class KvScores : public GpuTest {
 protected:
  vk::Buffer upload_keys(const ScoreInputs& in) {
    if (in.params.kv_dtype == KvDtype::F16) return make_buffer(pack_half(in.k), "keys f16");
    return make_buffer(in.k, "keys f32");
  }

  GpuScores run(const ScoreInputs& in, bool offset_ranges = false) {
    const auto& p = in.params;
    const uint32_t n = ops::kv_scored_keys(p);
    ops::validate_head_sets(in.head_sets, p.n_q);
    vk::Buffer qw = make_buffer(in.qw, "window queries");
    vk::Buffer k = upload_keys(in);
    vk::Buffer ids = make_buffer(in.head_sets, "head sets");
    const size_t scratch_bytes = ops::kv_score_scratch_bytes(p);
    const size_t out_bytes = size_t(p.rows) * n * 4;
    const size_t lead = offset_ranges ? 512 : 0;
    vk::Buffer scratch = make_zeroed(lead + scratch_bytes + 64, "scratch");
    vk::Buffer out = make_zeroed(lead + out_bytes + 64, "scores");
    vk::CommandStream stream(device());
    // Stale NaNs everywhere: every value the passes read must have been written by an earlier pass.
    stream.fill(scratch, kNanBits);
    stream.fill(out, kNanBits);
    ops::record_kv_scores(ctx(), stream, p, qw, k, ids, vk::BufferRange(scratch, lead, scratch_bytes),
                          vk::BufferRange(out, lead, out_bytes));
    stream.submit_and_wait();
    GpuScores result;
    result.s = vk::download<float>(device(), scratch, size_t(p.rows) * p.heads_per_row * n, lead);
    result.out = vk::download<float>(device(), out, size_t(p.rows) * n, lead);
    return result;
  }

  static void expect_scores_close(const std::vector<float>& got, const std::vector<double>& want,
                                  const std::string& what) {
    expect_close(got, want, kAbsTolerance, what);
    double largest = 0;
    for (double v : want) largest = std::max(largest, std::abs(v));
    const ErrorStats stats = compare(got, want);
    EXPECT_LE(stats.max_abs, kRelTolerance * largest) << what << ": error relative to the largest score";
  }

  // Every logits pass: key rows split across lanes (where the shape allows it: f16, d a multiple of 64), one
  // invocation per key with subgroup reductions, and the portable one; row statistics merged by the pool pass and
  // by the separate combine pass.
  void check_case(const ScoreCase& c) {
    SCOPED_TRACE(describe(c));
    ScoreInputs in = random_inputs(c);
    const std::vector<double> s = window_scores_reference(in);
    struct Mode {
      bool subgroup_ops, split_key_rows, merge_stats_in_pool;
      const char* name;
    };
    for (const Mode mode : {Mode{true, true, true, " (split key rows, stats merged in the pool pass)"},
                            Mode{true, false, false, " (subgroup reductions, combine pass)"},
                            Mode{false, false, true, " (portable reductions, stats merged in the pool pass)"}}) {
      in.params.subgroup_ops = mode.subgroup_ops;
      in.params.split_key_rows = mode.split_key_rows;
      in.params.merge_stats_in_pool = mode.merge_stats_in_pool;
      const GpuScores gpu = run(in, c.offset_ranges);
      const std::string how = mode.name;
      expect_scores_close(gpu.s, s, "window scores" + how);
      expect_scores_close(gpu.out, pool_mean_reference(s, in.params), "pooled mean" + how);
    }
  }
};

using ops::PoolKind;
constexpr KvDtype F16 = KvDtype::F16;
constexpr KvDtype F32 = KvDtype::F32;

TEST_F(KvScores, RandomInputsMatchReference) {
  const ScoreCase cases[] = {
      // n_q n_kv d    T   W  R Hr  k  pool            dtype seed
      {4, 4, 8, 9, 8, 1, 4, 5, PoolKind::Avg, F32, 11},                   // GQA 1, N = 1
      {6, 2, 64, 100, 8, 2, 3, 5, PoolKind::Max, F16, 12},                // GQA 3, SnapKV sets
      {8, 2, 64, 1337, 8, 1, 4, 5, PoolKind::Avg, F16, 13, true},         // GQA 4, token-major queries
      {12, 3, 8, 1337, 8, 3, 4, 5, PoolKind::Max, F32, 14},               // GQA 4, SnapKV sets
      {9, 3, 64, 100, 8, 1, 4, 5, PoolKind::Avg, F32, 15, false, true},   // GQA 3, bindings at offsets
      {9, 3, 8, 9, 2, 1, 4, 5, PoolKind::Avg, F16, 16},                   // W = 2, N = 7
      {4, 1, 8, 1337, 8, 1, 4, 5, PoolKind::Max, F16, 17, true},          // GQA 4, one KV head
  };
  for (const ScoreCase& c : cases) check_case(c);
}

TEST_F(KvScores, WindowSizesAndHeadDims) {
  const ScoreCase cases[] = {
      {3, 1, 64, 100, 1, 1, 4, 3, PoolKind::Avg, F32, 21, false, false, true},  // W = 1, duplicate head id
      {4, 4, 40, 100, 3, 4, 1, 1, PoolKind::Max, F16, 22},                      // W = 3, d not a tile multiple
      {4, 2, 42, 150, 8, 1, 4, 5, PoolKind::Avg, F16, 26},                      // f16 rows not 16-byte aligned
      {4, 2, 10, 150, 8, 2, 2, 5, PoolKind::Max, F32, 27},                      // f32 rows not 16-byte aligned
      {3, 3, 6, 90, 4, 1, 3, 3, PoolKind::Avg, F16, 28},                        // d = 6, W = 4
      {4, 1, 8, 200, 64, 1, 2, 7, PoolKind::Avg, F16, 23},                      // W = 64 (the maximum)
      {4, 4, 64, 300, 5, 4, 1, 9, PoolKind::Max, F32, 24},                      // W = 5, wide kernel
      {8, 2, 128, 130, 8, 2, 4, 5, PoolKind::Avg, F16, 25},                     // d = 128
      {4, 2, 64, 300, 13, 1, 2, 5, PoolKind::Avg, F16, 29},                     // W = 13: a partial second sweep
      {4, 1, 64, 200, 64, 1, 2, 7, PoolKind::Max, F16, 30},                     // W = 64, split key rows
      {9, 1, 8, 150, 64, 1, 9, 5, PoolKind::Avg, F32, 33},  // 576 (slot, row) pairs: always the combine pass
  };
  for (const ScoreCase& c : cases) check_case(c);
}

TEST_F(KvScores, SplitKeyRowsApplyWhereTheShapeAllows) {
  // The cases above that name f16 keys with d = 64 or 128 run the split kernel on any device with subgroup
  // shuffles and subgroups of at least 8 lanes (lavapipe has 8); everything else keeps one invocation per key.
  const vk::DeviceInfo& dev = device().info();
  if (!dev.subgroup_shuffle || dev.min_subgroup_size < 8) GTEST_SKIP() << "no subgroup shuffles of 8+ lanes";
  const uint32_t lanes = dev.min_subgroup_size >= 16 ? 16 : 8;
  ops::KvScoreParams p = make_params({8, 2, 128, 130, 8, 2, 4, 5, PoolKind::Avg, F16, 0});
  EXPECT_EQ(ops::kv_score_key_lanes(p, dev), lanes);
  p.head_dim = 64;
  p.qw_head_stride = p.qw_row_stride = 64;
  EXPECT_EQ(ops::kv_score_key_lanes(p, dev), 8u);  // 8 octets per row: 8 lanes
  ops::KvScoreParams off = p;
  off.kv_dtype = F32;
  EXPECT_EQ(ops::kv_score_key_lanes(off, dev), 0u);
  off = p;
  off.head_dim = off.qw_row_stride = 40;
  EXPECT_EQ(ops::kv_score_key_lanes(off, dev), 0u);
  off = p;
  off.qw_row_stride = 66;
  EXPECT_EQ(ops::kv_score_key_lanes(off, dev), 0u);
  off = p;
  off.split_key_rows = false;
  EXPECT_EQ(ops::kv_score_key_lanes(off, dev), 0u);
  off = p;
  off.subgroup_ops = false;
  EXPECT_EQ(ops::kv_score_key_lanes(off, dev), 0u);
}

TEST_F(KvScores, LongKeyAxisIsSplitAcrossWorkgroups) {
  // 20000 keys: hundreds of key blocks, more than one combine workgroup iteration per thread.
  check_case({2, 1, 64, 20000, 8, 1, 2, 5, PoolKind::Avg, F16, 31});
  check_case({2, 2, 64, 20000, 8, 2, 1, 5, PoolKind::Max, F32, 32});
}

TEST_F(KvScores, DuplicateHeadWeighsTwice) {
  // Row [a, a, b] must equal (2·pool(S_a) + pool(S_b)) / 3, which the reference computes slot by slot.
  ScoreCase c{4, 2, 8, 60, 8, 1, 3, 5, PoolKind::Avg, F32, 41};
  ScoreInputs in = random_inputs(c);
  in.head_sets = {3, 3, 0};
  const GpuScores gpu = run(in);
  const std::vector<double> s = window_scores_reference(in);
  const size_t n = 52;
  for (size_t j = 0; j < n; ++j) EXPECT_FLOAT_EQ(gpu.s[j], gpu.s[n + j]) << j;
  expect_scores_close(gpu.out, pool_mean_reference(s, in.params), "pooled mean");
}

TEST_F(KvScores, NeedleKeysGetTheTopScores) {
  // Keys aligned with a direction every window query shares must dominate the scores of every listed head.
  const uint32_t n_q = 8, n_kv = 2, d = 64, t = 600, window = 8, n = t - window;
  const std::vector<uint32_t> needles = {0, 137, 300, n - 1};
  ScoreInputs in;
  in.params = make_params({n_q, n_kv, d, t, window, 1, 4, 5, PoolKind::Avg, F16, 0});
  std::vector<float> dir = random_floats(d, 51);
  const float norm = std::sqrt(std::inner_product(dir.begin(), dir.end(), dir.begin(), 0.0f));
  for (float& x : dir) x /= norm;
  const std::vector<float> noise = random_floats(size_t(n_q) * window * d, 52, -0.3f, 0.3f);
  in.qw.resize(noise.size());
  for (size_t i = 0; i < noise.size(); ++i) in.qw[i] = 4.0f * dir[i % d] + noise[i];
  in.k = random_floats(size_t(n_kv) * in.params.kv_capacity * d, 53, -0.5f, 0.5f);
  for (uint32_t g = 0; g < n_kv; ++g)
    for (uint32_t j : needles)
      for (uint32_t c = 0; c < d; ++c) in.k[(size_t(g) * in.params.kv_capacity + j) * d + c] = 10.0f * dir[c];
  in.k = rounded_to_half(in.k);
  in.head_sets = {0, 3, 5, 6};  // both KV groups

  for (const uint32_t kernel : {1u, 5u}) {
    for (const PoolKind pool : {PoolKind::Avg, PoolKind::Max}) {
      SCOPED_TRACE("kernel " + std::to_string(kernel) + (pool == PoolKind::Max ? " max" : " avg"));
      in.params.pool_kernel = kernel;
      in.params.pool = pool;
      const GpuScores gpu = run(in);
      const std::vector<double> s = window_scores_reference(in);
      expect_scores_close(gpu.out, pool_mean_reference(s, in.params), "pooled mean");
      // The largest score away from every needle's pooling neighbourhood.
      double background = 0;
      for (uint32_t j = 0; j < n; ++j) {
        const bool near = std::any_of(needles.begin(), needles.end(),
                                      [&](uint32_t x) { return std::abs(int(j) - int(x)) <= int(kernel / 2); });
        if (!near) background = std::max(background, double(gpu.out[j]));
      }
      for (uint32_t x : needles) EXPECT_GT(gpu.out[x], 5.0 * background) << "needle " << x;
      if (kernel == 1) {  // no pooling: the needles are exactly the top scores
        std::vector<uint32_t> order(n);
        std::iota(order.begin(), order.end(), 0u);
        std::partial_sort(order.begin(), order.begin() + needles.size(), order.end(),
                          [&](uint32_t a, uint32_t b) { return gpu.out[a] > gpu.out[b]; });
        std::vector<uint32_t> top(order.begin(), order.begin() + needles.size());
        std::sort(top.begin(), top.end());
        EXPECT_EQ(top, needles);
      }
    }
  }
}

TEST_F(KvScores, WindowCoveringAllKeysRecordsNothing) {
  // T = W: N = 0, nothing to score. The op validates its arguments, then records no command at all.
  ScoreInputs in = random_inputs({4, 2, 8, 8, 8, 1, 4, 5, PoolKind::Avg, F16, 61});
  const auto& p = in.params;
  EXPECT_EQ(ops::kv_scored_keys(p), 0u);
  EXPECT_EQ(ops::kv_score_scratch_bytes(p), 0u);
  vk::Buffer qw = make_buffer(in.qw);
  vk::Buffer k = upload_keys(in);
  vk::Buffer ids = make_buffer(in.head_sets);
  vk::Buffer sentinel = make_buffer(std::vector<uint32_t>(4, 0x12345678u));
  vk::CommandStream stream(device());
  ops::record_kv_scores(ctx(), stream, p, qw, k, ids, vk::BufferRange(), vk::BufferRange());
  EXPECT_FALSE(stream.recording());
  ops::record_kv_scores(ctx(), stream, p, qw, k, ids, sentinel, sentinel);
  EXPECT_FALSE(stream.recording());
  stream.submit_and_wait();
  EXPECT_EQ(read<uint32_t>(sentinel, 4), std::vector<uint32_t>(4, 0x12345678u));
}

TEST_F(KvScores, ValidateHeadSetsNamesTheBadIndex) {
  const std::vector<uint32_t> good = {0, 8, 8, 3};
  EXPECT_NO_THROW(ops::validate_head_sets(good, 9));
  const std::vector<uint32_t> bad = {0, 12, 9};
  try {
    ops::validate_head_sets(bad, 9);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "head index 12 out of range: the model has 9 query heads");
  }
}

TEST_F(KvScores, BadArgumentsAreRejected) {
  const ScoreInputs in = random_inputs({4, 2, 8, 40, 8, 1, 2, 5, PoolKind::Avg, F16, 71});
  vk::Buffer qw = make_buffer(in.qw);
  vk::Buffer k = upload_keys(in);
  vk::Buffer ids = make_buffer(in.head_sets);
  vk::Buffer scratch = make_zeroed(ops::kv_score_scratch_bytes(in.params));
  vk::Buffer out = make_zeroed(size_t(ops::kv_scored_keys(in.params)) * 4);
  vk::CommandStream stream(device());

  auto expect_rejected = [&](const ops::KvScoreParams& p, const std::string& text,
                             const vk::BufferRange& q_range, const vk::BufferRange& k_range,
                             const vk::BufferRange& scratch_range, const vk::BufferRange& out_range) {
    try {
      ops::record_kv_scores(ctx(), stream, p, q_range, k_range, ids, scratch_range, out_range);
      ADD_FAILURE() << "expected an error mentioning '" << text << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  auto rejected = [&](auto mutate, const std::string& text) {
    ops::KvScoreParams p = in.params;
    mutate(p);
    expect_rejected(p, text, qw, k, scratch, out);
  };
  rejected([](auto& p) { p.n_kv = 3; }, "multiple of n_kv");
  rejected([](auto& p) { p.n_kv = 0; }, "multiple of n_kv");
  rejected([](auto& p) { p.head_dim = 7; }, "head_dim must be even");
  rejected([](auto& p) { p.window = 0; }, "window must be 1 .. 64");
  rejected([](auto& p) { p.window = 65; }, "window must be 1 .. 64");
  rejected([](auto& p) { p.t = 7; }, "smaller than the window");
  rejected([](auto& p) { p.t = p.kv_capacity + 1; }, "exceeds the cache capacity");
  rejected([](auto& p) { p.pool_kernel = 4; }, "pool_kernel must be odd");
  rejected([](auto& p) { p.pool_kernel = 0; }, "pool_kernel must be odd");
  rejected([](auto& p) { p.pool_kernel = 257; }, "pool_kernel must be odd");
  rejected([](auto& p) { p.scale = 0; }, "scale");
  rejected([](auto& p) { p.scale = std::nanf(""); }, "scale");
  rejected([](auto& p) { p.rows = 0; }, "rows and heads_per_row");
  rejected([](auto& p) { p.qw_row_stride = 0; }, "query strides");
  rejected([](auto& p) { p.heads_per_row = 5; }, "head_sets holds");  // 20 bytes of ids; the buffer has 16
  rejected([](auto& p) { p.kv_dtype = KvDtype::F32; }, "k holds");  // f32 needs twice the bytes
  rejected([](auto& p) { p.t = 41; }, "scratch holds");  // more keys than the scratch fits
  const ops::KvScoreParams& p = in.params;
  expect_rejected(p, "window_queries holds", vk::BufferRange(qw, 0, 64), k, scratch, out);
  expect_rejected(p, "k holds", qw, vk::BufferRange(k, 0, 16), scratch, out);
  expect_rejected(p, "scores_out holds", qw, k, scratch, vk::BufferRange(out, 0, 16));
  expect_rejected(p, "scratch holds", qw, k, vk::BufferRange(), out);
  EXPECT_FALSE(stream.recording());  // nothing was recorded by the failed calls
}

}  // namespace
}  // namespace ckv::test
