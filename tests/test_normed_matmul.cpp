// Matrix products of an RMS-normed input (ops::record_normed_matmuls) against a double-precision reference of
// W · (x · g / sqrt(mean(x²) + eps)): the fused matrix-vector path (each product normalises x itself; with
// subgroup and with shared-memory reductions, 1 and 3 tokens, 16-byte and 4-byte weight loads, quantized weights)
// and the fallback (one norm pass into the scratch, then the products) of the lane-rows and tiled kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/ops/normed_matmul.hpp"
#include "gpu_env.hpp"
#include "matmul_helpers.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

using ops::MatmulKernel;

class NormedMatmul : public GpuTest {
 protected:
  // Runs y_p = W_p · rms_norm(x) for two weights of one type and checks both against the reference.
  void check(GgmlType type, uint32_t k, uint32_t t, const ops::MatmulOptions& options, const std::string& what) {
    SCOPED_TRACE(what + " " + type_label(type) + " k=" + std::to_string(k) + " t=" + std::to_string(t));
    const float eps = 1e-5f;
    const TestWeight w1 = make_weight(type, k, 37, 3), w2 = make_weight(type, k, 64, 4);
    std::vector<float> x = random_floats(size_t(t) * k, 5, -2.0f, 2.0f);
    for (uint32_t c = 0; c < k; c += 7) x[c] *= 20.0f;  // a few large values: the norm must not be a no-op
    const std::vector<float> gain = random_floats(k, 6, 0.5f, 1.5f);

    // The reference: normalised rows in double, then the products in double.
    const std::vector<double> xn_d = rms_norm_reference(x, gain, t, k, k, eps);
    const ops::WeightView probe{nullptr, 0, type, k, w1.n};
    const bool int8 = ops::matmul_uses_int8_activations(device().info(), probe, t, options);
    const vk::DeviceInfo& dev = device().info();
    EXPECT_EQ(int8, options.int8_activations && options.subgroup_ops && type == GgmlType::Q4_0_X8 && t == 1 &&
                        dev.integer_dot_product && dev.subgroup_arithmetic && dev.subgroup_shuffle &&
                        dev.min_subgroup_size >= 8);

    const vk::Buffer wb1 = make_buffer(w1.bytes, "w1"), wb2 = make_buffer(w2.bytes, "w2");
    const ops::WeightView v1{&wb1, 0, type, k, w1.n}, v2{&wb2, 0, type, k, w2.n};
    const vk::Buffer xb = make_buffer(x, "x"), gb = make_buffer(gain, "gain");
    const vk::Buffer xn = make_zeroed(x.size() * 4, "xn");
    vk::Buffer y1 = make_zeroed(size_t(t) * w1.n * 4, "y1"), y2 = make_zeroed(size_t(t) * w2.n * 4, "y2");
    const ops::NormedProduct products[] = {{&v1, y1, w1.n}, {&v2, y2, w2.n}};
    vk::CommandStream stream(device());
    ops::record_normed_matmuls(ctx(), stream, xb, t, k, gb, eps, xn, products, options);
    stream.submit_and_wait();

    int i_w = 0;
    for (const TestWeight* w : {&w1, &w2}) {
      const auto got = read<float>(i_w == 0 ? y1 : y2, size_t(t) * w->n);
      for (uint32_t i = 0; i < t; ++i)
        for (uint32_t j = 0; j < w->n; ++j) {
          double want = 0, abs_sum = 0;
          for (uint32_t c = 0; c < k; ++c) {
            const double p = double(w->values[size_t(j) * k + c]) * xn_d[size_t(i) * k + c];
            want += p;
            abs_sum += std::abs(p);
          }
          // The kernel's normalised x differs from the double one by a few fp32 roundings (the mean square's sum
          // in another order, inversesqrt): 4 · 2^-23 relative per element on top of the product's own bound.
          double tol = matmul_tolerance(k, abs_sum) + 5e-7 * abs_sum;
          if (int8) tol += int8_activation_bound(*w, j, &xn_d[size_t(i) * k]);
          ASSERT_NEAR(got[size_t(i) * w->n + j], want, tol) << "weight " << i_w << " token " << i << " row " << j;
        }
      ++i_w;
    }
  }
};

TEST_F(NormedMatmul, FusedMatrixVectorPath) {
  for (bool subgroup_ops : {true, false})
    for (uint32_t t : {1u, 3u}) {
      ops::MatmulOptions options;
      options.kernel = MatmulKernel::Vector;
      options.subgroup_ops = subgroup_ops;
      const std::string what = std::string("vector") + (subgroup_ops ? "" : " shared-reduce");
      check(GgmlType::F16, 256, t, options, what);   // 16-byte weight loads with subgroups
      check(GgmlType::F32, 100, t, options, what);   // rows not on 16-byte boundaries
      check(GgmlType::Q4_0, 256, t, options, what);
      check(GgmlType::Q6_K, 512, t, options, what);
      check(GgmlType::Q4_0_X8, 768, t, options, what);
      options.int8_activations = true;  // one vector: the int8-activation kernel where the device has dot products
      check(GgmlType::Q4_0_X8, 768, t, options, what + " int8");
    }
}

TEST_F(NormedMatmul, FallbackNormPassThenProducts) {
  ops::MatmulOptions tiled;
  tiled.kernel = MatmulKernel::Tiled;
  check(GgmlType::F16, 256, 5, tiled, "tiled");
  check(GgmlType::Q4_1, 256, 1, tiled, "tiled");
  check(GgmlType::Q8_0, 256, 2, {}, "auto");  // lane rows on CPU devices, matrix-vector elsewhere
}

// silu(W_gate · rms_norm(x)) * (W_up · rms_norm(x)) (ops::record_normed_swiglu) against a double reference, with
// gate and up in one buffer (up `up_offset` bytes in), on the one-pass SwiGLU kernel or on the fallback.
class NormedSwiglu : public GpuTest {
 protected:
  void check(GgmlType type, uint32_t k, uint32_t n, uint32_t t, uint64_t up_offset, const ops::MatmulOptions& options,
             bool expect_one_pass, const std::string& what) {
    SCOPED_TRACE(what + " " + type_label(type) + " k=" + std::to_string(k) + " n=" + std::to_string(n) +
                 " t=" + std::to_string(t) + " up_offset=" + std::to_string(up_offset));
    const float eps = 1e-5f;
    const TestWeight gate = make_weight(type, k, n, 11), up = make_weight(type, k, n, 12);
    ASSERT_GE(up_offset, gate.bytes.size());
    std::vector<uint8_t> both(up_offset + up.bytes.size(), 0xAB);  // the gap holds garbage the kernel must not read
    std::copy(gate.bytes.begin(), gate.bytes.end(), both.begin());
    std::copy(up.bytes.begin(), up.bytes.end(), both.begin() + up_offset);
    std::vector<float> x = random_floats(size_t(t) * k, 13, -2.0f, 2.0f);
    for (uint32_t c = 0; c < k; c += 5) x[c] *= 10.0f;
    const std::vector<float> gain = random_floats(k, 14, 0.5f, 1.5f);

    const vk::Buffer wb = make_buffer(both, "gate+up");
    const ops::WeightView gv{&wb, 0, type, k, n}, uv{&wb, up_offset, type, k, n};
    EXPECT_EQ(ops::swiglu_matvec_supported(device().info(), gv, uv, t, options), expect_one_pass);
    const vk::Buffer xb = make_buffer(x, "x"), gb = make_buffer(gain, "gain");
    const vk::Buffer xn = make_zeroed(x.size() * 4, "xn");
    vk::Buffer y = make_zeroed(size_t(t) * n * 4, "y"), up_scratch = make_zeroed(size_t(t) * n * 4, "up scratch");
    vk::CommandStream stream(device());
    ops::record_normed_swiglu(ctx(), stream, xb, t, k, gb, eps, xn, gv, uv, y, up_scratch, options);
    stream.submit_and_wait();

    const auto got = read<float>(y, size_t(t) * n);
    const std::vector<double> xn_d = rms_norm_reference(x, gain, t, k, k, eps);
    const bool int8 = ops::matmul_uses_int8_activations(device().info(), gv, t, options) && up_offset % 16 == 0;
    for (uint32_t i = 0; i < t; ++i) {
      for (uint32_t j = 0; j < n; ++j) {
        double g = 0, u = 0, g_abs = 0, u_abs = 0;
        for (uint32_t c = 0; c < k; ++c) {
          const double xn_c = xn_d[size_t(i) * k + c];
          const double pg = gate.values[size_t(j) * k + c] * xn_c, pu = up.values[size_t(j) * k + c] * xn_c;
          g += pg, u += pu, g_abs += std::abs(pg), u_abs += std::abs(pu);
        }
        const double silu = g / (1.0 + std::exp(-g)), want = silu * u;
        // Each product's own bound (as NormedMatmul), carried through silu (slope at most 1.1) and the product,
        // plus a few fp32 roundings of exp, the division and the multiplication.
        double tol_g = matmul_tolerance(k, g_abs) + 5e-7 * g_abs, tol_u = matmul_tolerance(k, u_abs) + 5e-7 * u_abs;
        if (int8) {
          tol_g += int8_activation_bound(gate, j, &xn_d[size_t(i) * k]);
          tol_u += int8_activation_bound(up, j, &xn_d[size_t(i) * k]);
        }
        const double tol = 1.1 * tol_g * (std::abs(u) + tol_u) + std::abs(silu) * tol_u + 1e-6 * std::abs(want) + 1e-12;
        ASSERT_NEAR(got[size_t(i) * n + j], want, tol) << "token " << i << " row " << j << " g " << g << " u " << u;
      }
    }
  }
};

TEST_F(NormedSwiglu, OnePassKernelMatchesReference) {
  ops::MatmulOptions vector;
  vector.kernel = MatmulKernel::Vector;
  for (bool subgroup_ops : {true, false}) {
    vector.subgroup_ops = subgroup_ops;
    const std::string what = std::string("one pass") + (subgroup_ops ? "" : " shared-reduce");
    for (uint32_t t : {1u, 3u}) {
      check(GgmlType::F16, 256, 37, t, 37 * 512 + 256, vector, true, what);  // 16-byte loads (up 16-byte aligned)
      check(GgmlType::F16, 256, 37, t, 37 * 512 + 4, vector, true, what);    // up only word aligned: 4-byte loads
      check(GgmlType::Q4_0, 256, 40, t, 40 * 144 + 2 * 4, vector, true, what);
      check(GgmlType::Q6_K, 512, 9, t, 9 * 420, vector, true, what);
      check(GgmlType::Q4_0_X8, 512, 9, t, 9 * 288 + 16, vector, true, what);
    }
  }
  vector = {};
  vector.kernel = MatmulKernel::Vector;
  vector.int8_activations = true;
  for (uint32_t t : {1u, 3u}) {  // one vector: the int8-activation kernel where the device has dot products
    check(GgmlType::Q4_0_X8, 512, 9, t, 9 * 288 + 16, vector, true, "one pass int8");
    check(GgmlType::Q4_0_X8, 512, 9, t, 9 * 288 + 4, vector, true, "one pass int8, up not 16-byte aligned");
  }
}

TEST_F(NormedSwiglu, FallsBackToProductsAndSiluPass) {
  ops::MatmulOptions tiled;
  tiled.kernel = MatmulKernel::Tiled;
  check(GgmlType::F16, 256, 37, 5, 37 * 512, tiled, false, "tiled");
  ops::MatmulOptions small_binding;  // the span of gate and up does not fit one binding
  small_binding.kernel = MatmulKernel::Vector;
  small_binding.max_piece_bytes = 16 * 1024;
  check(GgmlType::F16, 256, 37, 1, 37 * 512, small_binding, false, "split binding");
}

TEST_F(NormedSwiglu, MismatchedWeightsAreRejected) {
  const TestWeight w = make_weight(GgmlType::F32, 64, 8, 1);
  const vk::Buffer a = make_buffer(w.bytes, "a"), b = make_buffer(w.bytes, "b");
  std::vector<uint8_t> twice(w.bytes);
  twice.insert(twice.end(), w.bytes.begin(), w.bytes.end());
  const vk::Buffer ab = make_buffer(twice, "a+b");
  const ops::WeightView gate{&a, 0, GgmlType::F32, 64, 8}, up_elsewhere{&b, 0, GgmlType::F32, 64, 8};
  const ops::WeightView gate2{&ab, 0, GgmlType::F32, 64, 8}, overlapping{&ab, 64, GgmlType::F32, 64, 8};
  const ops::WeightView narrower{&ab, w.bytes.size(), GgmlType::F32, 64, 4};
  const vk::Buffer x = make_zeroed(64 * 4, "x"), g = make_zeroed(64 * 4, "g");
  vk::Buffer y = make_zeroed(8 * 4, "y");
  ops::MatmulOptions vector;
  vector.kernel = MatmulKernel::Vector;
  const ops::InputNorm norm{g, 1e-5f};
  for (const ops::WeightView* up : {&up_elsewhere, &overlapping, &narrower}) {
    const ops::WeightView& gv = up == &up_elsewhere ? gate : gate2;
    EXPECT_FALSE(ops::swiglu_matvec_supported(device().info(), gv, *up, 1, vector));
    vk::CommandStream stream(device());
    EXPECT_THROW(ops::record_swiglu_matvec(ctx(), stream, gv, *up, x, 1, 64, norm, y, 8, vector), std::invalid_argument);
  }
}

TEST_F(NormedMatmul, WeightsOfAnotherWidthAreRejected) {
  const TestWeight w = make_weight(GgmlType::F32, 64, 8, 1);
  const vk::Buffer wb = make_buffer(w.bytes, "w");
  const ops::WeightView v{&wb, 0, GgmlType::F32, 64, 8};
  const vk::Buffer x = make_zeroed(128 * 4, "x"), g = make_zeroed(128 * 4, "g"), xn = make_zeroed(128 * 4, "xn");
  vk::Buffer y = make_zeroed(8 * 4, "y");
  const ops::NormedProduct products[] = {{&v, y, 8}};
  vk::CommandStream stream(device());
  EXPECT_THROW(ops::record_normed_matmuls(ctx(), stream, x, 1, 128, g, 1e-5f, xn, products), std::invalid_argument);
}

}  // namespace
}  // namespace ckv::test
