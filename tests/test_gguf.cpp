// GGUF parser: files written by the `gguf` Python package (tests/data/gguf/valid, made by make_gguf_fixtures.py)
// parsed value by value; hand-made malformed files (tests/data/gguf/malformed) that must each throw GgufError
// with one line naming the problem and the byte; every truncation and many random corruptions of a valid file
// (GgufError or success, never a crash or another exception); the default model when it is present.
// All comparisons are exact: every fixture value is representable in its type.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.hpp"
#include "paths.hpp"

namespace ckv {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const std::string& relative) { return test::source_dir() / "tests" / "data" / "gguf" / relative; }

std::vector<std::byte> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// The GgufError message of open(path), or "" when it does not throw. Other exception types propagate (and fail).
std::string open_error(const fs::path& path) {
  try {
    GgufFile::open(path);
  } catch (const GgufError& e) {
    return e.what();
  }
  return "";
}

template <typename T>
T value_of(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  EXPECT_NE(v, nullptr) << key;
  if (!v) return T{};
  const T* x = v->get_if<T>();
  EXPECT_NE(x, nullptr) << key << " has type " << gguf_value_type_name(v->type());
  return x ? *x : T{};
}

template <typename T>
std::vector<T> array_of(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  EXPECT_NE(v, nullptr) << key;
  const GgufArray* a = v ? v->get_if<GgufArray>() : nullptr;
  EXPECT_NE(a, nullptr) << key;
  const auto* elements = a ? std::get_if<std::vector<T>>(&a->elements) : nullptr;
  EXPECT_NE(elements, nullptr) << key;
  return elements ? *elements : std::vector<T>{};
}

std::vector<float> as_floats(std::span<const std::byte> bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// Byte i of the raw quantized tensors in the fixture is (i * 7 + seed) & 0xff.
void expect_pattern(std::span<const std::byte> bytes, size_t size, int seed, const char* name) {
  ASSERT_EQ(bytes.size(), size) << name;
  for (size_t i = 0; i < size; ++i)
    ASSERT_EQ(static_cast<int>(bytes[i]), int((i * 7 + seed) & 0xff)) << name << " byte " << i;
}

// Every value of valid/every_type*.gguf (see make_gguf_fixtures.py: write_every_type).
void check_every_type(const GgufFile& f, uint32_t alignment) {
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.get_string("general.architecture"), "testarch");
  EXPECT_EQ(value_of<uint8_t>(f, "test.u8"), 200);
  EXPECT_EQ(value_of<int8_t>(f, "test.i8"), -100);
  EXPECT_EQ(value_of<uint16_t>(f, "test.u16"), 60000);
  EXPECT_EQ(value_of<int16_t>(f, "test.i16"), -30000);
  EXPECT_EQ(value_of<uint32_t>(f, "test.u32"), 4000000000u);
  EXPECT_EQ(value_of<int32_t>(f, "test.i32"), -2000000000);
  EXPECT_EQ(value_of<float>(f, "test.f32"), 1.5f);
  EXPECT_EQ(value_of<bool>(f, "test.bool_true"), true);
  EXPECT_EQ(value_of<bool>(f, "test.bool_false"), false);
  EXPECT_EQ(value_of<std::string>(f, "test.string"), "h\xc3\xa9llo w\xc3\xb6rld");
  EXPECT_EQ(value_of<uint64_t>(f, "test.u64"), 10000000000u);
  EXPECT_EQ(value_of<int64_t>(f, "test.i64"), -1099511627776);
  EXPECT_EQ(value_of<double>(f, "test.f64"), 0.1);
  EXPECT_EQ(array_of<uint8_t>(f, "test.arr_u8"), (std::vector<uint8_t>{0, 1, 255}));
  EXPECT_EQ(array_of<int8_t>(f, "test.arr_i8"), (std::vector<int8_t>{-128, 127}));
  EXPECT_EQ(array_of<uint16_t>(f, "test.arr_u16"), (std::vector<uint16_t>{65535, 1}));
  EXPECT_EQ(array_of<int16_t>(f, "test.arr_i16"), (std::vector<int16_t>{-32768, 5}));
  EXPECT_EQ(array_of<uint32_t>(f, "test.arr_u32"), (std::vector<uint32_t>{4294967295u, 7}));
  EXPECT_EQ(array_of<int32_t>(f, "test.arr_i32"), (std::vector<int32_t>{-1, 0, 7, 2147483647}));
  EXPECT_EQ(array_of<float>(f, "test.arr_f32"), (std::vector<float>{0.5f, -2.0f, 3.25f}));
  EXPECT_EQ(array_of<bool>(f, "test.arr_bool"), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(array_of<std::string>(f, "test.arr_str"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(array_of<uint64_t>(f, "test.arr_u64"), (std::vector<uint64_t>{18446744073709551615u, 3}));
  EXPECT_EQ(array_of<int64_t>(f, "test.arr_i64"), (std::vector<int64_t>{INT64_MIN, 4}));
  EXPECT_EQ(array_of<double>(f, "test.arr_f64"), (std::vector<double>{0.25, -1e300}));
  const auto nested = array_of<GgufArray>(f, "test.arr_nested");
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(nested[0].elements), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(std::get<std::vector<int32_t>>(nested[1].elements), (std::vector<int32_t>{3}));

  // Tensors in file order; data offsets follow from the sizes padded to the alignment.
  ASSERT_EQ(f.tensors().size(), 4u);
  const uint64_t pad = alignment;
  struct Expected {
    const char* name;
    std::vector<uint64_t> dims;
    GgmlType type;
    uint64_t elements, bytes;
  };
  const std::vector<Expected> expected = {
      {"f32", {4, 3}, GgmlType::F32, 12, 48},
      {"f16", {8}, GgmlType::F16, 8, 16},
      {"q8_0", {64, 2}, GgmlType::Q8_0, 128, 136},
      {"q4_1", {32, 3}, GgmlType::Q4_1, 96, 60},
  };
  uint64_t next = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    const Expected& e = expected[i];
    EXPECT_EQ(t.name, e.name);
    EXPECT_EQ(t.dims, e.dims) << e.name;
    EXPECT_EQ(t.shape_text(), i == 0 ? "[4, 3]" : i == 1 ? "[8]" : i == 2 ? "[64, 2]" : "[32, 3]");
    EXPECT_EQ(t.type, e.type) << e.name;
    EXPECT_EQ(t.element_count, e.elements) << e.name;
    EXPECT_EQ(t.byte_size, e.bytes) << e.name;
    EXPECT_EQ(t.offset, next) << e.name;
    EXPECT_EQ(t.file_offset, f.data_offset() + t.offset) << e.name;
    EXPECT_EQ(f.find_tensor(e.name), &t);
    EXPECT_NO_THROW(require_supported(t));
    next += (t.byte_size + pad - 1) / pad * pad;
  }
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  EXPECT_EQ(f.find_tensor("missing"), nullptr);

  std::vector<float> f32_expected;
  for (int i = 0; i < 12; ++i) f32_expected.push_back(float(i) * 0.5f - 2.0f);
  EXPECT_EQ(as_floats(f.tensor_data(f.tensors()[0])), f32_expected);
  const auto f16 = f.tensor_data(f.tensors()[1]);
  std::vector<uint16_t> halves(8);
  ASSERT_EQ(f16.size(), 16u);
  std::memcpy(halves.data(), f16.data(), 16);
  // 1, -2, 0.5, 65504, 0, -0.25, 3, 1024 as IEEE half bits.
  EXPECT_EQ(halves, (std::vector<uint16_t>{0x3c00, 0xc000, 0x3800, 0x7bff, 0x0000, 0xb400, 0x4200, 0x6400}));
  expect_pattern(f.tensor_data(f.tensors()[2]), 136, 3, "q8_0");
  expect_pattern(f.tensor_data(f.tensors()[3]), 60, 11, "q4_1");
  // Spans point into the file's bytes, at the tensors' distances: no copies.
  EXPECT_EQ(f.tensor_data(f.tensors()[1]).data() - f.tensor_data(f.tensors()[0]).data(),
            std::ptrdiff_t(f.tensors()[1].offset));
}

TEST(GgufValid, EveryValueTypeAndTensorFromGgufWriter) {
  const GgufFile f = GgufFile::open(fixture("valid/every_type.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.size(), 1536u);
  EXPECT_EQ(f.data_offset(), 1216u);  // as gguf.GGUFReader reports for the first tensor
  EXPECT_EQ(f.metadata().size(), 27u);
  EXPECT_EQ(f.metadata().front().first, "general.architecture");
  EXPECT_EQ(f.metadata().back().first, "test.arr_nested");
  check_every_type(f, 32);
}

TEST(GgufValid, Version2WithAlignment64) {
  const GgufFile f = GgufFile::open(fixture("valid/every_type_v2_align64.gguf"));
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.data_offset(), 1280u);
  EXPECT_EQ(f.get_u32("general.alignment"), 64u);
  check_every_type(f, 64);
}

TEST(GgufValid, ParseMemoryPointsIntoTheCallersBuffer) {
  const auto bytes = read_bytes(fixture("valid/every_type.gguf"));
  const GgufFile f = GgufFile::parse_memory(bytes, "buffer");
  EXPECT_EQ(f.name(), "buffer");
  check_every_type(f, 32);
  for (const auto& t : f.tensors()) EXPECT_EQ(f.tensor_data(t).data(), bytes.data() + t.file_offset) << t.name;
}

TEST(GgufValid, MovedFileKeepsItsMapping) {
  GgufFile a = GgufFile::open(fixture("valid/every_type.gguf"));
  const std::byte* data = a.tensor_data(a.tensors()[0]).data();
  GgufFile b = std::move(a);
  EXPECT_EQ(b.tensor_data(b.tensors()[0]).data(), data);
  check_every_type(b, 32);
}

TEST(GgufValid, TinyHandWrittenFile) {
  const GgufFile f = GgufFile::open(fixture("valid/tiny.gguf"));
  EXPECT_EQ(f.get_string("general.architecture"), "tiny");
  EXPECT_EQ(f.get_i32_array("tiny.list"), (std::vector<int32_t>{1, 2, 3}));
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.data_offset(), 160u);
  EXPECT_EQ(as_floats(f.tensor_data(f.tensors()[0])), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(GgufValid, EmptyArrayScalarTensorAndEmptyTensor) {
  const GgufFile f = GgufFile::open(fixture("valid/edge_cases.gguf"));
  EXPECT_TRUE(f.get_string_array("tiny.empty").empty());
  EXPECT_EQ(f.get_string("tiny.empty_string"), "");
  const GgufTensorInfo* scalar = f.find_tensor("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->dims.empty());
  EXPECT_EQ(scalar->shape_text(), "[]");
  EXPECT_EQ(scalar->element_count, 1u);
  EXPECT_EQ(as_floats(f.tensor_data(*scalar)), (std::vector<float>{42.0f}));
  const GgufTensorInfo* empty = f.find_tensor("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->element_count, 0u);
  EXPECT_EQ(f.tensor_data(*empty).size(), 0u);
}

// ---- Typed getters ----

class GgufGetters : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { file_ = new GgufFile(GgufFile::open(fixture("valid/every_type.gguf"))); }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  // The GgufError message of fn(), or "" when it does not throw.
  template <typename Fn>
  static std::string error_of(Fn fn) {
    try {
      fn();
    } catch (const GgufError& e) {
      return e.what();
    }
    return "";
  }
  static GgufFile* file_;
};
GgufFile* GgufGetters::file_ = nullptr;

TEST_F(GgufGetters, IntegersConvertWhenTheValueFits) {
  const GgufFile& f = *file_;
  EXPECT_EQ(f.get_u32("test.u8"), 200u);
  EXPECT_EQ(f.get_u32("test.u16"), 60000u);
  EXPECT_EQ(f.get_u32("test.u32"), 4000000000u);
  EXPECT_EQ(f.get_u64("test.u64"), 10000000000u);
  EXPECT_EQ(f.find_u32("test.u8"), std::optional<uint32_t>(200));
  EXPECT_EQ(f.find_u32("missing"), std::nullopt);
  EXPECT_EQ(f.find_u32("general.alignment").value_or(32), 32u);  // absent: the default applies
}

TEST_F(GgufGetters, IntegerErrors) {
  const GgufFile& f = *file_;
  const std::string path = fixture("valid/every_type.gguf").string();
  EXPECT_EQ(error_of([&] { f.get_u32("test.i32"); }),
            path + ": metadata key 'test.i32' holds -2000000000, which does not fit in uint32");
  EXPECT_EQ(error_of([&] { f.get_u32("test.u64"); }),
            path + ": metadata key 'test.u64' holds 10000000000, which does not fit in uint32");
  EXPECT_EQ(error_of([&] { f.get_u64("test.i8"); }),
            path + ": metadata key 'test.i8' holds -100, which does not fit in uint64");
  EXPECT_EQ(error_of([&] { f.get_u32("test.string"); }),
            path + ": metadata key 'test.string' has type STRING, expected an integer");
  EXPECT_EQ(error_of([&] { f.get_u32("test.bool_true"); }),
            path + ": metadata key 'test.bool_true' has type BOOL, expected an integer");
  EXPECT_EQ(error_of([&] { f.get_u32("no.such.key"); }), path + ": metadata key 'no.such.key' is missing");
  EXPECT_EQ(error_of([&] { f.find_u32("test.f32"); }),
            path + ": metadata key 'test.f32' has type FLOAT32, expected an integer");
}

TEST_F(GgufGetters, FloatsBoolsStrings) {
  const GgufFile& f = *file_;
  EXPECT_EQ(f.get_f32("test.f32"), 1.5f);
  EXPECT_EQ(f.get_f32("test.f64"), 0.1f);
  EXPECT_EQ(f.find_f32("missing"), std::nullopt);
  EXPECT_TRUE(f.get_bool("test.bool_true"));
  EXPECT_EQ(f.find_bool("test.bool_false"), std::optional<bool>(false));
  EXPECT_EQ(f.find_string("missing"), std::nullopt);
  EXPECT_NE(error_of([&] { f.get_f32("test.u32"); }).find("'test.u32' has type UINT32, expected FLOAT32 or FLOAT64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_bool("test.u8"); }).find("'test.u8' has type UINT8, expected BOOL"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_string("test.arr_str"); }).find("has type ARRAY of STRING, expected STRING"),
            std::string::npos);
}

TEST_F(GgufGetters, Arrays) {
  const GgufFile& f = *file_;
  EXPECT_EQ(f.get_string_array("test.arr_str"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.get_f32_array("test.arr_f32"), (std::vector<float>{0.5f, -2.0f, 3.25f}));
  EXPECT_EQ(f.get_i32_array("test.arr_i32"), (std::vector<int32_t>{-1, 0, 7, 2147483647}));
  EXPECT_EQ(f.get_i32_array("test.arr_u8"), (std::vector<int32_t>{0, 1, 255}));
  EXPECT_EQ(f.get_i32_array("test.arr_i16"), (std::vector<int32_t>{-32768, 5}));
  EXPECT_NE(error_of([&] { f.get_string_array("test.arr_i32"); })
                .find("'test.arr_i32' has type ARRAY of INT32, expected ARRAY of STRING"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_i32_array("test.arr_u32"); })
                .find("'test.arr_u32' element 0 holds 4294967295, which does not fit in int32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_i32_array("test.arr_bool"); }).find("has type ARRAY of BOOL"), std::string::npos);
  EXPECT_NE(error_of([&] { f.get_f32_array("test.arr_f64"); })
                .find("'test.arr_f64' element 1 holds -1e+300, which does not fit in float"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_f32_array("test.u32"); }).find("has type UINT32, expected ARRAY of FLOAT32"),
            std::string::npos);
}

// ---- Tensor types ----

TEST(GgufTypes, BlockSizesAndEngineSupport) {
  // (id, name, block size, bytes per block), as in ggml's ggml-common.h.
  struct Row {
    uint32_t id;
    const char* name;
    uint32_t block, bytes;
    bool supported;
  };
  const Row rows[] = {{0, "F32", 1, 4, true},      {1, "F16", 1, 2, true},       {2, "Q4_0", 32, 18, true},
                      {3, "Q4_1", 32, 20, true},   {6, "Q5_0", 32, 22, false},   {7, "Q5_1", 32, 24, false},
                      {8, "Q8_0", 32, 34, true},   {9, "Q8_1", 32, 36, false},   {10, "Q2_K", 256, 84, false},
                      {11, "Q3_K", 256, 110, false}, {12, "Q4_K", 256, 144, true}, {13, "Q5_K", 256, 176, false},
                      {14, "Q6_K", 256, 210, true}, {15, "Q8_K", 256, 292, false}, {30, "BF16", 1, 2, false}};
  for (const Row& r : rows) {
    const GgmlTypeTraits* t = find_ggml_type(r.id);
    ASSERT_NE(t, nullptr) << r.name;
    EXPECT_EQ(t->name, r.name);
    EXPECT_EQ(t->block_size, r.block) << r.name;
    EXPECT_EQ(t->block_bytes, r.bytes) << r.name;
    EXPECT_EQ(t->engine_supported, r.supported) << r.name;
  }
  EXPECT_EQ(find_ggml_type(4), nullptr);  // removed Q4_2
  EXPECT_EQ(find_ggml_type(99), nullptr);
  EXPECT_EQ(engine_supported_type_names(), "F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K");
  uint32_t previous = 0;
  for (const auto& t : ggml_types()) {  // id order, no duplicates
    if (&t != &ggml_types()[0]) {
      EXPECT_GT(static_cast<uint32_t>(t.type), previous);
    }
    previous = static_cast<uint32_t>(t.type);
  }
}

TEST(GgufTypes, RequireSupportedNamesTheTensorAndTheType) {
  GgufTensorInfo t;
  t.name = "blk.0.attn_q.weight";
  t.type = GgmlType::Q5_K;
  try {
    require_supported(t);
    FAIL() << "no exception";
  } catch (const GgufError& e) {
    EXPECT_STREQ(e.what(),
                 "tensor 'blk.0.attn_q.weight' has type Q5_K, which this engine does not support "
                 "(supported: F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K)");
  }
  t.type = GgmlType::Q6_K;
  EXPECT_NO_THROW(require_supported(t));
}

// ---- Malformed files: each throws GgufError with one line "<path>: <what> at byte <offset>" ----

struct MalformedCase {
  const char* file;      // in tests/data/gguf/malformed, without .gguf
  const char* expected;  // a piece of the message
};

// Byte offsets refer to the layout of valid/tiny.gguf documented in make_gguf_fixtures.py.
const MalformedCase kMalformed[] = {
    {"bad_magic", "bad magic \"GGML\" (expected \"GGUF\") at byte 0"},
    {"version_1", "unsupported GGUF version 1 (supported: 2, 3) at byte 4"},
    {"version_4", "unsupported GGUF version 4 (supported: 2, 3) at byte 4"},
    {"big_endian_version", "big-endian GGUF files are not supported (version 3) at byte 4"},
    {"empty", "truncated file: magic needs 4 bytes, 0 left at byte 0"},
    {"truncated_in_magic", "truncated file: magic needs 4 bytes, 3 left at byte 0"},
    {"truncated_in_header", "truncated file: tensor count needs 8 bytes, 5 left at byte 8"},
    {"truncated_in_string",
     "string of metadata key 'general.description' length 100 exceeds the 43 bytes left in the file at byte 99"},
    {"truncated_in_array",
     "array count 3 of metadata key 'tiny.list' (UINT32, at least 4 bytes each) exceeds the 4 bytes left in the "
     "file at byte 93"},
    {"truncated_in_string_array",
     "string #2 of metadata key 'tiny.names' length 5 exceeds the 2 bytes left in the file at byte 127"},
    {"truncated_in_tensor_info", "truncated file: dims of tensor 'w' needs 8 bytes, 4 left at byte 126"},
    {"truncated_in_tensor_data",
     "tensor 'w' data (32 bytes at offset 0 of the data section at byte 160) lies outside the file of 180 bytes at "
     "byte 146"},
    {"huge_string_length",
     "string of metadata key 'general.architecture' length 9223372036854775808 exceeds the 128 bytes left in the "
     "file at byte 56"},
    {"huge_key_length", "metadata key #0 length 18446744073709551615 exceeds the 160 bytes left in the file at byte 24"},
    {"huge_array_count",
     "array count 4611686018427387904 of metadata key 'tiny.list' (UINT32, at least 4 bytes each) exceeds the 91 "
     "bytes left in the file at byte 93"},
    {"huge_tensor_count", "tensor count 1152921504606846976 cannot fit in the 168 bytes left in the file at byte 8"},
    {"huge_kv_count", "metadata key/value count 1099511627776 cannot fit in the 168 bytes left in the file at byte 16"},
    {"n_dims_5", "tensor 'w' has 5 dimensions (at most 4 are allowed) at byte 122"},
    {"dims_overflow", "tensor 'w' dims overflow: their product exceeds 2^63 - 1 (dim 1 = 4294967296) at byte 122"},
    {"tensor_larger_than_file",
     "tensor 'w' [2147483648, 2147483648] of F64 needs more bytes than the 192 of the whole file at byte 122"},
    {"unknown_tensor_type", "tensor 'w' has unknown ggml type id 99 at byte 142"},
    {"block_size_mismatch", "tensor 'w' has 33 elements along dim 0, not a multiple of the Q8_0 block size 32"},
    {"offset_outside_file",
     "tensor 'w' data (32 bytes at offset 4096 of the data section at byte 160) lies outside the file of 192 bytes "
     "at byte 146"},
    {"offset_huge", "lies outside the file of 192 bytes at byte 146"},
    {"misaligned_offset", "tensor 'w' data offset 4 is not a multiple of the alignment 32 at byte 146"},
    {"bad_alignment", "general.alignment 48 is not a power of two between 1 and 1048576 at byte"},
    {"zero_alignment", "general.alignment 0 is not a power of two"},
    {"alignment_wrong_type", "general.alignment has type STRING (expected UINT32)"},
    {"unknown_value_type", "unknown value type 13 of metadata key 'general.architecture' at byte 52"},
    {"unknown_array_element_type", "unknown array element type 77 of metadata key 'tiny.list' at byte 89"},
    {"invalid_bool", "invalid BOOL value 2 of metadata key 'tiny.flag'"},
    {"arrays_nested_too_deep", "arrays nested deeper than 8 levels in metadata key 'tiny.deep'"},
    {"duplicate_key", "duplicate metadata key 'general.architecture' at byte 68"},
    {"duplicate_tensor", "duplicate tensor name 'w'"},
    {"overlapping_tensors", "overlap in the data section"},
    {"newline_in_key", "duplicate metadata key 'bad?key'"},
};

class GgufMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(GgufMalformed, ThrowsOneClearLine) {
  const fs::path path = fixture(std::string("malformed/") + GetParam().file + ".gguf");
  ASSERT_TRUE(fs::exists(path)) << path;
  const std::string message = open_error(path);
  EXPECT_NE(message.find(GetParam().expected), std::string::npos) << "message: " << message;
  EXPECT_EQ(message.rfind(path.string() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(" at byte "), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // The same bytes through parse_memory give the same message under the given name.
  const auto bytes = read_bytes(path);
  try {
    GgufFile::parse_memory(bytes, path.string());
    ADD_FAILURE() << "parse_memory accepted " << path;
  } catch (const GgufError& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

INSTANTIATE_TEST_SUITE_P(Files, GgufMalformed, ::testing::ValuesIn(kMalformed),
                         [](const auto& info) { return std::string(info.param.file); });

TEST(GgufMalformedFiles, EveryCheckedInFileIsListedAndRejected) {
  std::set<std::string> listed;
  for (const auto& c : kMalformed) listed.insert(c.file);
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(fixture("malformed"))) {
    if (entry.path().extension() != ".gguf") continue;
    ++count;
    EXPECT_TRUE(listed.count(entry.path().stem().string())) << "no expected message for " << entry.path();
    EXPECT_NE(open_error(entry.path()), "") << entry.path();
  }
  EXPECT_EQ(count, listed.size());
}

TEST(GgufMalformedFiles, OpenReportsMissingFilesAndDirectories) {
  const fs::path missing = fixture("no_such_file.gguf");
  EXPECT_EQ(open_error(missing), missing.string() + ": cannot open: No such file or directory");
  EXPECT_EQ(open_error(fixture("valid")), fixture("valid").string() + ": not a regular file");
}

// ---- Truncations and random corruptions of a valid file ----

TEST(GgufTruncated, EveryPrefixOfAValidFileThrowsGgufError) {
  const auto bytes = read_bytes(fixture("valid/every_type.gguf"));
  const GgufFile full = GgufFile::parse_memory(bytes, "full");
  uint64_t needed = 0;  // bytes up to the end of the last tensor's data; the padding after it may go
  for (const auto& t : full.tensors()) needed = std::max(needed, t.file_offset + t.byte_size);
  ASSERT_EQ(needed, 1216u + 256 + 60);
  for (size_t n = 0; n < needed; ++n) {
    try {
      GgufFile::parse_memory(std::span(bytes).first(n), "prefix");
      ADD_FAILURE() << "a prefix of " << n << " bytes was accepted";
    } catch (const GgufError& e) {
      ASSERT_EQ(std::string(e.what()).rfind("prefix: ", 0), 0u) << e.what();
    }
  }
  EXPECT_NO_THROW(GgufFile::parse_memory(std::span(bytes).first(needed), "prefix"));
}

TEST(GgufTruncated, RandomCorruptionsParseOrThrowGgufError) {
  const auto original = read_bytes(fixture("valid/every_type.gguf"));
  std::mt19937 rng(1234);
  int accepted = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    auto bytes = original;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0: bytes[at] = std::byte(rng()); break;                  // random byte
        case 1: bytes[at] = std::byte(0xff); break;                   // saturate (huge counts)
        case 2: bytes.resize(at + (rng() % (bytes.size() - at))); break;  // truncate
      }
    }
    try {
      const GgufFile f = GgufFile::parse_memory(bytes, "mutant");
      for (const auto& t : f.tensors()) {
        const auto data = f.tensor_data(t);
        ASSERT_GE(data.data(), bytes.data());
        ASSERT_LE(data.data() + data.size(), bytes.data() + bytes.size());
      }
      ++accepted;
    } catch (const GgufError&) {
      ++rejected;
    }
  }
  // Most mutations land in string bytes or tensor data and keep the file valid; many do not.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 100);
}

// ---- The default model ----

TEST(GgufDefaultModel, SmolLM2Q4_1) {
  const fs::path path = test::source_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing; run tools/fetch-model.sh";
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u32("llama.block_count"), 30u);
  EXPECT_EQ(f.get_u32("llama.embedding_length"), 576u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count"), 9u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count_kv"), 3u);
  EXPECT_EQ(f.get_f32("llama.rope.freq_base"), 100000.0f);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens.size(), 49152u);
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type").size(), 49152u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges").size(), 48900u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id"), 2u);

  ASSERT_EQ(f.tensors().size(), 272u);
  std::map<std::string, int> by_type;
  for (const auto& t : f.tensors()) {
    ++by_type[std::string(ggml_type_name(t.type))];
    EXPECT_NO_THROW(require_supported(t)) << t.name;
  }
  EXPECT_EQ(by_type, (std::map<std::string, int>{{"F32", 61}, {"Q4_1", 210}, {"Q8_0", 1}}));

  // Offsets as gguf.GGUFReader reports them.
  EXPECT_EQ(f.data_offset(), 1785664u);
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dims, (std::vector<uint64_t>{576, 49152}));
  EXPECT_EQ(embd->type, GgmlType::Q8_0);
  EXPECT_EQ(f.tensor_data(*embd).size(), 576u * 49152 / 32 * 34);
  const GgufTensorInfo* norm = f.find_tensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->file_offset, 31866688u);
  const auto weights = as_floats(f.tensor_data(*norm));
  ASSERT_EQ(weights.size(), 576u);
  for (float w : weights) ASSERT_TRUE(std::isfinite(w));
}

}  // namespace
}  // namespace ckv
