// GGUF writer: files it writes parse back (GgufFile) to the same metadata, values of every type, tensor infos and
// bytes, at several alignments, in memory and on disk; bad input is one GgufError naming the key or tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "cli_runner.hpp"
#include "engine/gguf/gguf_writer.hpp"
#include "engine/half.hpp"

namespace ckv {
namespace {

std::span<const std::byte> as_span(const std::vector<std::byte>& v) { return v; }

template <typename T>
const std::vector<T>& array_of(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  if (!v || !v->get_if<GgufArray>()) throw std::runtime_error(std::string("no array ") + key);
  return std::get<std::vector<T>>(v->get_if<GgufArray>()->elements);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const GgufError& e) {
    return e.what();
  }
  return "";
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  GgufWriter w;
  w.add("u8", GgufValue{uint8_t(200)});
  w.add("i8", GgufValue{int8_t(-100)});
  w.add("u16", GgufValue{uint16_t(60000)});
  w.add("i16", GgufValue{int16_t(-30000)});
  w.add_u32("u32", 4000000000u);
  w.add_i32("i32", -2000000000);
  w.add_f32("f32", 1e-5f);
  w.add_bool("bool_true", true);
  w.add_bool("bool_false", false);
  w.add_string("string", std::string("tab\there, nul \0 inside", 22));
  w.add_string("empty", "");
  w.add_u64("u64", std::numeric_limits<uint64_t>::max());
  w.add("i64", GgufValue{int64_t(-(int64_t(1) << 62))});
  w.add("f64", GgufValue{0.1});
  w.add_string_array("strings", {"a", "", "\xE2\x96\x81the", "<0x0A>"});
  w.add_f32_array("floats", {0.0f, -1.5f, 3.25e9f});
  w.add_i32_array("ints", {1, -2, 2147483647});
  w.add("bools", GgufValue{GgufArray{std::vector<bool>{true, false, true}}});
  w.add("nested", GgufValue{GgufArray{std::vector<GgufArray>{GgufArray{std::vector<uint8_t>{1, 2}},
                                                               GgufArray{std::vector<std::string>{"x"}}}}});
  w.add_i32_array("empty_array", {});

  const std::vector<std::byte> bytes = w.to_bytes();
  EXPECT_EQ(bytes.size(), w.file_size());
  const GgufFile f = GgufFile::parse_memory(as_span(bytes), "mem");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), 21u);  // general.alignment first, then the 20 above in order
  EXPECT_EQ(f.metadata()[0].first, "general.alignment");
  EXPECT_EQ(f.metadata()[1].first, "u8");
  EXPECT_EQ(f.metadata()[20].first, "empty_array");
  EXPECT_EQ(*f.find("u8")->get_if<uint8_t>(), 200);
  EXPECT_EQ(*f.find("i8")->get_if<int8_t>(), -100);
  EXPECT_EQ(*f.find("u16")->get_if<uint16_t>(), 60000);
  EXPECT_EQ(*f.find("i16")->get_if<int16_t>(), -30000);
  EXPECT_EQ(f.get_u32("u32"), 4000000000u);
  EXPECT_EQ(*f.find("i32")->get_if<int32_t>(), -2000000000);
  EXPECT_EQ(f.get_f32("f32"), 1e-5f);
  EXPECT_TRUE(f.get_bool("bool_true"));
  EXPECT_FALSE(f.get_bool("bool_false"));
  EXPECT_EQ(f.get_string("string"), std::string("tab\there, nul \0 inside", 22));
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_EQ(f.get_u64("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*f.find("i64")->get_if<int64_t>(), -(int64_t(1) << 62));
  EXPECT_EQ(*f.find("f64")->get_if<double>(), 0.1);
  EXPECT_EQ(f.get_string_array("strings"), (std::vector<std::string>{"a", "", "\xE2\x96\x81the", "<0x0A>"}));
  EXPECT_EQ(f.get_f32_array("floats"), (std::vector<float>{0.0f, -1.5f, 3.25e9f}));
  EXPECT_EQ(f.get_i32_array("ints"), (std::vector<int32_t>{1, -2, 2147483647}));
  EXPECT_EQ(array_of<bool>(f, "bools"), (std::vector<bool>{true, false, true}));
  const auto& nested = array_of<GgufArray>(f, "nested");
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(std::get<std::vector<uint8_t>>(nested[0].elements), (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(std::get<std::vector<std::string>>(nested[1].elements), (std::vector<std::string>{"x"}));
  EXPECT_TRUE(f.get_i32_array("empty_array").empty());
  EXPECT_TRUE(f.tensors().empty());
}

TEST(GgufWriter, TensorsRoundTripAtEveryAlignment) {
  const std::vector<float> f32 = {1.0f, -2.0f, 0.5f, 3.0f, 7.0f, -0.25f};  // [3, 2]
  const std::vector<float> f16_src = {0.1f, -65504.0f, 1e-7f, 2.0f};     // [4]
  std::vector<std::byte> q8(34 * 2);                                      // Q8_0 [64]: two raw blocks
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = std::byte(i * 7 + 3);
  for (uint32_t alignment : {1u, 32u, 64u, 4096u}) {
    GgufWriter w(alignment);
    w.add_string("general.architecture", "test");
    w.add_f32_tensor("a.f32", {3, 2}, f32);
    w.add_f16_tensor("b.f16", {4}, f16_src);
    w.add_tensor("c.q8_0", {64}, GgmlType::Q8_0, q8);
    w.add_tensor("d.generated", {5, 1, 1, 2}, GgmlType::F32, [](std::span<std::byte> out) {
      for (size_t i = 0; i < out.size() / 4; ++i) {
        const float v = float(i) * 10.0f;
        std::memcpy(out.data() + 4 * i, &v, 4);
      }
    });
    const std::vector<std::byte> bytes = w.to_bytes();
    ASSERT_EQ(bytes.size(), w.file_size()) << alignment;
    const GgufFile f = GgufFile::parse_memory(as_span(bytes), "mem");
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), 4u);
    const GgufTensorInfo& a = f.tensors()[0];
    EXPECT_EQ(a.name, "a.f32");
    EXPECT_EQ(a.dims, (std::vector<uint64_t>{3, 2}));
    EXPECT_EQ(a.type, GgmlType::F32);
    const auto a_data = f.tensor_data(a);
    ASSERT_EQ(a_data.size(), 24u);
    EXPECT_EQ(std::memcmp(a_data.data(), f32.data(), 24), 0);

    const GgufTensorInfo* b = f.find_tensor("b.f16");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->type, GgmlType::F16);
    const auto b_data = f.tensor_data(*b);
    ASSERT_EQ(b_data.size(), 8u);
    for (size_t i = 0; i < 4; ++i) {
      uint16_t h;
      std::memcpy(&h, b_data.data() + 2 * i, 2);
      EXPECT_EQ(h, float_to_half(f16_src[i])) << i;
    }

    const GgufTensorInfo* c = f.find_tensor("c.q8_0");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, GgmlType::Q8_0);
    const auto c_data = f.tensor_data(*c);
    ASSERT_EQ(c_data.size(), q8.size());
    EXPECT_TRUE(std::equal(c_data.begin(), c_data.end(), q8.begin()));

    const GgufTensorInfo* d = f.find_tensor("d.generated");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->dims, (std::vector<uint64_t>{5, 1, 1, 2}));
    const auto d_data = f.tensor_data(*d);
    ASSERT_EQ(d_data.size(), 40u);
    float last;
    std::memcpy(&last, d_data.data() + 36, 4);
    EXPECT_EQ(last, 90.0f);
    for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % alignment, 0u) << t.name;
  }
}

TEST(GgufWriter, WritesTheSameBytesToAFile) {
  GgufWriter w;
  w.add_string("general.name", "file");
  const std::vector<float> v = {1, 2, 3, 4};
  w.add_f32_tensor("t", {4}, v);
  const auto dir = test::fresh_temp_dir("gguf_writer");
  const auto path = dir / "out.gguf";
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.get_string("general.name"), "file");
  EXPECT_EQ(f.size(), w.file_size());
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  const std::vector<std::byte> bytes = w.to_bytes();
  ASSERT_EQ(chars.size(), bytes.size());
  EXPECT_EQ(std::memcmp(chars.data(), bytes.data(), bytes.size()), 0);
  // Only the file itself: the temporary was renamed.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);

  const std::string err = error_of([&] { w.write(dir / "missing-dir" / "x.gguf"); });
  EXPECT_NE(err.find("missing-dir/x.gguf: cannot write"), std::string::npos) << err;
  // A fill that throws leaves no file behind.
  GgufWriter bad;
  bad.add_tensor("t", {4}, GgmlType::F32, [](std::span<std::byte>) { throw GgufError("fill failed"); });
  EXPECT_EQ(error_of([&] { bad.write(dir / "bad.gguf"); }), "fill failed");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  std::filesystem::remove_all(dir);
}

TEST(GgufWriter, BadInputIsOneClearError) {
  const std::vector<float> four = {1, 2, 3, 4};
  GgufWriter w;
  w.add_u32("k", 1);
  EXPECT_NE(error_of([&] { w.add_u32("k", 2); }).find("duplicate metadata key 'k'"), std::string::npos);
  EXPECT_NE(error_of([&] { w.add_u32("general.alignment", 64); }).find("constructor"), std::string::npos);
  EXPECT_NE(error_of([&] { w.add_u32("", 1); }).find("empty metadata key"), std::string::npos);
  EXPECT_NE(error_of([] { GgufWriter bad(48); }).find("alignment 48"), std::string::npos);
  EXPECT_NE(error_of([] { GgufWriter bad(0); }).find("alignment 0"), std::string::npos);

  w.add_f32_tensor("t", {4}, four);
  EXPECT_NE(error_of([&] { w.add_f32_tensor("t", {4}, four); }).find("duplicate tensor name 't'"), std::string::npos);
  EXPECT_NE(error_of([&] { w.add_f32_tensor("u", {5}, four); }).find("tensor 'u' needs 20 bytes of data, got 16"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.add_f32_tensor("u", {4, 0}, four); }).find("zero dimension"), std::string::npos);
  EXPECT_NE(error_of([&] { w.add_f32_tensor("u", {}, four); }).find("0 dimensions"), std::string::npos);
  EXPECT_NE(error_of([&] { w.add_f32_tensor("u", {1, 1, 1, 1, 4}, four); }).find("5 dimensions"), std::string::npos);
  EXPECT_NE(error_of([&] { w.add_tensor("q", {48}, GgmlType::Q8_0, std::vector<std::byte>(51)); })
                .find("48 elements along dim 0, not a multiple of the Q8_0 block size 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.add_tensor("q", {32}, static_cast<GgmlType>(99), std::vector<std::byte>(4)); })
                .find("unknown ggml type id 99"),
            std::string::npos);
  // Failed calls added nothing: the file still parses to one key (+ alignment) and one tensor.
  const std::vector<std::byte> bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse_memory(as_span(bytes), "mem");
  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.tensors().size(), 1u);
}

}  // namespace
}  // namespace ckv
