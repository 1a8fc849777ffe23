// CPU dequantization and quantization of ggml blocks, against fixtures made with gguf-py's reference code
// (tests/data/quant/make_quant_data.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/half.hpp"
#include "engine/quant/dequant.hpp"
#include "gpu_env.hpp"
#include "matmul_helpers.hpp"
#include "paths.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

std::vector<uint8_t> read_fixture(const std::string& name) {
  const auto path = source_dir() / "tests" / "data" / "quant" / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path.string());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> read_floats(const std::string& name) {
  const std::vector<uint8_t> bytes = read_fixture(name);
  std::vector<float> values(bytes.size() / 4);
  std::memcpy(values.data(), bytes.data(), values.size() * 4);
  return values;
}

std::string file_stem(GgmlType type) {
  std::string s = quant::type_name(type);
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class DequantGgufPy : public ::testing::TestWithParam<GgmlType> {};

// Exact: every ggml dequantization is one or two fp32 operations on exactly representable operands, done in the
// same order as gguf-py (and ggml-quants.c), so the values must agree bit for bit (up to the sign of zero).
TEST_P(DequantGgufPy, MatchesReferenceValues) {
  const GgmlType type = GetParam();
  const std::vector<uint8_t> blocks = read_fixture(file_stem(type) + ".blocks");
  const std::vector<float> want = read_floats(file_stem(type) + ".f32");
  ASSERT_FALSE(want.empty());
  const std::vector<float> got = quant::dequantize(type, blocks, want.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(got[i] == want[i]) && mismatches++ < 5)
      ADD_FAILURE() << type_label(type) << " element " << i << ": got " << got[i] << " want " << want[i];
  EXPECT_EQ(mismatches, 0u);
}

INSTANTIATE_TEST_SUITE_P(Dequant, DequantGgufPy, ::testing::ValuesIn(kernel_types()),
                         [](const auto& info) { return type_label(info.param); });

TEST(DequantGgufPy, QuantizersMatchGgufPyBitForBit) {
  const std::vector<float> input = read_floats("quant_input.f32");
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1}) {
    const std::vector<uint8_t> want = read_fixture("quantize_" + file_stem(type) + ".blocks");
    EXPECT_EQ(quant::quantize(type, input), want) << type_label(type);
  }
}

TEST(Dequant, QuantizeRoundTripStaysWithinTheStepSize) {
  const std::vector<float> x = random_floats(1024, 7, -2.0f, 2.0f);
  // Worst-case error per type for values in [-2, 2]: half a quantization step plus the f16 rounding of the scales;
  // Q4_0 maps the largest magnitude to -8 steps, so values of the other sign clamp at +7 (a whole step off).
  // F32 and F16 only round the values themselves.
  const struct {
    GgmlType type;
    double bound;
  } cases[] = {{GgmlType::Q8_0, 2.0 / 127 * 0.52}, {GgmlType::Q4_0, 2.0 / 8 * 1.02}, {GgmlType::Q4_1, 4.0 / 15 * 0.52},
               {GgmlType::Q4_K, 4.0 / 15 * 0.7},   {GgmlType::Q6_K, 2.0 / 31 * 0.7}};
  for (const auto& c : cases) {
    const std::vector<float> back = quant::dequantize(c.type, quant::quantize(c.type, x), x.size());
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(double(back[i]) - double(x[i])));
    EXPECT_LE(worst, c.bound) << type_label(c.type);
    EXPECT_GT(worst, 0.0) << type_label(c.type);
  }
  EXPECT_EQ(quant::dequantize(GgmlType::F32, quant::quantize(GgmlType::F32, x), x.size()), x);
  EXPECT_EQ(quant::dequantize(GgmlType::F16, quant::quantize(GgmlType::F16, x), x.size()), rounded_to_half(x));
}

TEST(Dequant, HandMadeBlocks) {
  // Q4_0: d = 0.5, qs[j] = j | (15 - j) << 4: element j = 0.5 (j - 8), element 16 + j = 0.5 (7 - j).
  std::vector<uint8_t> q4(18);
  const uint16_t half_d = float_to_half(0.5f);
  std::memcpy(q4.data(), &half_d, 2);
  for (int j = 0; j < 16; ++j) q4[2 + j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> v = quant::dequantize(GgmlType::Q4_0, q4, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], 0.5f * float(j - 8)) << j;
    EXPECT_EQ(v[16 + j], 0.5f * float(7 - j)) << j;
  }
  // Q8_0: d = -2, q = -128 .. -97: element j = -2 (j - 128).
  std::vector<uint8_t> q8(34);
  const uint16_t half_m2 = float_to_half(-2.0f);
  std::memcpy(q8.data(), &half_m2, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = uint8_t(int8_t(j - 128));
  const std::vector<float> v8 = quant::dequantize(GgmlType::Q8_0, q8, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(v8[j], -2.0f * float(j - 128)) << j;
}

TEST(Dequant, RowOfATensor) {
  const TestWeight w = make_weight(GgmlType::Q4_K, 512, 3, 11);
  const std::vector<float> row = quant::dequantize_row(GgmlType::Q4_K, w.bytes, 512, 2);
  EXPECT_EQ(row, std::vector<float>(w.values.begin() + 1024, w.values.end()));
  EXPECT_THROW(quant::dequantize_row(GgmlType::Q4_K, w.bytes, 512, 3), std::invalid_argument);
}

// Q4_0_X8, the engine's device layout of Q4_0: per 8 blocks their 16-byte quants, then their 8 scales; the same
// values as the Q4_0 blocks it came from, and back to the same bytes.
TEST(Dequant, Q4_0_X8IsARearrangementOfQ4_0) {
  const TestWeight q4 = make_weight(GgmlType::Q4_0, 512, 3, 12, WeightSource::RandomBytes);
  const std::span<const uint8_t> src(q4.bytes.data(), quant::row_bytes(GgmlType::Q4_0, 512) * 3);
  std::vector<uint8_t> x8(src.size()), back(src.size());
  quant::repack_q4_0_x8(src, x8);
  // Block 9 (super-block 1, block 1): quants at 144 + 16, scale at 144 + 128 + 2.
  EXPECT_EQ(0, std::memcmp(&x8[144 + 16], &src[9 * 18 + 2], 16));
  EXPECT_EQ(0, std::memcmp(&x8[144 + 128 + 2], &src[9 * 18], 2));
  EXPECT_EQ(quant::dequantize(GgmlType::Q4_0_X8, x8, 512 * 3), q4.values);
  quant::unpack_q4_0_x8(x8, back);
  EXPECT_TRUE(std::equal(back.begin(), back.end(), src.begin()));
  const std::vector<float> values = random_floats(1024, 13, -2.0f, 2.0f);
  std::vector<uint8_t> want(quant::row_bytes(GgmlType::Q4_0, 1024));
  quant::repack_q4_0_x8(quant::quantize(GgmlType::Q4_0, values), want);
  EXPECT_EQ(quant::quantize(GgmlType::Q4_0_X8, values), want);
  EXPECT_EQ(quant::type_name(GgmlType::Q4_0_X8), "Q4_0_X8");
  EXPECT_EQ(quant::device_weight_type(GgmlType::Q4_0, 512), GgmlType::Q4_0_X8);
  EXPECT_EQ(quant::device_weight_type(GgmlType::Q4_0, 288), GgmlType::Q4_0);
  EXPECT_EQ(quant::device_weight_type(GgmlType::Q8_0, 512), GgmlType::Q8_0);
  EXPECT_THROW(quant::repack_q4_0_x8(std::span<const uint8_t>(src.data(), 144), std::span<uint8_t>(x8.data(), 288)),
               std::invalid_argument);
  EXPECT_THROW(quant::repack_q4_0_x8(std::span<const uint8_t>(src.data(), 72), std::span<uint8_t>(x8.data(), 72)),
               std::invalid_argument);
  EXPECT_THROW(quant::dequantize(GgmlType::Q4_0_X8, x8, 32), std::invalid_argument);  // not whole super-blocks
}

TEST(Dequant, BadArgumentsAreClearErrors) {
  std::vector<uint8_t> bytes(1000);
  try {
    quant::dequantize(GgmlType::Q5_K, bytes, 256);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("Q5_K"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quant::dequantize(GgmlType::Q4_K, bytes, 100), std::invalid_argument);   // not whole blocks
  EXPECT_THROW(quant::dequantize(GgmlType::Q6_K, bytes, 1280), std::invalid_argument);  // 1050 bytes needed
  EXPECT_THROW(quant::quantize(GgmlType::Q8_0, std::vector<float>(31)), std::invalid_argument);
  EXPECT_THROW(quant::quantize(static_cast<GgmlType>(99), std::vector<float>(32)), std::invalid_argument);
}

}  // namespace
}  // namespace ckv::test
