// A layer's Q/K/V projections with RoPE and the KV-cache append (ops::record_qkv_projection) against a double
// reference: q = rope(W_q · rms_norm(x)), cache rows dst_start + i = f16(rope(W_k · rms_norm(x_i))) and
// f16(W_v · rms_norm(x_i)), on the fused path (the matrix-vector kernel finishes row pairs in place) and on the
// fallback (products, then RoPE and the stores), with cache rows outside the new ones left untouched.
//
// Tolerances: each product's own bound (as NormedMatmul), the rotation's fp32 angle error as in the Rope tests
// ((|x0| + |x1|) * (|theta| (6 + 4|e|) 2^-24 + 2^-20)), and for the f16 cache one f16 rounding (2^-11 relative).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops/qkv_projection.hpp"
#include "gpu_env.hpp"
#include "matmul_helpers.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

constexpr uint32_t kSentinel = 0x7E007E00u;  // two f16 NaNs: cache words no store may touch

struct Shape {
  uint32_t n_embd = 64, n_heads = 4, n_kv = 2, head_dim = 16, rope_dim = 16, capacity = 12, dst_start = 5;
};

class QkvProjection : public GpuTest {
 protected:
  // Double-precision rows of W · rms_norm(x) and each element's tolerance.
  static void products(const TestWeight& w, const std::vector<double>& xn, uint32_t t, bool int8,
                       std::vector<double>& out, std::vector<double>& tol) {
    out.assign(size_t(t) * w.n, 0.0);
    tol.assign(out.size(), 0.0);
    for (uint32_t i = 0; i < t; ++i)
      for (uint32_t j = 0; j < w.n; ++j) {
        double sum = 0, abs_sum = 0;
        for (uint32_t c = 0; c < w.k; ++c) {
          const double p = double(w.values[size_t(j) * w.k + c]) * xn[size_t(i) * w.k + c];
          sum += p;
          abs_sum += std::abs(p);
        }
        out[size_t(i) * w.n + j] = sum;
        tol[size_t(i) * w.n + j] = matmul_tolerance(w.k, abs_sum) + 5e-7 * abs_sum +
                                   (int8 ? int8_activation_bound(w, j, &xn[size_t(i) * w.k]) : 0.0);
      }
  }

  // Rotates pairs (2i, 2i + 1) of every head of every token in place (normal mode), widening the tolerances.
  static void rotate(std::vector<double>& rows, std::vector<double>& tol, uint32_t t, const Shape& s,
                     const std::vector<uint32_t>& positions, float base) {
    const uint32_t width = uint32_t(rows.size() / t);
    for (uint32_t tok = 0; tok < t; ++tok)
      for (uint32_t h = 0; h < width / s.head_dim; ++h)
        for (uint32_t i = 0; i < s.rope_dim / 2; ++i) {
          const size_t a = size_t(tok) * width + size_t(h) * s.head_dim + 2 * i, b = a + 1;
          const double theta = double(positions[tok]) * std::pow(double(base), -2.0 * i / s.rope_dim);
          const double e = 2.0 * i * std::log2(double(base)) / s.rope_dim;
          const double x0 = rows[a], x1 = rows[b];
          rows[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
          rows[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
          const double angle_tol = (std::abs(x0) + std::abs(x1)) * (std::abs(theta) * (6.0 + 4.0 * e) * 0x1p-24 + 0x1p-20);
          const double both = tol[a] + tol[b];
          tol[a] = tol[b] = both + angle_tol;
        }
  }

  void check(GgmlType type, const Shape& s, uint32_t t, const ops::MatmulOptions& options, bool expect_fused,
             const std::string& what) {
    SCOPED_TRACE(what + " " + type_label(type) + " t=" + std::to_string(t) + " rope_dim=" + std::to_string(s.rope_dim));
    const float eps = 1e-5f, base = 10000.0f;
    const uint32_t q_width = s.n_heads * s.head_dim, kv_width = s.n_kv * s.head_dim;
    const TestWeight wq = make_weight(type, s.n_embd, q_width, 21), wk = make_weight(type, s.n_embd, kv_width, 22),
                     wv = make_weight(type, s.n_embd, kv_width, 23);
    const std::vector<float> x = random_floats(size_t(t) * s.n_embd, 24, -2.0f, 2.0f);
    const std::vector<float> gain = random_floats(s.n_embd, 25, 0.5f, 1.5f);
    const std::vector<uint32_t> positions = {7, 3000, 1, 42};

    const std::vector<double> xn = rms_norm_reference(x, gain, t, s.n_embd, s.n_embd, eps);
    std::vector<double> q_want, q_tol, k_want, k_tol, v_want, v_tol;
    const bool int8 = ops::matmul_uses_int8_activations(device().info(), {nullptr, 0, type, s.n_embd, q_width}, t, options);
    products(wq, xn, t, int8, q_want, q_tol);
    products(wk, xn, t, int8, k_want, k_tol);
    products(wv, xn, t, int8, v_want, v_tol);
    rotate(q_want, q_tol, t, s, positions, base);
    rotate(k_want, k_tol, t, s, positions, base);

    const vk::Buffer wqb = make_buffer(wq.bytes, "wq"), wkb = make_buffer(wk.bytes, "wk"), wvb = make_buffer(wv.bytes, "wv");
    const ops::WeightView vq{&wqb, 0, type, s.n_embd, q_width}, vk_{&wkb, 0, type, s.n_embd, kv_width},
        vv{&wvb, 0, type, s.n_embd, kv_width};
    const vk::Buffer xb = make_buffer(x, "x"), gb = make_buffer(gain, "gain"), pb = make_buffer(positions, "positions");
    const vk::Buffer xn_b = make_zeroed(x.size() * 4, "xn");
    vk::Buffer q = make_zeroed(size_t(t) * q_width * 4, "q"), k = make_zeroed(size_t(t) * kv_width * 4, "k"),
               v = make_zeroed(size_t(t) * kv_width * 4, "v");
    const size_t cache_words = size_t(s.n_kv) * s.capacity * s.head_dim / 2;
    vk::Buffer k_cache = make_zeroed(cache_words * 4, "k cache"), v_cache = make_zeroed(cache_words * 4, "v cache");

    ops::RopeParams rope;
    rope.n_heads = s.n_heads;
    rope.head_dim = s.head_dim;
    rope.rope_dim = s.rope_dim;
    rope.freq_base = base;
    ops::KvStoreParams store;
    store.n_kv = s.n_kv;
    store.head_dim = s.head_dim;
    store.dst_capacity = s.capacity;
    store.dst_start = s.dst_start;
    const ops::QkvWeights weights{&vq, &vk_, &vv};
    EXPECT_EQ(ops::qkv_projection_fused(device().info(), weights, t, rope, store, options), expect_fused);
    vk::CommandStream stream(device());
    stream.fill(k_cache, kSentinel);
    stream.fill(v_cache, kSentinel);
    ops::record_qkv_projection(ctx(), stream, xb, t, s.n_embd, gb, eps, xn_b, weights, q, k, v, rope, store, k_cache,
                               v_cache, pb, options);
    stream.submit_and_wait();

    const auto q_got = read<float>(q, size_t(t) * q_width);
    for (size_t i = 0; i < q_got.size(); ++i) ASSERT_NEAR(q_got[i], q_want[i], q_tol[i]) << "q element " << i;
    for (int which = 0; which < 2; ++which) {
      const auto words = read<uint32_t>(which == 0 ? k_cache : v_cache, cache_words);
      const std::vector<double>& want = which == 0 ? k_want : v_want;
      const std::vector<double>& tol = which == 0 ? k_tol : v_tol;
      for (uint32_t g = 0; g < s.n_kv; ++g)
        for (uint32_t row = 0; row < s.capacity; ++row)
          for (uint32_t e = 0; e < s.head_dim; e += 2) {
            const size_t word = ((size_t(g) * s.capacity + row) * s.head_dim + e) / 2;
            const std::string where = std::string(which == 0 ? "k" : "v") + " cache head " + std::to_string(g) +
                                      " row " + std::to_string(row) + " element " + std::to_string(e);
            if (row < s.dst_start || row >= s.dst_start + t) {
              ASSERT_EQ(words[word], kSentinel) << where << " was written";
              continue;
            }
            for (uint32_t half = 0; half < 2; ++half) {
              const float got = half_to_float(uint16_t(words[word] >> (16 * half)));
              const size_t i = size_t(row - s.dst_start) * kv_width + size_t(g) * s.head_dim + e + half;
              ASSERT_NEAR(got, want[i], tol[i] + std::abs(want[i]) * 0x1p-11) << where << " + " << half;
            }
          }
    }
  }
};

TEST_F(QkvProjection, FusedRowPairsMatchTheReference) {
  ops::MatmulOptions vector;
  vector.kernel = ops::MatmulKernel::Vector;
  Shape partial_rotary;
  partial_rotary.rope_dim = 8;  // elements 8..15 of each head pass unrotated
  for (bool subgroup_ops : {true, false}) {
    vector.subgroup_ops = subgroup_ops;
    const std::string what = subgroup_ops ? "fused" : "fused shared-reduce";
    for (uint32_t t : {1u, 3u}) {
      check(GgmlType::F16, Shape{}, t, vector, true, what);
      check(GgmlType::Q4_0, Shape{}, t, vector, true, what);
    }
    check(GgmlType::F32, partial_rotary, 1, vector, true, what);
  }
  Shape wide;  // rows of whole 256-element super-blocks for Q4_0_X8
  wide.n_embd = 256;
  vector = {};
  vector.kernel = ops::MatmulKernel::Vector;
  check(GgmlType::Q4_0_X8, wide, 1, vector, true, "fused");
  vector.int8_activations = true;
  for (uint32_t t : {1u, 3u}) check(GgmlType::Q4_0_X8, wide, t, vector, true, "fused int8");
  vector.vector_rows = 4;
  check(GgmlType::Q4_0_X8, wide, 1, vector, true, "fused int8, 4 rows per subgroup");
}

TEST_F(QkvProjection, FallbackMatchesTheReference) {
  ops::MatmulOptions tiled;
  tiled.kernel = ops::MatmulKernel::Tiled;
  check(GgmlType::F16, Shape{}, 3, tiled, false, "tiled");
  ops::MatmulOptions odd_rows;  // row pairs would straddle workgroup steps
  odd_rows.kernel = ops::MatmulKernel::Vector;
  odd_rows.vector_rows = 3;
  check(GgmlType::Q4_0, Shape{}, 1, odd_rows, false, "three rows per workgroup");
}

TEST_F(QkvProjection, NeoxRopeAndF32CachesTakeTheFallback) {
  const vk::Buffer w = make_zeroed(64 * 64 * 4, "w");
  const ops::WeightView view{&w, 0, GgmlType::F32, 64, 64};
  const ops::QkvWeights weights{&view, &view, &view};
  ops::MatmulOptions vector;
  vector.kernel = ops::MatmulKernel::Vector;
  ops::RopeParams rope;
  rope.head_dim = rope.rope_dim = 16;
  ops::KvStoreParams store;
  EXPECT_TRUE(ops::qkv_projection_fused(device().info(), weights, 1, rope, store, vector));
  rope.mode = ops::RopeMode::Neox;
  EXPECT_FALSE(ops::qkv_projection_fused(device().info(), weights, 1, rope, store, vector));
  rope.mode = ops::RopeMode::Normal;
  store.dtype = KvDtype::F32;
  EXPECT_FALSE(ops::qkv_projection_fused(device().info(), weights, 1, rope, store, vector));
}

}  // namespace
}  // namespace ckv::test
