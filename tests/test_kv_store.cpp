// Appending K/V rows to the cache against a plain C++ copy: f16 rounding must match engine/half.hpp bit for bit
// (round to nearest even), f32 is an exact copy; no row outside dst_start .. dst_start + t - 1 may change.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/half.hpp"
#include "engine/ops/kv_store.hpp"
#include "engine/ops/rope.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

constexpr uint32_t kSentinel = 0x5A5A5A5Au;

uint32_t row_stride_of(const ops::KvStoreParams& p) { return p.src_row_stride ? p.src_row_stride : p.n_kv * p.head_dim; }

// The cache after the store, as 32-bit words: `before` with the new rows written.
std::vector<uint32_t> kv_store_reference(const ops::KvStoreParams& p, const std::vector<float>& src,
                                         std::vector<uint32_t> dst) {
  const bool f16 = p.dtype == KvDtype::F16;
  const uint32_t words_per_row = f16 ? p.head_dim / 2 : p.head_dim;
  for (uint32_t t = 0; t < p.t; ++t)
    for (uint32_t g = 0; g < p.n_kv; ++g) {
      const float* row = &src[size_t(t) * row_stride_of(p) + size_t(g) * p.head_dim];
      uint32_t* out = &dst[(size_t(g) * p.dst_capacity + p.dst_start + t) * words_per_row];
      for (uint32_t w = 0; w < words_per_row; ++w) {
        if (f16)
          out[w] = uint32_t(float_to_half(row[2 * w])) | uint32_t(float_to_half(row[2 * w + 1])) << 16;
        else
          std::memcpy(&out[w], &row[w], 4);
      }
    }
  return dst;
}

class KvStore : public GpuTest {
 protected:
  void check(const ops::KvStoreParams& p, const std::vector<float>& src, const std::string& what) {
    const size_t dst_words = size_t(p.n_kv) * p.dst_capacity * p.head_dim * kv_dtype_bytes(p.dtype) / 4;
    const std::vector<uint32_t> before(dst_words, kSentinel);
    vk::Buffer src_buffer = make_buffer(src, "src");
    vk::Buffer dst_buffer = make_buffer(before, "dst");
    vk::CommandStream stream(device());
    ops::record_kv_store(ctx(), stream, p, src_buffer, dst_buffer);
    stream.submit_and_wait();
    const std::vector<uint32_t> got = read<uint32_t>(dst_buffer, dst_words);
    const std::vector<uint32_t> want = kv_store_reference(p, src, before);
    size_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (got[i] != want[i] && bad++ < 5)
        ADD_FAILURE() << what << ": word " << i << " got 0x" << std::hex << got[i] << " want 0x" << want[i];
    EXPECT_EQ(bad, 0u) << what;
  }
};

std::vector<float> random_src(const ops::KvStoreParams& p, uint32_t seed) {
  return random_floats(size_t(p.t) * row_stride_of(p), seed, -8.0f, 8.0f);
}

TEST_F(KvStore, F16RowsAppendAfterExistingOnes) {
  // Fused-projection layout: 32 more floats per token than K holds; rows 3 .. 7 of a 16-row cache.
  ops::KvStoreParams p{2, 64, 5, 2 * 64 + 32, 16, 3, KvDtype::F16};
  check(p, random_src(p, 1), "f16, dst_start 3");
}

TEST_F(KvStore, F16RoundsToNearestEvenLikeTheCpu) {
  // Halfway cases, f16 subnormals, the largest finite half, overflow to inf, signed zero, values that flush.
  const std::vector<float> special = {
      1.0f + 0x1p-11f,          // halfway between 1 and the next half: even -> 1
      1.0f + 3 * 0x1p-11f,      // halfway: even -> 1 + 2^-9
      -(2.0f + 0x1p-10f),       // halfway: even -> -2
      1.0f + 0x1p-11f + 0x1p-20f,  // just above halfway -> up
      0x1p-20f, 3 * 0x1p-25f,   // subnormal halves (the second halfway between 2^-24 and 2^-23)
      0x1p-25f, 0x1p-26f,       // 2^-25 ties to 0; below rounds to 0
      65504.0f, 65519.0f,       // the largest half; below the overflow threshold
      65520.0f, -1e6f,          // overflow -> +inf, -inf
      -0.0f, 0.0f, 1e-8f, 3.14159265f};
  ops::KvStoreParams p{1, 16, 2, 0, 4, 1, KvDtype::F16};
  std::vector<float> src = special;
  src.insert(src.end(), special.rbegin(), special.rend());
  check(p, src, "f16 rounding cases");
}

TEST_F(KvStore, F32CopiesExactly) {
  // Rows 6 .. 9, the end of the cache; head_dim 8 (small rows).
  ops::KvStoreParams p{3, 8, 4, 0, 10, 6, KvDtype::F32};
  std::vector<float> src = random_src(p, 2);
  src[5] = std::nanf("");  // an f32 copy moves any bits (a quiet NaN stays that NaN)
  src[6] = 1e-40f;         // and a denormal
  check(p, src, "f32, dst_start 6 of 10");
}

TEST_F(KvStore, WholeCacheAndSingleToken) {
  ops::KvStoreParams whole{4, 128, 12, 0, 12, 0, KvDtype::F16};
  check(whole, random_src(whole, 3), "f16, all 12 rows");
  ops::KvStoreParams decode{4, 128, 1, 3 * 4 * 128, 300, 257, KvDtype::F32};  // V inside a fused QKV row
  check(decode, random_src(decode, 4), "f32, one decode token at row 257");
}

// The rotating store must write exactly what RoPE in place (rope.comp, tested against a double reference in
// test_norm_rope.cpp) followed by the plain store writes: same fp32 arithmetic, so bit for bit.
TEST_F(KvStore, RotatingStoreEqualsRopeThenStore) {
  struct Case {
    KvDtype dtype;
    ops::RopeMode mode;
    uint32_t head_dim, rope_dim;
  };
  for (const Case& c : {Case{KvDtype::F16, ops::RopeMode::Normal, 64, 64}, Case{KvDtype::F16, ops::RopeMode::Neox, 64, 64},
                        Case{KvDtype::F32, ops::RopeMode::Normal, 32, 16}, Case{KvDtype::F32, ops::RopeMode::Neox, 48, 32}}) {
    ops::KvStoreParams p;
    p.n_kv = 3;
    p.head_dim = c.head_dim;
    p.t = 5;
    p.src_row_stride = 3 * c.head_dim + 8;
    p.dst_capacity = 12;
    p.dst_start = 4;
    p.dtype = c.dtype;
    ops::RopeParams rope;
    rope.n_heads = p.n_kv;
    rope.head_dim = c.head_dim;
    rope.rope_dim = c.rope_dim;
    rope.t = p.t;
    rope.freq_base = 10000.0f;
    rope.freq_scale = 0.5f;
    rope.mode = c.mode;
    rope.row_stride = p.src_row_stride;
    const std::vector<float> src = random_src(p, 77);
    const std::vector<uint32_t> positions = {0, 1, 17, 4000, 31999};
    const size_t dst_words = size_t(p.n_kv) * p.dst_capacity * p.head_dim * kv_dtype_bytes(p.dtype) / 4;
    vk::Buffer fused_src = make_buffer(src, "src"), plain_src = make_buffer(src, "src copy");
    vk::Buffer fused = make_buffer(std::vector<uint32_t>(dst_words, kSentinel), "fused dst");
    vk::Buffer plain = make_buffer(std::vector<uint32_t>(dst_words, kSentinel), "plain dst");
    vk::Buffer pos = make_buffer(positions, "positions");
    vk::CommandStream stream(device());
    const vk::BufferRange pos_range(pos);
    ops::record_kv_store(ctx(), stream, p, fused_src, fused, &rope, &pos_range);
    ops::record_rope(ctx(), stream, rope, plain_src, pos);
    ops::record_kv_store(ctx(), stream, p, plain_src, plain);
    stream.submit_and_wait();
    const std::string what = std::string(c.dtype == KvDtype::F16 ? "f16" : "f32") +
                             (c.mode == ops::RopeMode::Neox ? " neox" : " normal") + " rope_dim " +
                             std::to_string(c.rope_dim);
    EXPECT_EQ(read<uint32_t>(fused, dst_words), read<uint32_t>(plain, dst_words)) << what;
    EXPECT_EQ(read<float>(fused_src, src.size()), src) << what << ": the source must stay unrotated";
  }
  // Bad rotation parameters and missing positions are rejected.
  ops::KvStoreParams p{1, 8, 1, 0, 4, 0, KvDtype::F16};
  ops::RopeParams bad;
  bad.head_dim = 8;
  bad.rope_dim = 10;
  vk::Buffer src = make_zeroed(64), dst = make_zeroed(64), pos = make_zeroed(16);
  vk::CommandStream stream(device());
  const vk::BufferRange pos_range(pos);
  EXPECT_THROW(ops::record_kv_store(ctx(), stream, p, src, dst, &bad, &pos_range), std::invalid_argument);
  bad.rope_dim = 8;
  EXPECT_THROW(ops::record_kv_store(ctx(), stream, p, src, dst, &bad, nullptr), std::invalid_argument);
}

TEST_F(KvStore, RejectsBadArguments) {
  vk::Buffer src = make_zeroed(4 * 2 * 64 * 4);
  vk::Buffer dst = make_zeroed(2 * 8 * 64 * 2);
  vk::CommandStream stream(device());
  const ops::KvStoreParams ok{2, 64, 4, 0, 8, 4, KvDtype::F16};
  auto record = [&](auto change) {
    ops::KvStoreParams p = ok;
    change(p);
    ops::record_kv_store(ctx(), stream, p, src, dst);
  };
  EXPECT_NO_THROW(record([](auto&) {}));
  EXPECT_THROW(record([](auto& p) { p.head_dim = 63; }), std::invalid_argument);
  EXPECT_THROW(record([](auto& p) { p.head_dim = 0; }), std::invalid_argument);
  EXPECT_THROW(record([](auto& p) { p.n_kv = 0; }), std::invalid_argument);
  EXPECT_THROW(record([](auto& p) { p.dst_start = 5; }), std::invalid_argument);       // past the capacity
  EXPECT_THROW(record([](auto& p) { p.src_row_stride = 100; }), std::invalid_argument); // below n_kv x head_dim
  EXPECT_THROW(record([](auto& p) { p.dtype = KvDtype::F32; }), std::invalid_argument); // dst too small for f32
  EXPECT_THROW(record([](auto& p) { p.t = 5; p.dst_start = 0; }), std::invalid_argument);  // src too small
  EXPECT_THROW(record([](auto& p) { p.dst_capacity = 9; p.dst_start = 0; }), std::invalid_argument);  // dst
  stream.submit_and_wait();
}

}  // namespace
}  // namespace ckv::test
