// Matrix-vector and tiled matrix-matrix products straight from ggml weight blocks, against a double-precision
// reference over the CPU-dequantized weights. Tolerance: matmul_tolerance() (2e-6 · sqrt(K) of Σ|w·x| for every
// type, since the kernels see the reference's exact dequantized values); one-hot inputs must match exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>

#include "engine/ops/copy.hpp"
#include "engine/ops/get_rows.hpp"
#include "engine/ops/matmul.hpp"
#include "gpu_env.hpp"
#include "matmul_helpers.hpp"

namespace ckv::test {
namespace {

using ops::MatmulKernel;
using ops::MatmulOptions;

constexpr float kSentinel = -12345.0f;

struct Case {
  uint32_t t = 1;
  uint32_t x_pad = 4;  // x row stride = k + x_pad
  uint32_t y_pad = 3;  // y row stride = n + y_pad
  bool accumulate = false;
  uint64_t w_offset = 0;  // bytes of other data before the weight in its buffer
  MatmulOptions options;
};

std::string describe(const TestWeight& w, const Case& c) {
  const char* kernels[] = {"auto", "vector", "tiled", "lanes"};
  return type_label(w.type) + " k=" + std::to_string(w.k) + " n=" + std::to_string(w.n) + " t=" + std::to_string(c.t) +
         " kernel=" + kernels[int(c.options.kernel)] + (c.options.subgroup_ops ? "" : " shared-reduce") +
         (c.options.large_tiles ? "" : " small-tiles") + (c.accumulate ? " accumulate" : "") +
         " w_offset=" + std::to_string(c.w_offset) + " max_piece=" + std::to_string(c.options.max_piece_bytes);
}

class Matmul : public GpuTest {
 protected:
  vk::Buffer upload_weight(const TestWeight& w, uint64_t offset) {
    std::vector<uint8_t> bytes(offset, 0xA5);  // other data before the tensor
    bytes.insert(bytes.end(), w.bytes.begin(), w.bytes.end());
    return make_buffer(bytes, "test weight");
  }

  // Runs the product and returns all of Y ([t][n + y_pad], starting from y_init or the sentinel).
  std::vector<float> run(const TestWeight& w, const std::vector<float>& x, const Case& c,
                         const std::vector<float>& y_init = {}) {
    const uint32_t x_stride = w.k + c.x_pad, y_stride = w.n + c.y_pad;
    const vk::Buffer weight = upload_weight(w, c.w_offset);
    const vk::Buffer xb = make_buffer(x, "x");
    std::vector<float> y0 = y_init.empty() ? std::vector<float>(size_t(c.t) * y_stride, kSentinel) : y_init;
    const vk::Buffer yb = make_buffer(y0, "y");
    vk::CommandStream stream(device());
    ops::record_matmul(ctx(), stream, ops::WeightView{&weight, c.w_offset, w.type, w.k, w.n}, xb, c.t, x_stride, yb,
                       y_stride, c.accumulate, c.options);
    stream.submit_and_wait();
    return read<float>(yb, y0.size());
  }

  std::vector<float> random_x(const TestWeight& w, const Case& c, uint32_t seed) {
    return random_floats(size_t(c.t) * (w.k + c.x_pad), seed, -1.0f, 1.0f);
  }

  // Compares Y with the reference (+ y_init when accumulating) and checks the padding columns were not written.
  void check(const TestWeight& w, const std::vector<float>& x, const Case& c, const std::vector<float>& got,
             const std::vector<float>& y_init = {}) {
    const uint32_t x_stride = w.k + c.x_pad, y_stride = w.n + c.y_pad;
    const MatmulReference ref = matmul_reference(w, x, c.t, x_stride);
    size_t bad = 0;
    double worst_ratio = 0;
    for (uint32_t i = 0; i < c.t; ++i) {
      for (uint32_t j = 0; j < w.n; ++j) {
        const size_t yi = size_t(i) * y_stride + j;
        double want = ref.y[size_t(i) * w.n + j];
        double tol = matmul_tolerance(w.k, ref.abs_sum[size_t(i) * w.n + j]);
        if (c.accumulate) {
          want += y_init[yi];
          tol += 1.2e-7 * std::abs(want);
        }
        const double err = std::abs(double(got[yi]) - want);
        worst_ratio = std::max(worst_ratio, err / tol);
        if (!(err <= tol) && bad++ < 5)
          ADD_FAILURE() << describe(w, c) << ": y[" << i << "][" << j << "] = " << got[yi] << ", want " << want
                        << " (tolerance " << tol << ")";
      }
      for (uint32_t j = w.n; j < y_stride; ++j) {
        const size_t yi = size_t(i) * y_stride + j;
        const float untouched = y_init.empty() ? kSentinel : y_init[yi];
        if (got[yi] != untouched && bad++ < 5) ADD_FAILURE() << describe(w, c) << ": padding y[" << i << "][" << j << "] written";
      }
    }
    EXPECT_EQ(bad, 0u) << describe(w, c) << " worst error / tolerance " << worst_ratio;
  }

  void run_and_check(const TestWeight& w, const Case& c, uint32_t seed) {
    const std::vector<float> x = random_x(w, c, seed);
    check(w, x, c, run(w, x, c));
  }
};

class MatmulTypes : public Matmul, public ::testing::WithParamInterface<GgmlType> {
 protected:
  // K = 3 blocks of 32 (types with 32-element blocks) and 3 super-blocks of 256 (every type).
  std::vector<uint32_t> ks() const {
    if (quant::block_layout(GetParam()).block_size == 256) return {768};
    return {96, 768};
  }
};

TEST_P(MatmulTypes, RandomInputsEveryTokenCountBothKernels) {
  for (uint32_t k : ks()) {
    const TestWeight w = make_weight(GetParam(), k, 67, 100 + k);  // n = 67: not a multiple of any tile
    for (uint32_t t : {1u, 2u, 7u, 64u, 130u})
      for (MatmulKernel kernel : {MatmulKernel::Auto, MatmulKernel::Vector, MatmulKernel::Tiled, MatmulKernel::Lanes}) {
        if (kernel == MatmulKernel::Vector && t > 4 && k != 96) continue;  // chunks of 4: covered at k = 96
        if (kernel == MatmulKernel::Lanes && !ops::lane_rows_supported(device().info())) continue;
        Case c;
        c.t = t;
        c.options.kernel = kernel;
        run_and_check(w, c, t * 31 + k);
      }
  }
}

TEST_P(MatmulTypes, RandomBlockBytes) {
  const TestWeight w = make_weight(GetParam(), 768, 45, 7, WeightSource::RandomBytes);
  for (uint32_t t : {1u, 5u, 130u}) {
    Case c;
    c.t = t;
    run_and_check(w, c, t);
  }
}

TEST_P(MatmulTypes, SharedMemoryReductionAndSmallTiles) {
  const TestWeight w = make_weight(GetParam(), 768, 37, 3);
  Case c;
  c.options.subgroup_ops = false;
  c.options.kernel = MatmulKernel::Vector;
  for (uint32_t t : {1u, 3u, 6u}) {
    c.t = t;
    run_and_check(w, c, 40 + t);
  }
  c.options = {};
  c.options.kernel = MatmulKernel::Tiled;
  c.options.large_tiles = false;
  c.t = 130;
  run_and_check(w, c, 50);
}

TEST_P(MatmulTypes, OneHotInputSelectsAColumnExactly) {
  const uint32_t k = ks().back();
  const TestWeight w = make_weight(GetParam(), k, 67, 21, WeightSource::RandomBytes);
  for (uint32_t t : {1u, 3u, 70u}) {  // matvec (1 and up to 4 vectors) and tiled
    Case c;
    c.t = t;
    c.x_pad = 0;
    c.y_pad = 0;
    std::vector<float> x(size_t(t) * k, 0.0f);
    std::vector<uint32_t> column(t);
    for (uint32_t i = 0; i < t; ++i) {
      column[i] = (i * 113 + 5) % k;
      x[size_t(i) * k + column[i]] = 1.0f;
    }
    const std::vector<float> y = run(w, x, c);
    size_t bad = 0;
    for (uint32_t i = 0; i < t; ++i)
      for (uint32_t j = 0; j < w.n; ++j)
        if (y[size_t(i) * w.n + j] != w.values[size_t(j) * k + column[i]] && bad++ < 5)
          ADD_FAILURE() << describe(w, c) << ": y[" << i << "][" << j << "] = " << y[size_t(i) * w.n + j]
                        << ", want W[" << j << "][" << column[i] << "] = " << w.values[size_t(j) * k + column[i]];
    EXPECT_EQ(bad, 0u);
  }
}

TEST_P(MatmulTypes, AllOnesInputGivesRowSums) {
  const TestWeight w = make_weight(GetParam(), ks().back(), 67, 22);
  for (uint32_t t : {1u, 9u}) {
    Case c;
    c.t = t;
    const std::vector<float> x(size_t(t) * (w.k + c.x_pad), 1.0f);
    const std::vector<float> y = run(w, x, c);
    check(w, x, c, y);
    // The reference above is the row sum; spot-check it is one.
    double row0 = 0;
    for (uint32_t kk = 0; kk < w.k; ++kk) row0 += w.values[kk];
    EXPECT_NEAR(y[0], row0, matmul_tolerance(w.k, w.k * 4.0));
  }
}

TEST_P(MatmulTypes, AccumulateAddsToY) {
  const TestWeight w = make_weight(GetParam(), ks().front(), 67, 23);
  for (uint32_t t : {1u, 4u, 70u}) {
    Case c;
    c.t = t;
    c.accumulate = true;
    const std::vector<float> x = random_x(w, c, 60 + t);
    const std::vector<float> y0 = random_floats(size_t(t) * (w.n + c.y_pad), 70 + t, -3.0f, 3.0f);
    check(w, x, c, run(w, x, c, y0), y0);
  }
}

// Small pieces and a weight that starts at an unaligned offset: every piece binds from an aligned offset below its
// first row (base > 0) and rows of odd-word sizes start at 2 mod 4 bytes.
TEST_P(MatmulTypes, SplitIntoPiecesAtAnUnalignedOffset) {
  const uint32_t k = ks().front();
  const TestWeight w = make_weight(GetParam(), k, 67, 24);
  const uint64_t row_bytes = quant::row_bytes(w.type, k);
  for (uint32_t t : {1u, 3u, 70u}) {
    Case c;
    c.t = t;
    c.w_offset = 20;
    c.options.max_piece_bytes = 5 * row_bytes + 40;
    const ops::WeightView view{nullptr, c.w_offset, w.type, w.k, w.n};
    vk::Buffer probe(device(), c.w_offset + w.bytes.size(), vk::MemoryKind::DeviceLocal, "probe");
    ops::WeightView v = view;
    v.buffer = &probe;
    const auto pieces = ops::split_weight(device().info(), v, "test", c.options.max_piece_bytes);
    ASSERT_GE(pieces.size(), 10u);
    bool some_base = false;
    for (const auto& p : pieces) {
      EXPECT_EQ(p.bind_offset % device().info().min_storage_buffer_offset_alignment, 0u);
      EXPECT_LE(p.bind_bytes, c.options.max_piece_bytes);
      some_base |= p.base != 0;
    }
    EXPECT_TRUE(some_base);
    run_and_check(w, c, 80 + t);
  }
}

INSTANTIATE_TEST_SUITE_P(Matmul, MatmulTypes, ::testing::ValuesIn(device_kernel_types()),
                         [](const auto& info) { return type_label(info.param); });

// Q4_0_X8 products of one vector on int8 activations (MatmulOptions::int8_activations): within the rounding bound
// of int8_activation_bound on random inputs, for every workgroup shape, rows per subgroup and workgroup count (1:
// one workgroup takes every row in grid stride), and exact where x is whole numbers up to 127 with a 127 in every
// block and the weights' scales are powers of two (every partial sum is then exact in fp32).
class MatvecInt8 : public Matmul {
 protected:
  void SetUp() override {
    Matmul::SetUp();
    const vk::DeviceInfo& dev = device().info();
    if (!dev.integer_dot_product || !dev.subgroup_arithmetic || !dev.subgroup_shuffle || dev.min_subgroup_size < 8)
      GTEST_SKIP() << dev.name << " has no integer dot products, subgroup arithmetic or shuffles, or subgroups of < 8";
  }

  static MatmulOptions int8_options() {
    MatmulOptions o;
    o.kernel = MatmulKernel::Vector;
    o.int8_activations = true;
    return o;
  }

  void check_int8(const TestWeight& w, const std::vector<float>& x, const Case& c, const std::vector<float>& got,
                  const std::vector<float>& y_init = {}) {
    ASSERT_TRUE(ops::matmul_uses_int8_activations(device().info(), {nullptr, 0, w.type, w.k, w.n}, 1, c.options));
    const MatmulReference ref = matmul_reference(w, x, 1, w.k + c.x_pad);
    const std::vector<double> xd(x.begin(), x.begin() + w.k);
    size_t bad = 0;
    for (uint32_t j = 0; j < w.n; ++j) {
      const double want = ref.y[j] + (c.accumulate ? y_init[j] : 0.0);
      const double tol = matmul_tolerance(w.k, ref.abs_sum[j]) + int8_activation_bound(w, j, xd.data()) +
                         (c.accumulate ? 1.2e-7 * std::abs(want) : 0.0);
      if (!(std::abs(got[j] - want) <= tol) && bad++ < 5)
        ADD_FAILURE() << describe(w, c) << " threads " << c.options.vector_threads << " rows " << c.options.vector_rows
                      << " workgroups " << c.options.vector_workgroups << ": y[" << j << "] = " << got[j] << ", want "
                      << want << " (tolerance " << tol << ")";
    }
    for (uint32_t j = w.n; j < w.n + c.y_pad; ++j)
      if (got[j] != (c.accumulate ? y_init[j] : kSentinel) && bad++ < 5) ADD_FAILURE() << "padding y[" << j << "] written";
    EXPECT_EQ(bad, 0u) << describe(w, c);
  }
};

TEST_F(MatvecInt8, RandomInputsEveryShapeWithinTheRoundingBound) {
  // k = 4352: 136 blocks, not a multiple of any subgroup's blocks per step.
  for (uint32_t k : {256u, 768u, 4352u})
    for (WeightSource source : {WeightSource::Quantized, WeightSource::RandomBytes}) {
      const TestWeight w = make_weight(GgmlType::Q4_0_X8, k, 67, k + uint32_t(source), source);
      for (uint32_t threads : {32u, 128u, 256u})
        for (uint32_t rows : {1u, 2u, 3u})
          for (uint32_t workgroups : {1u, 0u})
            for (uint32_t batch : {0u, 1u, 3u}) {  // blocks per lane per step (0: the default for k)
              if (k == 4352 && (threads != 128 || rows == 3)) continue;  // the long rows once per row count
              if (batch && (k != 4352 || workgroups)) continue;
              Case c;
              c.options = int8_options();
              c.options.vector_threads = threads;
              c.options.vector_rows = rows;
              c.options.vector_workgroups = workgroups;
              c.options.vector_batch = batch;
              c.options.vector_x_loads = batch;  // x's loads per invocation before rounding: 1 and 3 too
              const std::vector<float> x = random_x(w, c, k + threads + rows);
              check_int8(w, x, c, run(w, x, c));
            }
    }
}

TEST_F(MatvecInt8, WholeNumbersAndPowerOfTwoScalesAreExact) {
  const uint32_t k = 768, n = 37;
  TestWeight w = make_weight(GgmlType::Q4_0_X8, k, n, 5, WeightSource::RandomBytes);
  std::mt19937 rng(6);
  for (size_t super = 0; super < w.bytes.size() / 144; ++super)
    for (uint32_t j = 0; j < 8; ++j) {
      const uint16_t d = float_to_half(std::ldexp((rng() & 1) ? -1.0f : 1.0f, -4 - int(rng() % 2)));
      std::memcpy(&w.bytes[super * 144 + 128 + 2 * j], &d, 2);
    }
  w.values = quant::dequantize(w.type, w.bytes, size_t(k) * n);
  Case c;
  c.options = int8_options();
  std::vector<float> x(k + c.x_pad, 0.0f);
  for (uint32_t i = 0; i < k; ++i) x[i] = float(int(rng() % 255) - 127);
  for (uint32_t b = 0; b < k / 32; ++b) x[32 * b + (b * 7) % 32] = (b & 1) ? 127.0f : -127.0f;
  const MatmulReference ref = matmul_reference(w, x, 1, k + c.x_pad);
  // Values 0.3 off a whole number round back to it (the scale stays 1): the int8 kernel's result is unchanged.
  std::vector<float> x_off = x;
  for (uint32_t b = 0; b < k / 32; ++b) x_off[32 * b + (b * 7 + 3) % 32] += 0.3f;
  for (const std::vector<float>* input : {&x, &x_off}) {
    const std::vector<float> got = run(w, *input, c);
    for (uint32_t j = 0; j < n; ++j) ASSERT_EQ(double(got[j]), ref.y[j]) << "row " << j;
  }
}

TEST_F(MatvecInt8, AccumulatePiecesAndOffsets) {
  const uint32_t k = 512;
  const TestWeight w = make_weight(GgmlType::Q4_0_X8, k, 67, 8);
  const uint64_t row_bytes = quant::row_bytes(w.type, k);
  for (uint64_t offset : {0ull, 16ull * 7, 20ull}) {  // 20: rows off 16-byte boundaries take the fp32 kernel
    Case c;
    c.options = int8_options();
    c.accumulate = true;
    c.w_offset = offset;
    c.options.max_piece_bytes = 9 * row_bytes + 256;
    const std::vector<float> x = random_x(w, c, 9 + uint32_t(offset));
    const std::vector<float> y0 = random_floats(w.n + c.y_pad, 10, -3.0f, 3.0f);
    const std::vector<float> got = run(w, x, c, y0);
    if (offset % 16 == 0)
      check_int8(w, x, c, got, y0);
    else
      check(w, x, c, got, y0);
  }
}

TEST_F(MatvecInt8, TakenOnlyForOneVectorOfQ4_0_X8) {
  const vk::DeviceInfo& dev = device().info();
  const MatmulOptions on = int8_options();
  MatmulOptions off = on;
  off.int8_activations = false;
  MatmulOptions shared_reduce = on;
  shared_reduce.subgroup_ops = false;
  const ops::WeightView x8{nullptr, 0, GgmlType::Q4_0_X8, 4096, 64}, q4{nullptr, 0, GgmlType::Q4_0, 4096, 64};
  EXPECT_TRUE(ops::matmul_uses_int8_activations(dev, x8, 1, on));
  EXPECT_FALSE(ops::matmul_uses_int8_activations(dev, x8, 2, on));
  EXPECT_FALSE(ops::matmul_uses_int8_activations(dev, q4, 1, on));
  EXPECT_FALSE(ops::matmul_uses_int8_activations(dev, x8, 1, off));
  EXPECT_FALSE(ops::matmul_uses_int8_activations(dev, x8, 1, shared_reduce));
  // x rounded to int8 must fit shared memory: k bytes and 8 per block.
  const ops::WeightView too_wide{nullptr, 0, GgmlType::Q4_0_X8, dev.shared_memory_bytes / 256 * 256, 4};
  EXPECT_FALSE(ops::matmul_uses_int8_activations(dev, too_wide, 1, on));
}

// F32/F16 rows of any multiple of 4 elements, not of 32: k = 172 is the FFN width of llama2.c's stories260K
// (8 * 21 + 4: matvec's last unit and the tiled kernel's last 8-group are half full), 4 and 12 shorter than one
// unit or tile group, 200 a multiple of 8 but not of 32 (the tiled kernel's last k step is partial).
class MatmulPlainK : public Matmul, public ::testing::WithParamInterface<GgmlType> {};

TEST_P(MatmulPlainK, RowsOfAnyMultipleOfFour) {
  for (uint32_t k : {4u, 12u, 172u, 200u}) {
    const TestWeight w = make_weight(GetParam(), k, 67, 300 + k);
    for (uint32_t t : {1u, 3u, 70u})
      for (MatmulKernel kernel : {MatmulKernel::Vector, MatmulKernel::Tiled}) {
        if (kernel == MatmulKernel::Vector && t > 4) continue;
        Case c;
        c.t = t;
        c.options.kernel = kernel;
        run_and_check(w, c, t * 17 + k);
      }
  }
}

TEST_P(MatmulPlainK, TailWithSharedReductionSmallTilesAccumulateAndPieces) {
  const uint32_t k = 172;
  const TestWeight w = make_weight(GetParam(), k, 37, 11);
  Case c;
  c.options.subgroup_ops = false;
  c.options.kernel = MatmulKernel::Vector;
  for (uint32_t t : {1u, 4u}) {
    c.t = t;
    run_and_check(w, c, 90 + t);
  }
  c.options = {};
  c.options.large_tiles = false;
  c.t = 20;
  run_and_check(w, c, 95);
  for (uint32_t t : {1u, 20u}) {
    Case a;
    a.t = t;
    a.accumulate = true;
    a.w_offset = 8;
    a.options.max_piece_bytes = 3 * quant::row_bytes(w.type, k) + 40;
    const std::vector<float> x = random_x(w, a, 100 + t);
    const std::vector<float> y0 = random_floats(size_t(t) * (w.n + a.y_pad), 110 + t, -3.0f, 3.0f);
    check(w, x, a, run(w, x, a, y0), y0);
  }
}

// Matrix-vector shapes of a benchmark sweep, with 16-byte loads (rows of 200 elements: 400/800 bytes, 16-byte
// aligned at offsets 0 and 16) and without them (offset 8, or the option off).
TEST_P(MatmulPlainK, VectorShapesAndWideLoads) {
  const TestWeight w = make_weight(GetParam(), 200, 45, 41);
  const uint32_t shapes[][2] = {{32, 1}, {64, 4}, {256, 8}, {128, 2}};
  for (const auto& shape : shapes)
    for (uint64_t offset : {0u, 8u, 16u})
      for (bool wide : {true, false})
        for (uint32_t t : {1u, 3u}) {
          Case c;
          c.t = t;
          c.w_offset = offset;
          c.options.kernel = MatmulKernel::Vector;
          c.options.vector_threads = shape[0];
          c.options.vector_rows = shape[1];
          c.options.vector_wide_loads = wide;
          SCOPED_TRACE(std::to_string(shape[0]) + " threads x " + std::to_string(shape[1]) + " rows, wide " +
                       std::to_string(wide));
          run_and_check(w, c, 200 + t + uint32_t(offset));
        }
  Case bad;
  bad.options.kernel = MatmulKernel::Vector;
  bad.options.vector_threads = 96;  // not a power of two
  EXPECT_THROW(run(w, random_x(w, bad, 1), bad), std::invalid_argument);
}

TEST_P(MatmulPlainK, OneHotInputSelectsTheLastColumnsExactly) {
  const uint32_t k = 172;
  const TestWeight w = make_weight(GetParam(), k, 67, 31, WeightSource::RandomBytes);
  for (uint32_t t : {1u, 3u, 24u}) {
    Case c;
    c.t = t;
    c.x_pad = 0;
    c.y_pad = 0;
    std::vector<float> x(size_t(t) * k, 0.0f);
    for (uint32_t i = 0; i < t; ++i) x[size_t(i) * k + (k - 1 - i % 6)] = 1.0f;  // columns 166..171: the tail
    const std::vector<float> y = run(w, x, c);
    size_t bad = 0;
    for (uint32_t i = 0; i < t; ++i)
      for (uint32_t j = 0; j < w.n; ++j) {
        const float want = w.values[size_t(j) * k + (k - 1 - i % 6)];
        if (y[size_t(i) * w.n + j] != want && bad++ < 5)
          ADD_FAILURE() << describe(w, c) << ": y[" << i << "][" << j << "] = " << y[size_t(i) * w.n + j] << ", want "
                        << want;
      }
    EXPECT_EQ(bad, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Matmul, MatmulPlainK, ::testing::Values(GgmlType::F32, GgmlType::F16),
                         [](const auto& info) { return type_label(info.param); });

// A weight larger than maxStorageBufferRange (128 MiB on lavapipe): Q8_0 [4096, 33000] is 143.6 MB. Only rows on
// either side of each split (and the first and last) are checked against the CPU, for matvec and get_rows.
TEST_F(Matmul, WeightLargerThanOneBindingIsSplit) {
  const uint32_t k = 4096, n = 33000;
  const GgmlType type = GgmlType::Q8_0;
  const uint64_t row_bytes = quant::row_bytes(type, k);
  if (device().info().max_storage_buffer_range >= row_bytes * n)
    GTEST_SKIP() << "the device binds " << device().info().max_storage_buffer_range << " bytes at once";
  std::vector<uint8_t> bytes = random_weight_bytes(type, k, n, 99);
  const vk::Buffer weight = make_buffer(bytes, "big weight");
  const ops::WeightView view{&weight, 0, type, k, n};
  const auto pieces = ops::split_weight(device().info(), view, "test");
  ASSERT_GE(pieces.size(), 2u);

  std::vector<uint32_t> rows = {0, 1, n - 2, n - 1};
  for (size_t i = 1; i < pieces.size(); ++i)
    for (int d = -3; d < 3; ++d) rows.push_back(uint32_t(int64_t(pieces[i].first_row) + d));

  const std::vector<float> x = random_floats(k, 5, -0.5f, 0.5f);
  const vk::Buffer xb = make_buffer(x, "x");
  const vk::Buffer yb = make_zeroed(4ull * n, "y");
  const vk::Buffer ids = make_buffer(rows, "ids");
  const vk::Buffer emb = make_zeroed(4ull * k * rows.size(), "rows");
  vk::CommandStream stream(device());
  ops::record_matmul(ctx(), stream, view, xb, 1, k, yb, n);
  ops::record_get_rows(ctx(), stream, view, ids, uint32_t(rows.size()), emb);
  stream.submit_and_wait();
  const std::vector<float> y = read<float>(yb, n);
  const std::vector<float> got_rows = read<float>(emb, size_t(k) * rows.size());

  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<float> w_row = quant::dequantize_row(type, bytes, k, rows[r]);
    double want = 0, abs_sum = 0;
    for (uint32_t c = 0; c < k; ++c) {
      want += double(w_row[c]) * x[c];
      abs_sum += std::abs(double(w_row[c]) * x[c]);
    }
    EXPECT_NEAR(y[rows[r]], want, matmul_tolerance(k, abs_sum)) << "row " << rows[r];
    EXPECT_TRUE(std::equal(w_row.begin(), w_row.end(), got_rows.begin() + r * k)) << "get_rows row " << rows[r];
  }
}

// Throughput probe for real GPUs, disabled by default (run with --gtest_also_run_disabled_tests): matvec on a
// Llama-3-8B FFN-sized weight [4096, 14336] per type, as weight GB/s next to the copy kernel's read+write GB/s,
// and the tiled product on a 512-token batch in TFLOP/s. Checks a few outputs so that a broken kernel fails.
TEST_F(Matmul, BadArgumentsAreClearErrors) {
  const TestWeight w = make_weight(GgmlType::Q4_K, 256, 4, 1);
  const vk::Buffer weight = make_buffer(w.bytes, "w");
  const vk::Buffer x = make_zeroed(4 * 256 * 2, "x");
  const vk::Buffer y = make_zeroed(4 * 4 * 2, "y");
  vk::CommandStream stream(device());
  auto expect_error = [&](const ops::WeightView& view, uint32_t t, uint32_t xs, const vk::BufferRange& yr,
                          uint32_t ys, const std::string& needle) {
    try {
      ops::record_matmul(ctx(), stream, view, x, t, xs, yr, ys);
      ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const ops::WeightView good{&weight, 0, GgmlType::Q4_K, 256, 4};
  ops::WeightView v = good;
  v.type = GgmlType::Q5_K;
  expect_error(v, 1, 256, y, 4, "Q5_K");
  v = good;
  v.type = static_cast<GgmlType>(77);
  expect_error(v, 1, 256, y, 4, "type 77");
  v = good;
  v.k = 96;  // not a multiple of the 256-element super-block
  expect_error(v, 1, 256, y, 4, "multiple of 256");
  v = good;
  v.type = GgmlType::F32;
  v.k = 6;  // plain rows are read 4 elements at a time
  expect_error(v, 1, 256, y, 4, "k must be a multiple of 4");
  v = good;
  v.n = 5;  // one row more than the buffer holds
  expect_error(v, 1, 256, y, 5, "buffer 'w'");
  v = good;
  v.offset = 2;
  expect_error(v, 1, 256, y, 4, "offset");
  v = good;
  v.buffer = nullptr;
  expect_error(v, 1, 256, y, 4, "no buffer");
  expect_error(good, 0, 256, y, 4, "t = 0");
  expect_error(good, 1, 254, y, 4, "x_row_stride");
  expect_error(good, 1, 258, y, 4, "x_row_stride");  // not a multiple of 4
  expect_error(good, 3, 256, y, 4, "x needs");       // x holds 2 rows
  expect_error(good, 2, 256, vk::BufferRange(y, 0, 16), 4, "y needs");
  expect_error(good, 1, 256, y, 3, "y_row_stride");
  stream.submit_and_wait();  // nothing was recorded
}

}  // namespace
}  // namespace ckv::test
