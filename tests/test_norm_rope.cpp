// RMS norm and RoPE against double-precision C++ references.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops/norm.hpp"
#include "engine/ops/rope.hpp"
#include "gpu_env.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// RMS norm

// fp32 on the GPU: the sum of squares (relative error below width * 2^-24 even summed serially), inversesqrt
// (2 ulp) and two products make every output a relative error well below 1e-5 whatever the row's scale.
constexpr double kRmsNormRelTol = 1e-5;

void expect_relative(const std::vector<float>& got, const std::vector<double>& want, double rel_tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(double(got[i]) - want[i]);
    if (!(err <= rel_tol * std::abs(want[i]) + 1e-30) && bad++ < 5)
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  }
  EXPECT_EQ(bad, 0u) << what;
}

class RmsNorm : public GpuTest {
 protected:
  // Runs the norm out of place (into a zeroed buffer) with both reduction paths and compares the whole buffer,
  // so rows' padding must stay zero.
  void check(const std::vector<float>& x, const std::vector<float>& weight, uint32_t t, uint32_t width,
             uint32_t stride, float eps, const std::string& what) {
    const std::vector<double> want = rms_norm_reference(x, weight, t, width, stride, eps);
    std::vector<double> want_out = want;
    for (uint32_t r = 0; r < t; ++r)
      for (uint32_t i = width; i < stride; ++i) want_out[size_t(r) * stride + i] = 0.0;
    vk::Buffer x_buffer = make_buffer(x, "x");
    vk::Buffer w_buffer = make_buffer(weight, "weight");
    for (bool subgroup : {true, false}) {
      vk::Buffer y_buffer = make_zeroed(x.size() * 4, "y");
      vk::CommandStream stream(device());
      ops::record_rms_norm(ctx(), stream, x_buffer, w_buffer, y_buffer, t, width, eps, stride, subgroup);
      stream.submit_and_wait();
      expect_relative(read<float>(y_buffer, x.size()), want_out, kRmsNormRelTol,
                      what + (subgroup ? " (subgroup reduction)" : " (shared-memory reduction)"));
    }
  }
};

TEST_F(RmsNorm, RandomRowsOfSeveralWidths) {
  for (uint32_t width : {576u, 64u, 8u}) {
    const uint32_t t = 5;
    const std::vector<float> x = random_floats(size_t(t) * width, width, -3.0f, 3.0f);
    const std::vector<float> weight = random_floats(width, width + 1, 0.5f, 1.5f);
    check(x, weight, t, width, width, 1e-5f, "width " + std::to_string(width));
  }
}

TEST_F(RmsNorm, ConstantRows) {
  // x = c everywhere: y = c / sqrt(c^2 + eps) * w; c = 0 gives 0 and small c shows eps.
  const uint32_t width = 64;
  const std::vector<float> values = {0.0f, 3.5f, -1e-3f, 1e3f};
  std::vector<float> x;
  for (float c : values) x.insert(x.end(), width, c);
  const std::vector<float> weight = random_floats(width, 7, -2.0f, 2.0f);
  check(x, weight, uint32_t(values.size()), width, width, 1e-5f, "constant rows");
}

TEST_F(RmsNorm, RowWithOneHugeElement) {
  // One element dominates the sum: it maps to about sqrt(width) * w, the rest shrink by 1e-8.
  const uint32_t width = 576, t = 2;
  std::vector<float> x = random_floats(size_t(t) * width, 11, -1.0f, 1.0f);
  x[100] = 1e8f;
  x[width + 575] = -3e7f;
  const std::vector<float> weight = random_floats(width, 12, 0.5f, 1.5f);
  check(x, weight, t, width, width, 1e-6f, "huge element");
}

TEST_F(RmsNorm, MoreRowsThanWorkgroups) {
  // 65537 rows: the dispatch is capped at 65535 workgroups, so two of them take a second row.
  const uint32_t width = 8, t = 65537;
  check(random_floats(size_t(t) * width, 17), random_floats(width, 18), t, width, width, 1e-5f, "65537 rows");
}

TEST_F(RmsNorm, RowStrideLeavesPaddingAlone) {
  const uint32_t width = 64, stride = 80, t = 3;
  check(random_floats(size_t(t) * stride, 13), random_floats(width, 14), t, width, stride, 1e-5f, "row stride 80");
}

TEST_F(RmsNorm, InPlace) {
  const uint32_t width = 576, stride = 600, t = 4;
  const std::vector<float> x = random_floats(size_t(t) * stride, 15, -2.0f, 2.0f);
  const std::vector<float> weight = random_floats(width, 16, 0.5f, 1.5f);
  vk::Buffer x_buffer = make_buffer(x, "x");
  vk::Buffer w_buffer = make_buffer(weight, "weight");
  vk::CommandStream stream(device());
  ops::record_rms_norm(ctx(), stream, x_buffer, w_buffer, x_buffer, t, width, 1e-5f, stride);
  stream.submit_and_wait();
  // Padding between rows keeps its input values.
  expect_relative(read<float>(x_buffer, x.size()), rms_norm_reference(x, weight, t, width, stride, 1e-5), kRmsNormRelTol,
                  "in place");
}

TEST_F(RmsNorm, RejectsBadArguments) {
  vk::Buffer x = make_zeroed(64 * 4 * 4);
  vk::Buffer w = make_zeroed(64 * 4);
  vk::CommandStream stream(device());
  auto record = [&](uint32_t t, uint32_t width, float eps, uint32_t stride) {
    ops::record_rms_norm(ctx(), stream, x, w, x, t, width, eps, stride);
  };
  EXPECT_NO_THROW(record(4, 64, 1e-5f, 0));
  EXPECT_THROW(record(4, 0, 1e-5f, 0), std::invalid_argument);       // width 0
  EXPECT_THROW(record(5, 64, 1e-5f, 0), std::invalid_argument);      // x too small
  EXPECT_THROW(record(4, 64, -1.0f, 0), std::invalid_argument);      // negative eps
  EXPECT_THROW(record(4, 64, NAN, 0), std::invalid_argument);        // NaN eps
  EXPECT_THROW(record(2, 64, 1e-5f, 32), std::invalid_argument);     // stride < width
  EXPECT_THROW(record(1, 65, 1e-5f, 0), std::invalid_argument);      // weight too small
  stream.submit_and_wait();
}

// ---------------------------------------------------------------------------------------------------------------
// RoPE

struct RopeCase {
  ops::RopeParams params;
  std::vector<float> x;
  std::vector<uint32_t> positions;
};

double rope_angle(const ops::RopeParams& p, uint32_t pos, uint32_t i) {
  return double(pos) * double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / double(p.rope_dim));
}

uint32_t row_stride_of(const ops::RopeParams& p) { return p.row_stride ? p.row_stride : p.n_heads * p.head_dim; }

// The pair (element indices within a head) that frequency i rotates.
std::pair<uint32_t, uint32_t> rope_pair(const ops::RopeParams& p, uint32_t i) {
  return p.mode == ops::RopeMode::Neox ? std::pair{i, i + p.rope_dim / 2} : std::pair{2 * i, 2 * i + 1};
}

// The rotated x in double, and per element the tolerance the fp32 GPU angle allows. With e = log2 of the
// frequency (-2i log2(base) / rope_dim, |e| <= 19 for base 5e5) the fp32 angle carries a relative error of
//   |e| * 2^-24 * 2 ln 2   the exponent i * step rounded (step itself, then the product) and scaled by exp2,
//   (3 + 2|e|) * 2^-24     GLSL's bound for exp2,
//   3 * 2^-24              the products with the position and the scale, and the reduction to [-pi, pi],
// so |dtheta| <= |theta| * (6 + 4|e|) * 2^-24 (e.g. 0.012 rad at position 32768 for i = 1); cos/sin of the
// reduced angle add at most 2^-20. An output element moves by at most (|x0| + |x1|) * (|dtheta| + 2^-20).
void rope_reference(const RopeCase& c, std::vector<double>& want, std::vector<double>& tol) {
  const ops::RopeParams& p = c.params;
  want.assign(c.x.begin(), c.x.end());
  tol.assign(c.x.size(), 0.0);
  const uint32_t stride = row_stride_of(p);
  for (uint32_t t = 0; t < p.t; ++t)
    for (uint32_t h = 0; h < p.n_heads; ++h)
      for (uint32_t i = 0; i < p.rope_dim / 2; ++i) {
        const auto [e0, e1] = rope_pair(p, i);
        const size_t a = size_t(t) * stride + size_t(h) * p.head_dim + e0;
        const size_t b = size_t(t) * stride + size_t(h) * p.head_dim + e1;
        const double theta = rope_angle(p, c.positions[t], i);
        const double e = 2.0 * i * std::log2(double(p.freq_base)) / p.rope_dim;
        const double x0 = c.x[a], x1 = c.x[b];
        want[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        want[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
        const double dtheta = std::abs(theta) * (6.0 + 4.0 * e) * 0x1p-24;
        tol[a] = tol[b] = (std::abs(x0) + std::abs(x1)) * (dtheta + 0x1p-20);
      }
}

RopeCase random_rope_case(ops::RopeParams p, uint32_t max_position, uint32_t seed) {
  RopeCase c{p, {}, {}};
  const uint32_t stride = row_stride_of(p);
  c.x = random_floats(size_t(p.t) * stride, seed, -2.0f, 2.0f);
  std::mt19937 rng(seed + 1);
  for (uint32_t t = 0; t < p.t; ++t) c.positions.push_back(rng() % (max_position + 1));
  return c;
}

class Rope : public GpuTest {
 protected:
  std::vector<float> run(const RopeCase& c) {
    vk::Buffer x = make_buffer(c.x, "x");
    vk::Buffer positions = make_buffer(c.positions, "positions");
    vk::CommandStream stream(device());
    ops::record_rope(ctx(), stream, c.params, x, positions);
    stream.submit_and_wait();
    return read<float>(x, c.x.size());
  }

  // Compares every element, rotated or not, with the reference; returns the largest error / tolerance seen.
  double check(const RopeCase& c, const std::string& what) {
    std::vector<double> want, tol;
    rope_reference(c, want, tol);
    const std::vector<float> got = run(c);
    double worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double err = std::abs(double(got[i]) - want[i]);
      if (tol[i] == 0) {  // not rotated: must be untouched
        if (got[i] != c.x[i] && bad++ < 5) ADD_FAILURE() << what << ": element " << i << " changed";
        continue;
      }
      worst = std::max(worst, err / tol[i]);
      if (!(err <= tol[i]) && bad++ < 5)
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i] << " tol " << tol[i];
    }
    EXPECT_EQ(bad, 0u) << what;
    return worst;
  }
};

const char* mode_name(ops::RopeMode m) { return m == ops::RopeMode::Neox ? "neox" : "normal"; }

TEST_F(Rope, PositionZeroIsIdentity) {
  for (auto mode : {ops::RopeMode::Normal, ops::RopeMode::Neox}) {
    ops::RopeParams p{4, 64, 64, 3, 10000.0f, 1.0f, mode, 0};
    RopeCase c = random_rope_case(p, 0, 21);
    EXPECT_EQ(run(c), c.x) << mode_name(mode);
  }
}

TEST_F(Rope, BothModesAndHeadDims) {
  for (auto mode : {ops::RopeMode::Normal, ops::RopeMode::Neox})
    for (uint32_t head_dim : {8u, 64u, 128u}) {
      ops::RopeParams p{3, head_dim, head_dim, 5, 10000.0f, 1.0f, mode, 0};
      check(random_rope_case(p, 4096, head_dim), std::string(mode_name(mode)) + " head_dim " + std::to_string(head_dim));
    }
}

TEST_F(Rope, ModesPairDifferentElements) {
  // Position 1, head_dim 4: normal turns (0,1) by 1 rad and (2,3) by 0.01 rad; neox turns (0,2) and (1,3).
  const std::vector<float> x = {1, 0, 0, 0};
  for (auto mode : {ops::RopeMode::Normal, ops::RopeMode::Neox}) {
    RopeCase c{{1, 4, 4, 1, 10000.0f, 1.0f, mode, 0}, x, {1}};
    const std::vector<float> got = run(c);
    const size_t partner = mode == ops::RopeMode::Neox ? 2 : 1;
    EXPECT_NEAR(got[0], std::cos(1.0), 1e-6) << mode_name(mode);
    EXPECT_NEAR(got[partner], std::sin(1.0), 1e-6) << mode_name(mode);
  }
}

TEST_F(Rope, PartialRotaryDimsLeaveTheRestUntouched) {
  for (auto mode : {ops::RopeMode::Normal, ops::RopeMode::Neox}) {
    ops::RopeParams p{2, 64, 32, 4, 10000.0f, 1.0f, mode, 0};
    check(random_rope_case(p, 2000, 31), std::string(mode_name(mode)) + " rope_dim 32 of 64");
  }
}

TEST_F(Rope, LargePositionsStayWithinTheFp32AngleBound) {
  // Positions up to 32768 (Llama 3 base 500000 and the classic 10000), with a position scale and padded rows.
  for (auto mode : {ops::RopeMode::Normal, ops::RopeMode::Neox})
    for (float base : {10000.0f, 500000.0f}) {
      ops::RopeParams p{2, 128, 128, 6, base, 1.0f, mode, 2 * 128 + 64};
      RopeCase c = random_rope_case(p, 32768, 41);
      c.positions[0] = 32768;
      c.positions[1] = 32767;
      const double worst = check(c, std::string(mode_name(mode)) + " base " + std::to_string(base));
      RecordProperty(std::string("worst_error_over_tolerance_") + mode_name(mode), std::to_string(worst));
    }
  ops::RopeParams scaled{2, 64, 64, 4, 10000.0f, 0.25f, ops::RopeMode::Normal, 0};
  check(random_rope_case(scaled, 32768, 43), "freq_scale 0.25");
}

TEST_F(Rope, RejectsBadArguments) {
  vk::Buffer x = make_zeroed(4 * 64 * 4 * 4);
  vk::Buffer positions = make_zeroed(4 * 4);
  vk::CommandStream stream(device());
  auto record = [&](ops::RopeParams p) { ops::record_rope(ctx(), stream, p, x, positions); };
  const ops::RopeParams ok{4, 64, 64, 4, 10000.0f, 1.0f, ops::RopeMode::Normal, 0};
  EXPECT_NO_THROW(record(ok));
  auto with = [&](auto change) {
    ops::RopeParams p = ok;
    change(p);
    return p;
  };
  EXPECT_THROW(record(with([](auto& p) { p.head_dim = 63; p.rope_dim = 62; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.rope_dim = 30 + 1; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.rope_dim = 66; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.rope_dim = 0; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.n_heads = 0; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.t = 5; })), std::invalid_argument);  // x and positions too small
  EXPECT_THROW(record(with([](auto& p) { p.row_stride = 100; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.freq_base = 0.0f; })), std::invalid_argument);
  EXPECT_THROW(record(with([](auto& p) { p.freq_scale = -1.0f; })), std::invalid_argument);
  stream.submit_and_wait();
}

}  // namespace
}  // namespace ckv::test
