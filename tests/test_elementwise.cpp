// SiLU-gated product and residual add against double-precision C++ references.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops/elementwise.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

double silu_mul_reference(float g, float u) { return double(g) / (1.0 + std::exp(-double(g))) * double(u); }

// Tolerance of silu(g) * u in fp32: GLSL's exp is accurate to 3 + 2|g| ulp, then one add, one divide (2.5 ulp)
// and one multiply: relative error below (8 + 2|g|) * 2^-24. Vulkan lets a device flush denormals to zero, and a
// divide may go through the reciprocal: for g < -87, 1 / (1 + exp(-g)) is denormal, so |g| * 2^-125 may be lost.
double silu_mul_tolerance(float g, double want) {
  return std::abs(want) * (8.0 + 2.0 * std::abs(g)) * 0x1p-24 + std::abs(g) * 0x1p-125;
}

class SiluMul : public GpuTest {
 protected:
  void check(const std::vector<float>& gate, const std::vector<float>& up, const std::vector<float>& got,
             const std::string& what) {
    ASSERT_EQ(got.size(), gate.size());
    size_t bad = 0;
    for (size_t i = 0; i < gate.size(); ++i) {
      const double want = silu_mul_reference(gate[i], up[i]);
      if (!(std::abs(got[i] - want) <= silu_mul_tolerance(gate[i], want)) && bad++ < 5)
        ADD_FAILURE() << what << ": element " << i << " gate " << gate[i] << " got " << got[i] << " want " << want;
    }
    EXPECT_EQ(bad, 0u) << what;
  }

  void run_and_check(const std::vector<float>& gate, const std::vector<float>& up, const std::string& what) {
    const uint32_t n = uint32_t(gate.size());
    vk::Buffer g = make_buffer(gate, "gate");
    vk::Buffer u = make_buffer(up, "up");
    vk::Buffer out = make_zeroed(n * 4, "out");
    vk::CommandStream stream(device());
    ops::record_silu_mul(ctx(), stream, g, u, out, n);
    stream.submit_and_wait();
    check(gate, up, read<float>(out, n), what);
  }
};

TEST_F(SiluMul, RandomSizesNotMultiplesOfTheWorkgroup) {
  // 1001: scalar kernel; 4100: vec4 kernel with 1025 vectors (a partial last workgroup either way).
  for (uint32_t n : {1001u, 4100u, 3u})
    run_and_check(random_floats(n, n, -8.0f, 8.0f), random_floats(n, n + 1, -2.0f, 2.0f), "n " + std::to_string(n));
}

TEST_F(SiluMul, StructuredGates) {
  // Saturation both ways (exp(-g) overflows for g < -88), zero, tiny and moderate values.
  const std::vector<float> gate = {-100.0f, -88.5f, -20.0f, -1.0f, -1e-3f, 0.0f, 1e-3f, 1.0f, 20.0f, 100.0f, 5.5f};
  run_and_check(gate, std::vector<float>(gate.size(), 1.0f), "up = 1");
  run_and_check(gate, random_floats(gate.size(), 5, -3.0f, 3.0f), "random up");
}

TEST_F(SiluMul, InPlaceIntoGate) {
  const uint32_t n = 777;
  const std::vector<float> gate = random_floats(n, 6, -6.0f, 6.0f);
  const std::vector<float> up = random_floats(n, 7);
  vk::Buffer g = make_buffer(gate, "gate");
  vk::Buffer u = make_buffer(up, "up");
  vk::CommandStream stream(device());
  ops::record_silu_mul(ctx(), stream, g, u, g, n);
  stream.submit_and_wait();
  check(gate, up, read<float>(g, n), "in place");
}

TEST_F(SiluMul, RejectsBadArguments) {
  vk::Buffer a = make_zeroed(64 * 4);
  vk::Buffer small = make_zeroed(32 * 4);
  vk::CommandStream stream(device());
  EXPECT_NO_THROW(ops::record_silu_mul(ctx(), stream, a, a, a, 64));
  EXPECT_THROW(ops::record_silu_mul(ctx(), stream, a, small, a, 64), std::invalid_argument);
  EXPECT_THROW(ops::record_silu_mul(ctx(), stream, a, a, small, 64), std::invalid_argument);
  EXPECT_THROW(ops::record_silu_mul(ctx(), stream, a, a, vk::BufferRange(), 64), std::invalid_argument);
  stream.submit_and_wait();
}

class Add : public GpuTest {};

// a + b in fp32 is the correctly rounded sum: the GPU must match float(double(a) + double(b)) bit for bit.
std::vector<float> add_reference(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = float(double(a[i]) + double(b[i]));
  return out;
}

TEST_F(Add, RandomSizesNotMultiplesOfTheWorkgroup) {
  for (uint32_t n : {1001u, 4100u, 1u}) {
    const std::vector<float> a = random_floats(n, n, -100.0f, 100.0f);
    const std::vector<float> b = random_floats(n, n + 3, -1.0f, 1.0f);
    vk::Buffer ab = make_buffer(a, "a");
    vk::Buffer bb = make_buffer(b, "b");
    vk::Buffer out = make_zeroed(n * 4, "out");
    vk::CommandStream stream(device());
    ops::record_add(ctx(), stream, ab, bb, out, n);
    stream.submit_and_wait();
    EXPECT_EQ(read<float>(out, n), add_reference(a, b)) << "n " << n;
  }
}

TEST_F(Add, InPlaceAndAtOffsets) {
  // The residual stream: out = a, and operands that start inside larger buffers.
  const uint32_t n = 300;
  const std::vector<float> a = random_floats(n, 8, -5.0f, 5.0f);
  const std::vector<float> b = random_floats(n, 9, -5.0f, 5.0f);
  vk::Buffer ab = make_buffer(a, "a");
  vk::Buffer bb = make_buffer(b, "b");
  vk::CommandStream stream(device());
  ops::record_add(ctx(), stream, ab, bb, ab, n);
  stream.submit_and_wait();
  EXPECT_EQ(read<float>(ab, n), add_reference(a, b)) << "in place";

  const uint64_t align = std::max<uint64_t>(device().info().min_storage_buffer_offset_alignment, 4);
  const uint32_t skip = uint32_t(align / 4);  // floats before the operands
  std::vector<float> padded_a(skip, -1.0f), padded_b(skip, -2.0f);
  padded_a.insert(padded_a.end(), a.begin(), a.end());
  padded_b.insert(padded_b.end(), b.begin(), b.end());
  vk::Buffer pa = make_buffer(padded_a, "padded a");
  vk::Buffer pb = make_buffer(padded_b, "padded b");
  ops::record_add(ctx(), stream, vk::BufferRange(pa, align, n * 4), vk::BufferRange(pb, align, n * 4),
                  vk::BufferRange(pb, align, n * 4), n - 1);  // n - 1: the last element stays b
  stream.submit_and_wait();
  std::vector<float> want = padded_b;
  for (uint32_t i = 0; i + 1 < n; ++i) want[skip + i] = float(double(a[i]) + double(b[i]));
  EXPECT_EQ(read<float>(pb, padded_b.size()), want) << "at an offset, in place into b";
}

TEST_F(Add, RejectsBadArguments) {
  vk::Buffer a = make_zeroed(64 * 4);
  vk::CommandStream stream(device());
  EXPECT_THROW(ops::record_add(ctx(), stream, a, a, a, 65), std::invalid_argument);
  EXPECT_THROW(ops::record_add(ctx(), stream, vk::BufferRange(a, 0, 16), a, a, 8), std::invalid_argument);
  EXPECT_NO_THROW(ops::record_add(ctx(), stream, a, a, a, 0));
  stream.submit_and_wait();
}

}  // namespace
}  // namespace ckv::test
