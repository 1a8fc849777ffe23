// .npy reader and writer: files written by real NumPy (tests/data/npy, made by make_npy.py), round trips of the
// writer, and malformed files that must be rejected with one clear line (never a crash or a huge allocation).
// Values are compared exactly: every fixture value is representable in its dtype and in float.
#include <gtest/gtest.h>

#include "paths.hpp"
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/npy.hpp"

namespace ckv {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const char* name) { return test::source_dir() / "tests" / "data" / "npy" / name; }

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A .npy file from its parts; the header is used as given (no padding), which the reader must accept.
std::string npy_bytes(int major, const std::string& header, const std::string& data, int minor = 0) {
  std::string out = "\x93NUMPY";
  out += char(major);
  out += char(minor);
  const size_t len = header.size();
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) out += char((len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f4_header(const std::string& shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n";
}

// The message of the std::runtime_error that read_npy(path) throws, or "" when it does not throw.
std::string read_error(const fs::path& path) {
  try {
    read_npy(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("ckv_npy_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path path(const std::string& name) const { return dir_ / name; }
  // Writes bytes to a file in the test directory and returns the read error for it.
  std::string error_for(const std::string& bytes, const std::string& name = "bad.npy") {
    write_bytes(path(name), bytes);
    return read_error(path(name));
  }
  size_t files_in_dir() const { return size_t(std::distance(fs::directory_iterator(dir_), fs::directory_iterator())); }

  fs::path dir_;
};

using NpyFromNumpy = NpyTest;

TEST_F(NpyFromNumpy, Float32Matrix) {
  const NpyArray a = read_npy(fixture("f4_2x3.npy"));
  EXPECT_EQ(a.dtype, "<f4");
  EXPECT_EQ(a.shape, (std::vector<size_t>{2, 3}));
  EXPECT_EQ(a.element_count(), 6u);
  EXPECT_EQ(as_float(a), (std::vector<float>{-1, -0.5f, 0, 0.5f, 1, 1.5f}));
  EXPECT_THROW(as_int64(a), std::runtime_error);
}

TEST_F(NpyFromNumpy, Float64ConvertsToFloat) {
  const NpyArray a = read_npy(fixture("f8_4.npy"));
  EXPECT_EQ(a.dtype, "<f8");
  EXPECT_EQ(a.shape, (std::vector<size_t>{4}));
  EXPECT_EQ(as_float(a), (std::vector<float>{1.5f, -2.25f, float(1e-3), 3.0e10f}));
}

TEST_F(NpyFromNumpy, Integers) {
  const NpyArray i4 = read_npy(fixture("i4_3.npy"));
  EXPECT_EQ(i4.dtype, "<i4");
  EXPECT_EQ(as_int64(i4), (std::vector<int64_t>{-1, 0, 2147483647}));
  EXPECT_EQ(as_float(i4), (std::vector<float>{-1, 0, 2147483648.0f}));

  const NpyArray i8 = read_npy(fixture("i8_2x2.npy"));
  EXPECT_EQ(i8.dtype, "<i8");
  EXPECT_EQ(i8.shape, (std::vector<size_t>{2, 2}));
  EXPECT_EQ(as_int64(i8), (std::vector<int64_t>{-5, int64_t(1) << 40, 7, -(int64_t(1) << 62)}));
  EXPECT_EQ(as_float(i8), (std::vector<float>{-5, 0x1p40f, 7, -0x1p62f}));

  const NpyArray u4 = read_npy(fixture("u4_3.npy"));
  EXPECT_EQ(u4.dtype, "<u4");
  EXPECT_EQ(as_int64(u4), (std::vector<int64_t>{0, 4294967295, 7}));
}

TEST_F(NpyFromNumpy, Version2And3Headers) {
  EXPECT_EQ(read_bytes(fixture("f4_v2_3x1x2.npy"))[6], '\x02');
  const NpyArray v2 = read_npy(fixture("f4_v2_3x1x2.npy"));
  EXPECT_EQ(v2.shape, (std::vector<size_t>{3, 1, 2}));
  EXPECT_EQ(as_float(v2), (std::vector<float>{0.25f, -8, 100, 1e-7f, -0.0f, 65504}));

  EXPECT_EQ(read_bytes(fixture("i4_v3_2.npy"))[6], '\x03');
  const NpyArray v3 = read_npy(fixture("i4_v3_2.npy"));
  EXPECT_EQ(v3.shape, (std::vector<size_t>{2}));
  EXPECT_EQ(as_int64(v3), (std::vector<int64_t>{42, -42}));
}

TEST_F(NpyFromNumpy, ScalarAndEmpty) {
  const NpyArray scalar = read_npy(fixture("f4_scalar.npy"));
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(as_float(scalar), (std::vector<float>{3.5f}));

  const NpyArray empty = read_npy(fixture("f4_0x4.npy"));
  EXPECT_EQ(empty.shape, (std::vector<size_t>{0, 4}));
  EXPECT_TRUE(empty.data.empty());
  EXPECT_TRUE(as_float(empty).empty());
}

TEST_F(NpyFromNumpy, RejectsFortranBigEndianAndHalf) {
  const std::string fortran = fixture("fortran_f4_2x3.npy").string();
  EXPECT_EQ(read_error(fortran), fortran + ": Fortran-order arrays are not supported (save a C-order array)");
  const std::string big = fixture("bigendian_f4_3.npy").string();
  EXPECT_EQ(read_error(big), big + ": big-endian dtype '>f4' is not supported (supported: <f4, <f8, <i4, <i8, <u4)");
  const std::string half = fixture("f2_2.npy").string();
  EXPECT_EQ(read_error(half), half + ": unsupported dtype '<f2' (supported: <f4, <f8, <i4, <i8, <u4)");
}

using NpyRoundTrip = NpyTest;

TEST_F(NpyRoundTrip, EveryDtypeAndShape) {
  const std::vector<std::vector<size_t>> shapes = {{}, {0}, {5}, {2, 3}, {2, 1, 4}, {3, 0, 2}};
  std::mt19937 rng(7);
  for (const auto& shape : shapes) {
    size_t n = 1;
    for (size_t d : shape) n *= d;
    std::vector<float> f(n);
    std::vector<int32_t> i32(n);
    std::vector<int64_t> i64(n);
    for (size_t i = 0; i < n; ++i) {
      f[i] = std::uniform_real_distribution<float>(-1e6f, 1e6f)(rng);
      i32[i] = int32_t(rng());
      i64[i] = (int64_t(rng()) << 32) | int64_t(rng());
    }
    write_npy_float32(path("f.npy"), shape, f);
    write_npy_int32(path("i32.npy"), shape, i32);
    write_npy_int64(path("i64.npy"), shape, i64);

    const NpyArray rf = read_npy(path("f.npy"));
    EXPECT_EQ(rf.dtype, "<f4");
    EXPECT_EQ(rf.shape, shape);
    EXPECT_EQ(as_float(rf), f);
    ASSERT_EQ(rf.data.size(), n * 4);
    if (n) {
      EXPECT_EQ(std::memcmp(rf.data.data(), f.data(), n * 4), 0);
    }

    const NpyArray ri32 = read_npy(path("i32.npy"));
    EXPECT_EQ(ri32.dtype, "<i4");
    EXPECT_EQ(ri32.shape, shape);
    EXPECT_EQ(as_int64(ri32), std::vector<int64_t>(i32.begin(), i32.end()));

    const NpyArray ri64 = read_npy(path("i64.npy"));
    EXPECT_EQ(ri64.dtype, "<i8");
    EXPECT_EQ(ri64.shape, shape);
    EXPECT_EQ(as_int64(ri64), i64);
  }
}

TEST_F(NpyRoundTrip, HeaderMatchesNumpyLayout) {
  const std::vector<size_t> shape = {2, 3};
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  write_npy_float32(path("a.npy"), shape, values);
  const std::string bytes = read_bytes(path("a.npy"));
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
  EXPECT_EQ((10 + header_len) % 64, 0u);  // data aligned as NumPy does
  EXPECT_EQ(bytes[10 + header_len - 1], '\n');
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(bytes.substr(10, header.size()), header);
  EXPECT_EQ(bytes.find_first_not_of(' ', 10 + header.size()), 10 + header_len - 1);  // space padding, then '\n'
  EXPECT_EQ(bytes.size(), 10 + header_len + 24);
}

TEST_F(NpyRoundTrip, LongHeaderUsesVersion2) {
  const std::vector<size_t> shape(30000, 1);  // "1, " x 30000 does not fit a 16-bit header length
  const std::vector<int32_t> values = {123};
  write_npy_int32(path("long.npy"), shape, values);
  EXPECT_EQ(read_bytes(path("long.npy"))[6], '\x02');
  const NpyArray a = read_npy(path("long.npy"));
  EXPECT_EQ(a.shape, shape);
  EXPECT_EQ(as_int64(a), (std::vector<int64_t>{123}));
}

TEST_F(NpyRoundTrip, FailedWriteLeavesNoFile) {
  const std::vector<size_t> shape = {2, 3};
  const std::vector<float> five = {1, 2, 3, 4, 5};
  try {
    write_npy_float32(path("a.npy"), shape, five);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "write_npy: " + path("a.npy").string() + ": shape (2, 3) holds 6 elements but 5 were given");
  }
  EXPECT_EQ(files_in_dir(), 0u);

  const fs::path missing_dir = path("no_such_dir") / "a.npy";
  const std::vector<float> six = {1, 2, 3, 4, 5, 6};
  EXPECT_THROW(write_npy_float32(missing_dir, shape, six), std::runtime_error);
  EXPECT_EQ(files_in_dir(), 0u);

  // Overwriting an existing file replaces it whole and leaves no temporary behind.
  write_npy_float32(path("a.npy"), shape, six);
  const std::vector<size_t> shape2 = {1};
  const std::vector<float> one = {9};
  write_npy_float32(path("a.npy"), shape2, one);
  EXPECT_EQ(as_float(read_npy(path("a.npy"))), one);
  EXPECT_EQ(files_in_dir(), 1u);
}

using NpyMalformed = NpyTest;

TEST_F(NpyMalformed, MissingFileAndBadMagic) {
  const std::string missing = path("missing.npy").string();
  EXPECT_EQ(read_error(missing), missing + ": cannot open .npy file: No such file or directory");
  const std::string bad = path("bad.npy").string();
  std::string good = read_bytes(fixture("f4_2x3.npy"));
  good[1] = 'X';
  EXPECT_EQ(error_for(good), bad + ": not a .npy file (bad magic)");
  EXPECT_EQ(error_for("hello world, this is text"), bad + ": not a .npy file (bad magic)");
  EXPECT_EQ(error_for(""), bad + ": truncated header (file ends inside the magic string)");
  EXPECT_EQ(error_for(std::string("\x93NUM")), bad + ": truncated header (file ends inside the magic string)");
  fs::create_directories(path("dir"));
  EXPECT_EQ(read_error(path("dir")), path("dir").string() + ": is a directory, not a .npy file");
}

TEST_F(NpyMalformed, TruncatedFiles) {
  const std::string bad = path("bad.npy").string();
  const std::string good = read_bytes(fixture("f4_2x3.npy"));
  const size_t header_len = size_t(uint8_t(good[8])) | size_t(uint8_t(good[9])) << 8;
  ASSERT_EQ(good.size(), 10 + header_len + 24);
  EXPECT_EQ(error_for(good.substr(0, 7)), bad + ": truncated header (no format version)");
  EXPECT_EQ(error_for(good.substr(0, 9)), bad + ": truncated header (no header length)");
  EXPECT_EQ(error_for(good.substr(0, 40)),
            bad + ": truncated header (header length " + std::to_string(header_len) + " but the file has 40 bytes)");
  EXPECT_EQ(error_for(good.substr(0, good.size() - 4)),
            bad + ": truncated data (shape (2, 3) of <f4 needs 24 bytes, the file has 20)");
  EXPECT_EQ(error_for(good + "xyz"), bad + ": size mismatch (shape (2, 3) of <f4 needs 24 bytes, the file has 27)");
  // Every proper prefix is rejected with a runtime_error.
  for (size_t n = 0; n < good.size(); ++n) EXPECT_NE(error_for(good.substr(0, n)), "") << "prefix " << n;
}

TEST_F(NpyMalformed, VersionsAndHeaderSyntax) {
  const std::string bad = path("bad.npy").string();
  const std::string data(24, '\0');
  EXPECT_EQ(error_for(npy_bytes(4, f4_header("(2, 3)"), data)), bad + ": unsupported .npy format version 4.0");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(2, 3)"), data, 1)), bad + ": unsupported .npy format version 1.1");
  EXPECT_EQ(error_for(npy_bytes(0, f4_header("(2, 3)"), data)), bad + ": unsupported .npy format version 0.0");
  // Unpadded headers, double quotes, no trailing comma and old 'L' suffixes are all valid.
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(2, 3)"), data)), "");
  EXPECT_EQ(error_for(npy_bytes(2, "{\"shape\":(2L,3L),\"descr\":\"<f4\",\"fortran_order\":False}", data)), "");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(6,)"), data)), "");

  EXPECT_EQ(error_for(npy_bytes(1, "[1, 2]", data)), bad + ": header is not a dict");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': '<f4', 'shape': (6,)}", data)),
            bad + ": header lacks one of 'descr', 'fortran_order', 'shape'");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': True}", data)),
            bad + ": unexpected or repeated key 'x' in header");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", data)),
            bad + ": unexpected or repeated key 'descr' in header");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(6)"), data)), bad + ": bad value for key 'shape' in header");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(-6,)"), data)), bad + ": bad value for key 'shape' in header");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(2, 3"), data)), bad + ": bad value for key 'shape' in header");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': '<f4', 'fortran_order': maybe, 'shape': (6,)}", data)),
            bad + ": bad value for key 'fortran_order' in header");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}", data)),
            bad + ": structured dtypes are not supported (supported: <f4, <f8, <i4, <i8, <u4)");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", data)),
            bad + ": expected ',' or '}' in header");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(6,)") + "}", data)), bad + ": text after the header dict");
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr", data)), bad + ": bad key in header");
  // Control characters in a dtype are not echoed into the one-line message.
  EXPECT_EQ(error_for(npy_bytes(1, "{'descr': '<f\n4', 'fortran_order': False, 'shape': (6,)}", data)),
            bad + ": unsupported dtype '<f?4' (supported: <f4, <f8, <i4, <i8, <u4)");
}

TEST_F(NpyMalformed, HugeShapesAndLengthsAllocateNothing) {
  const std::string bad = path("bad.npy").string();
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(4294967296, 4294967296, 16)"), "")),
            bad + ": shape (4294967296, 4294967296, 16) is too large");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(99999999999999999999999,)"), "")),
            bad + ": bad value for key 'shape' in header");
  EXPECT_EQ(error_for(npy_bytes(1, f4_header("(1000000000000,)"), "abcd")),
            bad + ": truncated data (shape (1000000000000,) of <f4 needs 4000000000000 bytes, the file has 4)");
  // A 4 GiB header length in a tiny file.
  std::string huge_len = npy_bytes(2, f4_header("(1,)"), "abcd");
  huge_len[8] = huge_len[9] = huge_len[10] = huge_len[11] = '\xff';
  EXPECT_EQ(error_for(huge_len), bad + ": truncated header (header length 4294967295 but the file has " +
                                     std::to_string(huge_len.size()) + " bytes)");
}

TEST_F(NpyMalformed, RandomCorruptionNeverCrashes) {
  const std::string good = read_bytes(fixture("f4_v2_3x1x2.npy"));
  std::mt19937 rng(2024);
  int rejected = 0;
  for (int trial = 0; trial < 600; ++trial) {
    std::string bytes = good;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % 80] = char(rng() % 256);  // magic, length and header region
    const std::string err = error_for(bytes);
    if (!err.empty()) {
      ++rejected;
      EXPECT_EQ(err.find('\n'), std::string::npos) << err;
      EXPECT_EQ(err.rfind(path("bad.npy").string() + ": ", 0), 0u) << err;
    }
  }
  EXPECT_GT(rejected, 300);
}

TEST(NpyArrayChecks, ConversionsCheckTheDataSize) {
  NpyArray a;
  a.dtype = "<f4";
  a.shape = {3};
  a.data.resize(8);
  EXPECT_THROW(as_float(a), std::runtime_error);
  a.dtype = "|b1";
  a.data.resize(3);
  EXPECT_THROW(as_float(a), std::runtime_error);
  EXPECT_THROW(a.item_size(), std::runtime_error);
}

}  // namespace
}  // namespace ckv
