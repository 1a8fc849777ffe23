// Prefill attention kernel against the double-precision reference: random shapes (head dims, GQA ratios,
// lengths that are not tile multiples), chunked prefill, cache capacity beyond the length, strided Q/O, a
// dominant key, a long sequence, several tile shapes, the tile chooser and bad arguments.
// Each (KV dtype, head dim, tile) is its own pipeline, and lavapipe needs about a second of CPU to compile one, so
// the structured cases reuse the shapes of the random ones where they can (the tile height follows t_q: <= 16,
// <= 32, <= 64 rows).
//
// Tolerance: 1e-4 absolute for both KV dtypes. Outputs are convex combinations of V (|v| <= 1); the kernel
// works in fp32 throughout (dot products of <= 256 terms, exp, sums over <= 1024 keys), which keeps errors at
// the 1e-6 level (worst seen: 6e-7 on lavapipe). For f16 KV the reference uses K and V rounded to half exactly as
// stored, so storage rounding
// (~5e-4 relative) is not part of the error and the same bound applies: a looser f16 bound such as 2e-3 would
// let an accidental half-precision step inside the kernel go unnoticed.
// These tests pin the scalar kernel (path Scalar); the PrefillAttentionCoopMat tests at the end run the tensor-core
// kernel where the device has one (skipped on lavapipe) with a tolerance for its f16 Q and P.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "engine/ops/attention_prefill.hpp"
#include "gpu_env.hpp"
#include "reference.hpp"
#include "shader_registry.hpp"

namespace ckv::test {
namespace {

constexpr double kTolerance = 1e-4;
constexpr float kUnwritten = 12345.0f;  // marks output slots the kernel must not touch
const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Shape {
  KvDtype dtype = KvDtype::F16;
  int n_q = 4, n_kv = 1, d = 64;
  int t_q = 37, q_offset = 0;
  int kv_length = 0;  // 0: q_offset + t_q
  int capacity = 0;   // 0: kv_length
  bool token_major_q = false;
  int q_pad = 0;    // extra floats after each token row (token-major Q only)
  int o_pad = 0;    // extra floats after each output token row
  float scale = 0;  // 0: 1 / sqrt(d)

  int keys() const { return kv_length ? kv_length : q_offset + t_q; }
  int cap() const { return capacity ? capacity : keys(); }
  float softmax_scale() const { return scale != 0 ? scale : 1.0f / std::sqrt(float(d)); }
  std::string name() const {
    return std::string(dtype == KvDtype::F16 ? "f16" : "f32") + " n_q=" + std::to_string(n_q) +
           " n_kv=" + std::to_string(n_kv) + " d=" + std::to_string(d) + " t_q=" + std::to_string(t_q) +
           " q_offset=" + std::to_string(q_offset) + " kv_length=" + std::to_string(keys()) +
           " capacity=" + std::to_string(cap());
  }
};

// q: [n_q, t_q, d]; k, v: [n_kv, kv_length, d] (the reference's layouts).
struct Inputs {
  std::vector<float> q, k, v;
};

Inputs random_inputs(const Shape& s, uint32_t seed, float q_range = 3.0f) {
  Inputs in;
  in.q = random_floats(size_t(s.n_q) * s.t_q * s.d, seed, -q_range, q_range);
  in.k = random_floats(size_t(s.n_kv) * s.keys() * s.d, seed + 1);
  in.v = random_floats(size_t(s.n_kv) * s.keys() * s.d, seed + 2);
  return in;
}

std::vector<double> reference(const Shape& s, const Inputs& in) {
  const bool half = s.dtype == KvDtype::F16;
  // The reference scales by 1/sqrt(d); fold any other scale into Q.
  std::vector<float> q = in.q;
  const double q_factor = double(s.softmax_scale()) * std::sqrt(double(s.d));
  for (float& x : q) x = float(double(x) * q_factor);
  return attention_reference(q, half ? rounded_to_half(in.k) : in.k, half ? rounded_to_half(in.v) : in.v, s.n_q, s.n_kv,
                             s.t_q, s.keys(), s.d, s.q_offset);
}

ops::PrefillAttentionParams params_for(const Shape& s) {
  ops::PrefillAttentionParams p;
  p.n_q = s.n_q;
  p.n_kv = s.n_kv;
  p.head_dim = s.d;
  p.t_q = s.t_q;
  p.q_offset = s.q_offset;
  p.kv_length = s.keys();
  p.kv_capacity = s.cap();
  if (s.token_major_q) {
    p.q_head_stride = s.d;
    p.q_token_stride = s.n_q * s.d + s.q_pad;
  } else {
    p.q_head_stride = s.t_q * s.d;
    p.q_token_stride = s.d;
  }
  p.o_head_stride = s.d;
  p.o_token_stride = s.n_q * s.d + s.o_pad;
  p.scale = s.softmax_scale();
  p.kv_dtype = s.dtype;
  return p;
}

class PrefillAttention : public GpuTest {
 protected:
  // Runs the kernel and returns O as [t_q, n_q, d]. Cache rows past kv_length and Q padding hold NaN, so any
  // read of them shows up in the output; output padding must keep its marker.
  std::vector<float> run(const Shape& s, const Inputs& in, const ops::PrefillAttentionTiles* tiles = nullptr) {
    ops::PrefillAttentionParams p = params_for(s);
    p.path = path_;
    std::vector<float> q_host(size_t(s.n_q - 1) * p.q_head_stride + size_t(s.t_q - 1) * p.q_token_stride + s.d, kNaN);
    for (int h = 0; h < s.n_q; ++h)
      for (int i = 0; i < s.t_q; ++i)
        for (int c = 0; c < s.d; ++c)
          q_host[size_t(h) * p.q_head_stride + size_t(i) * p.q_token_stride + c] =
              in.q[(size_t(h) * s.t_q + i) * s.d + c];

    // K and V share one buffer, as two ranges of a layer's cache.
    std::vector<float> k_cache(size_t(s.n_kv) * s.cap() * s.d, kNaN), v_cache = k_cache;
    for (int g = 0; g < s.n_kv; ++g)
      for (int t = 0; t < s.keys(); ++t)
        for (int c = 0; c < s.d; ++c) {
          k_cache[(size_t(g) * s.cap() + t) * s.d + c] = in.k[(size_t(g) * s.keys() + t) * s.d + c];
          v_cache[(size_t(g) * s.cap() + t) * s.d + c] = in.v[(size_t(g) * s.keys() + t) * s.d + c];
        }
    const size_t kv_bytes = k_cache.size() * kv_dtype_bytes(s.dtype);
    const size_t align = device().info().min_storage_buffer_offset_alignment;
    const size_t v_offset = (kv_bytes + align - 1) / align * align;
    std::vector<uint32_t> cache_words((v_offset + kv_bytes + 3) / 4, 0);
    const auto place = [&](const std::vector<float>& values, size_t byte_offset) {
      if (s.dtype == KvDtype::F16) {
        const std::vector<uint32_t> packed = pack_half(values);
        std::copy(packed.begin(), packed.end(), cache_words.begin() + byte_offset / 4);
      } else {
        std::memcpy(reinterpret_cast<char*>(cache_words.data()) + byte_offset, values.data(), kv_bytes);
      }
    };
    place(k_cache, 0);
    place(v_cache, v_offset);

    const size_t o_count = size_t(s.t_q - 1) * p.o_token_stride + size_t(s.n_q) * s.d;
    vk::Buffer q_buf = make_buffer(q_host, "Q");
    vk::Buffer cache = make_buffer(cache_words, "KV cache");
    vk::Buffer o_buf = make_buffer(std::vector<float>(o_count, kUnwritten), "O");
    vk::CommandStream stream(device());
    const vk::BufferRange k_range(cache, 0, kv_bytes), v_range(cache, v_offset, kv_bytes);
    const vk::BufferRange o_range(o_buf, 0, o_count * 4);
    std::optional<vk::Buffer> clocks;
    if (stage_clocks_) {
      clocks.emplace(make_buffer(std::vector<uint32_t>(ops::prefill_attention_coopmat_profile_words(p, *cm_tiles_), 0),
                                 "stage clocks"));
      ops::record_prefill_attention_stage_profile(ctx(), stream, p, *cm_tiles_, q_buf, k_range, v_range, o_range,
                                                  *clocks);
    } else if (tiles)
      ops::record_prefill_attention(ctx(), stream, p, *tiles, q_buf, k_range, v_range, o_range);
    else if (cm_tiles_)
      ops::record_prefill_attention(ctx(), stream, p, *cm_tiles_, q_buf, k_range, v_range, o_range);
    else
      ops::record_prefill_attention(ctx(), stream, p, q_buf, k_range, v_range, o_range);
    stream.submit_and_wait();
    const std::vector<float> o_host = read<float>(o_buf, o_count);
    if (stage_clocks_) *stage_clocks_ = read<uint32_t>(*clocks, ops::prefill_attention_coopmat_profile_words(p, *cm_tiles_));

    std::vector<float> out(size_t(s.t_q) * s.n_q * s.d);
    size_t touched_padding = 0;
    for (int i = 0; i < s.t_q; ++i) {
      for (int c = 0; c < s.n_q * s.d; ++c) out[size_t(i) * s.n_q * s.d + c] = o_host[size_t(i) * p.o_token_stride + c];
      for (int c = s.n_q * s.d; c < int(p.o_token_stride) && i + 1 < s.t_q; ++c)
        touched_padding += o_host[size_t(i) * p.o_token_stride + c] != kUnwritten;
    }
    EXPECT_EQ(touched_padding, 0u) << "kernel wrote outside the output rows: " << s.name();
    return out;
  }

  void expect_matches_reference(const Shape& s, uint32_t seed, const ops::PrefillAttentionTiles* tiles = nullptr) {
    const Inputs in = random_inputs(s, seed);
    std::string what = s.name();
    if (tiles)
      what += " tile " + std::to_string(tiles->query_rows) + "x" + std::to_string(tiles->key_cols) + "/" +
              std::to_string(tiles->key_threads);
    if (cm_tiles_) what += " coopmat " + cm_tiles_->name();
    expect_close(run(s, in, tiles), reference(s, in), tolerance_, what);
  }

  // Which kernel run() records; the scalar one unless a test says otherwise.
  ops::PrefillAttentionPath path_ = ops::PrefillAttentionPath::Scalar;
  const ops::PrefillAttentionCoopMatTiles* cm_tiles_ = nullptr;
  std::vector<uint32_t>* stage_clocks_ = nullptr;  // set (with cm_tiles_): run the stage-profiling variant into it
  double tolerance_ = kTolerance;
};

// Random inputs over head dims, GQA ratios and lengths around the tile sizes, for both KV dtypes.
struct RandomCase {
  KvDtype dtype;
  int d, gqa, t;
};

class PrefillAttentionRandom : public PrefillAttention, public ::testing::WithParamInterface<RandomCase> {};

TEST_P(PrefillAttentionRandom, MatchesReference) {
  const RandomCase c = GetParam();
  Shape s;
  s.dtype = c.dtype;
  s.d = c.d;
  s.n_kv = c.gqa == 8 ? 1 : 2;
  s.n_q = s.n_kv * c.gqa;
  s.t_q = c.t;
  expect_matches_reference(s, 100u + uint32_t(c.d * 7 + c.gqa * 131 + c.t));
}

std::vector<RandomCase> random_cases() {
  std::vector<RandomCase> cases;
  for (KvDtype dtype : {KvDtype::F16, KvDtype::F32})
    for (int d : {8, 64, 128})
      for (int gqa : {1, 3, 4, 8})
        for (int t : {1, 37, 130}) cases.push_back({dtype, d, gqa, t});
  return cases;
}

std::string random_case_name(const ::testing::TestParamInfo<RandomCase>& info) {
  const RandomCase& c = info.param;
  return std::string(c.dtype == KvDtype::F16 ? "f16" : "f32") + "_d" + std::to_string(c.d) + "_gqa" +
         std::to_string(c.gqa) + "_t" + std::to_string(c.t);
}

INSTANTIATE_TEST_SUITE_P(PrefillAttention, PrefillAttentionRandom, ::testing::ValuesIn(random_cases()),
                         random_case_name);

TEST_F(PrefillAttention, SmallHeadDims) {
  for (int d : {6, 32}) {  // 6 leaves half of the last vec4 column empty
    Shape s;
    s.d = d;
    s.n_q = 6;
    s.n_kv = 2;
    s.t_q = 45;
    expect_matches_reference(s, 7u + d);
  }
}

TEST_F(PrefillAttention, HeadDim256UsesSmallTilesThatFit) {
  Shape s;
  s.d = 256;
  s.n_q = 2;
  s.n_kv = 1;
  s.t_q = 21;
  expect_matches_reference(s, 11);
}

TEST_F(PrefillAttention, ChunkedPrefillSeesEarlierKeys) {
  for (KvDtype dtype : {KvDtype::F16, KvDtype::F32}) {
    Shape s;
    s.dtype = dtype;
    s.n_q = 8;
    s.n_kv = 2;
    s.t_q = 37;
    s.q_offset = 50;  // keys 0..49 come from earlier chunks
    s.capacity = 100;
    expect_matches_reference(s, 21);
  }
}

TEST_F(PrefillAttention, CacheLongerThanTheChunkIsMaskedCausally) {
  // kv_length past the chunk's last position: the extra keys must stay invisible.
  Shape s;
  s.n_q = 4;
  s.n_kv = 4;
  s.t_q = 37;
  s.q_offset = 5;
  s.kv_length = 60;
  s.capacity = 64;
  expect_matches_reference(s, 31);
}

TEST_F(PrefillAttention, CapacityBeyondLengthIsNeverRead) {
  for (KvDtype dtype : {KvDtype::F16, KvDtype::F32}) {
    Shape s;
    s.dtype = dtype;
    s.d = 128;
    s.n_q = 3;
    s.n_kv = 1;
    s.t_q = 33;
    s.capacity = 97;  // rows 33..96 hold NaN
    expect_matches_reference(s, 41);
  }
}

TEST_F(PrefillAttention, TokenMajorQueriesWithPaddedRows) {
  // Q read straight out of a fused projection [T, n_q * d + pad]; O rows padded as well.
  for (KvDtype dtype : {KvDtype::F16, KvDtype::F32}) {
    Shape s;
    s.dtype = dtype;
    s.n_q = 12;
    s.n_kv = 4;
    s.d = 64;
    s.t_q = 37;
    s.q_offset = 3;
    s.token_major_q = true;
    s.q_pad = 2 * 4 * 64;  // room for K and V of the fused projection
    s.o_pad = 6;
    expect_matches_reference(s, 51);
  }
}

TEST_F(PrefillAttention, ScaleIsTakenFromTheParams) {
  Shape s;
  s.n_q = 2;
  s.n_kv = 1;
  s.t_q = 40;
  s.scale = 0.4f;  // far sharper than 1/sqrt(64)
  expect_matches_reference(s, 61);
}

TEST_F(PrefillAttention, OneDominantKeyTakesAllTheWeight) {
  // Every query is close to a direction u, key 5 is 8u, the others are small: each query that can see key 5
  // puts nearly all its weight on it, so the output is V[5]; earlier queries average what they see.
  Shape s;
  s.n_q = 4;
  s.n_kv = 2;
  s.d = 64;
  s.t_q = 40;
  const int dominant = 5;
  for (KvDtype dtype : {KvDtype::F16, KvDtype::F32}) {
    s.dtype = dtype;
    Inputs in = random_inputs(s, 71, 0.1f);
    std::vector<float> u = random_floats(s.d, 72);
    for (size_t i = 0; i < in.q.size(); ++i) in.q[i] += u[i % s.d];
    for (float& x : in.k) x *= 0.1f;
    for (int g = 0; g < s.n_kv; ++g)
      for (int c = 0; c < s.d; ++c) in.k[(size_t(g) * s.keys() + dominant) * s.d + c] = 8.0f * u[c];

    const std::vector<float> got = run(s, in);
    expect_close(got, reference(s, in), kTolerance, s.name());
    const std::vector<float> v = s.dtype == KvDtype::F16 ? rounded_to_half(in.v) : in.v;
    double worst = 0;
    for (int i = dominant; i < s.t_q; ++i)
      for (int h = 0; h < s.n_q; ++h) {
        const int g = h / (s.n_q / s.n_kv);
        for (int c = 0; c < s.d; ++c)
          worst = std::max(worst, std::abs(double(got[(size_t(i) * s.n_q + h) * s.d + c]) -
                                           v[(size_t(g) * s.keys() + dominant) * s.d + c]));
      }
    EXPECT_LT(worst, 1e-3) << "output should be V of the dominant key";
  }
}

TEST_F(PrefillAttention, LongSequence) {
  Shape s;
  s.n_q = 2;
  s.n_kv = 1;
  s.d = 64;
  s.t_q = 1024;
  const Inputs in = random_inputs(s, 81);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<float> got = run(s, in);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  expect_close(got, reference(s, in), kTolerance, s.name());
  RecordProperty("gpu_ms", std::to_string(ms));
}

TEST_F(PrefillAttention, TileShapesOfThisDeviceMatch) {
  // Other devices pick other tiles (more shared memory). Every shape would take a minute of shader compilation on
  // lavapipe, so run one shape per thread-grid width, alternating the tallest and the shortest this device supports
  // (different rows, keys and columns per thread).
  // d = 38 makes rows of 10 vec4 (the last half empty), so most shapes also have padding columns; f32 KV to cover
  // that variant here.
  Shape s;
  s.dtype = KvDtype::F32;
  s.d = 38;
  s.n_q = 2;
  s.n_kv = 1;
  s.t_q = 45;
  s.q_offset = 30;
  s.capacity = 80;
  const auto candidates = ops::prefill_attention_tile_candidates(s.d, device().info().shared_memory_bytes);
  std::vector<ops::PrefillAttentionTiles> picked;
  for (uint32_t key_threads : {8u, 16u, 32u}) {
    std::vector<ops::PrefillAttentionTiles> same_width;
    for (const auto& t : candidates)
      if (t.key_threads == key_threads) same_width.push_back(t);
    ASSERT_FALSE(same_width.empty()) << key_threads;
    picked.push_back(key_threads == 16 ? same_width.back() : same_width.front());
  }
  for (const auto& tiles : picked) expect_matches_reference(s, 101, &tiles);
}

TEST(PrefillAttentionTiles, FitSharedMemoryAndKeepTheShaderInvariants) {
  for (uint32_t shared : {16384u, 32768u, 49152u})
    for (uint32_t d = 2; d <= 256; d += 2)
      for (uint32_t t_q : {1u, 37u, 1024u}) {
        if (shared == 16384u && d > 128) continue;  // d = 256 needs more than 16 KiB
        const auto tiles = ops::choose_prefill_attention_tiles(d, t_q, shared);
        const std::string what = "d=" + std::to_string(d) + " t_q=" + std::to_string(t_q);
        EXPECT_LE(tiles.shared_bytes, shared) << what;
        ASSERT_GT(tiles.key_threads, 0u) << what;
        const uint32_t row_threads = tiles.workgroup / tiles.key_threads;
        EXPECT_EQ(tiles.workgroup % tiles.key_threads, 0u) << what;
        EXPECT_EQ(tiles.query_rows % row_threads, 0u) << what;
        EXPECT_EQ(tiles.key_cols % tiles.key_threads, 0u) << what;
        EXPECT_EQ(tiles.key_cols % 4, 0u) << what;
        EXPECT_LE(tiles.query_rows, std::max(16u, std::bit_ceil(t_q))) << what;
      }
  // lavapipe's 32 KiB: d = 128 runs 32 query rows against 16 keys at a time.
  const auto tiles = ops::choose_prefill_attention_tiles(128, 1024, 32768);
  EXPECT_EQ(tiles.query_rows, 32u);
  EXPECT_EQ(tiles.key_cols, 16u);
  EXPECT_THROW(ops::choose_prefill_attention_tiles(256, 64, 8192), std::invalid_argument);
}

TEST_F(PrefillAttention, BadArgumentsAreRejected) {
  Shape s;
  s.n_q = 4;
  s.n_kv = 2;
  s.d = 16;
  s.t_q = 8;
  s.capacity = 16;
  const ops::PrefillAttentionParams good = params_for(s);
  vk::Buffer q = make_zeroed(size_t(s.n_q) * s.t_q * s.d * 4);
  vk::Buffer kv = make_zeroed(size_t(s.n_kv) * s.cap() * s.d * 2);
  vk::Buffer o = make_zeroed(size_t(s.n_q) * s.t_q * s.d * 4);
  vk::Buffer small = make_zeroed(64);
  vk::CommandStream stream(device());

  const auto expect_error = [&](ops::PrefillAttentionParams p, const std::string& needle,
                                const vk::BufferRange& q_range, const vk::BufferRange& k_range,
                                const vk::BufferRange& o_range) {
    try {
      ops::record_prefill_attention(ctx(), stream, p, q_range, k_range, kv, o_range);
      ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const auto expect_param_error = [&](auto change, const std::string& needle) {
    ops::PrefillAttentionParams p = good;
    change(p);
    expect_error(p, needle, q, kv, o);
  };
  expect_param_error([](auto& p) { p.n_kv = 3; }, "multiple of n_kv");
  expect_param_error([](auto& p) { p.n_kv = 0; }, "positive");
  expect_param_error([](auto& p) { p.head_dim = 15; }, "head_dim");
  expect_param_error([](auto& p) { p.head_dim = 258; }, "head_dim");
  expect_param_error([](auto& p) { p.t_q = 0; }, "t_q");
  expect_param_error([](auto& p) { p.kv_capacity = 4; }, "exceeds kv_capacity");
  expect_param_error([](auto& p) { p.kv_length = 6; }, "exceeds kv_length");
  expect_param_error([](auto& p) { p.q_offset = 2; }, "exceeds kv_length");
  expect_param_error([](auto& p) { p.o_token_stride = 8; }, "overlap");
  expect_param_error([](auto& p) { p.scale = std::numeric_limits<float>::infinity(); }, "scale");
  expect_param_error(
      [](auto& p) {
        p.kv_capacity = 64;
        p.kv_length = 64;
      },
      "K needs");
  expect_error(good, "Q needs", small, kv, o);
  expect_error(good, "K needs", q, small, o);
  expect_error(good, "O needs", q, kv, small);
  ops::PrefillAttentionTiles odd_tiles = ops::choose_prefill_attention_tiles(s.d, s.t_q, 32768);
  odd_tiles.key_threads = 7;
  try {
    ops::record_prefill_attention(ctx(), stream, good, odd_tiles, q, kv, kv, o);
    ADD_FAILURE() << "expected an error for an unsupported tile";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
  }
  stream.submit_and_wait();  // nothing was recorded
}

// ---- Tensor-core kernel ----
// Tolerance 5e-3 absolute: Q (scaled) and P are rounded to f16 (relative 2^-11) before the matrix products, with
// fp32 accumulation; outputs are convex combinations of V (|v| <= 1) and the scores here stay within a few units,
// so errors of a few 1e-4 are expected. A wrong mask, stride or tile offset gives errors of order 0.1.
constexpr double kCoopMatTolerance = 5e-3;

// A device as the H100 reports itself to the tile chooser (the NV list has the shape; KHR too on newer drivers).
vk::DeviceInfo tensor_core_device() {
  vk::DeviceInfo info;
  info.api_version = VK_API_VERSION_1_3;
  info.subgroup_size = 32;
  info.subgroup_size_control = true;
  info.min_subgroup_size = info.max_subgroup_size = 32;
  info.subgroup_shuffle = true;
  info.shared_memory_bytes = 49152;
  info.max_workgroup_invocations = 1024;
  info.float16_arithmetic = true;
  info.vulkan_memory_model = true;
  info.coopmat_nv = true;
  info.coopmat_nv_shapes = {{16, 8, 16, "f16", "f16", "f32", "f32", "subgroup"},
                            {16, 16, 16, "f16", "f16", "f32", "f32", "subgroup"}};
  return info;
}

TEST(PrefillAttentionCoopMatChoice, NeedsEveryFeatureAndTheShape) {
  const vk::DeviceInfo good = tensor_core_device();
  EXPECT_FALSE(ops::prefill_attention_coopmat_unsupported(good, 128, KvDtype::F16));
  EXPECT_FALSE(ops::prefill_attention_coopmat_unsupported(good, 64, KvDtype::F16));
  EXPECT_TRUE(ops::prefill_attention_coopmat_unsupported(good, 96, KvDtype::F16));
  EXPECT_TRUE(ops::prefill_attention_coopmat_unsupported(good, 128, KvDtype::F32));
  const auto without = [&](auto change) {
    vk::DeviceInfo info = good;
    change(info);
    return ops::prefill_attention_coopmat_unsupported(info, 128, KvDtype::F16).value_or("");
  };
  EXPECT_NE(without([](auto& i) { i.coopmat_nv = false; }), "");
  EXPECT_NE(without([](auto& i) { i.coopmat_nv_shapes.erase(i.coopmat_nv_shapes.begin() + 1); }), "");
  EXPECT_NE(without([](auto& i) { i.coopmat_nv_shapes[1].c_type = "f16"; }), "");
  EXPECT_NE(without([](auto& i) { i.float16_arithmetic = false; }), "");
  EXPECT_NE(without([](auto& i) { i.vulkan_memory_model = false; }), "");
  EXPECT_NE(without([](auto& i) { i.subgroup_shuffle = false; }), "");
  EXPECT_NE(without([](auto& i) {
              i.subgroup_size = 64;
              i.subgroup_size_control = false;
            }),
            "");
  // Subgroups of 64 that can be asked for 32 (RDNA) are fine: the pipeline then requires 32.
  vk::DeviceInfo rdna = good;
  rdna.subgroup_size = 64;
  rdna.min_subgroup_size = 32;
  rdna.max_subgroup_size = 64;
  const auto tiles = ops::choose_prefill_attention_coopmat_tiles(rdna, 128, 4096, KvDtype::F16);
  ASSERT_TRUE(tiles);
  EXPECT_EQ(tiles->required_subgroup_size, 32u);
  // A fixed subgroup of 32 needs no size control.
  vk::DeviceInfo fixed = good;
  fixed.subgroup_size_control = false;
  const auto fixed_tiles = ops::choose_prefill_attention_coopmat_tiles(fixed, 128, 4096, KvDtype::F16);
  ASSERT_TRUE(fixed_tiles);
  EXPECT_EQ(fixed_tiles->required_subgroup_size, 0u);
  // With both extensions, KHR is the choice where this build has its variants, and NV stays a candidate.
  vk::DeviceInfo both = good;
  both.coopmat_khr = true;
  both.coopmat_shapes = good.coopmat_nv_shapes;
  const bool khr_built = shaders::has("attention_prefill_cm_khr_d128_bc32");
  const auto both_tiles = ops::choose_prefill_attention_coopmat_tiles(both, 128, 4096, KvDtype::F16);
  ASSERT_TRUE(both_tiles);
  EXPECT_EQ(both_tiles->khr, khr_built);
  const auto all = ops::prefill_attention_coopmat_candidates(both, 128, KvDtype::F16);
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](const auto& t) { return !t.khr; }));
  EXPECT_EQ(std::any_of(all.begin(), all.end(), [](const auto& t) { return t.khr; }), khr_built);
}

TEST(PrefillAttentionCoopMatChoice, TilesFitSharedMemory) {
  vk::DeviceInfo info = tensor_core_device();
  for (uint32_t shared : {32768u, 49152u, 101376u, 232448u}) {
    info.shared_memory_bytes = shared;
    for (uint32_t d : {64u, 128u}) {
      const auto candidates = ops::prefill_attention_coopmat_candidates(info, d, KvDtype::F16);
      ASSERT_FALSE(candidates.empty()) << shared << " " << d;
      for (const auto& t : candidates) {
        EXPECT_LE(t.shared_bytes, shared);
        EXPECT_TRUE(t.key_cols == 32 || t.key_cols == 64);
        EXPECT_FALSE(t.khr);  // only the NV list has the shape here
      }
      for (uint32_t t_q : {1u, 20u, 100u, 4096u}) {
        const auto t = ops::choose_prefill_attention_coopmat_tiles(info, d, t_q, KvDtype::F16);
        ASSERT_TRUE(t) << shared << " " << d << " " << t_q;
        EXPECT_LE(t->query_rows(), std::max(32u, std::bit_ceil(t_q)));
      }
    }
  }
  // 48 KiB at d = 128: 128 query rows (8 subgroups) against 32 keys at a time, 46 KiB.
  info.shared_memory_bytes = 49152;
  const auto t = ops::choose_prefill_attention_coopmat_tiles(info, 128, 4096, KvDtype::F16);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->subgroups, 8u);
  EXPECT_EQ(t->key_cols, 32u);
  EXPECT_EQ(t->shared_bytes, 2u * 32 * 136 * 2 + 8u * 16 * 36 * 4 + 8u * 16 * 40 * 2);
}

TEST(PrefillAttentionCoopMatChoice, RegisterSoftmaxFirstWhereTheLayoutAllowsIt) {
  vk::DeviceInfo info = tensor_core_device();
  ops::CoopMatLayouts layouts;
  layouts.nv_quad = true;
  const auto candidates = ops::prefill_attention_coopmat_candidates(info, 128, KvDtype::F16, layouts);
  ASSERT_FALSE(candidates.empty());
  EXPECT_TRUE(candidates.front().register_softmax);
  EXPECT_TRUE(std::any_of(candidates.begin(), candidates.end(), [](const auto& t) { return !t.register_softmax; }));
  // Only K and V stay in shared memory: 128 query rows against 64 keys fit 48 KiB.
  const auto t = ops::choose_prefill_attention_coopmat_tiles(info, 128, 4096, KvDtype::F16, layouts);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->register_softmax);
  EXPECT_EQ(t->subgroups, 8u);
  EXPECT_EQ(t->key_cols, 64u);
  EXPECT_EQ(t->shared_bytes, 2u * 64 * 136 * 2);
  EXPECT_EQ(t->name(), "nv rs 128x64");
  // Without the layout (or with it for the other API only), no register-softmax tile is offered.
  layouts = {};
  layouts.khr_quad = true;
  for (const auto& c : ops::prefill_attention_coopmat_candidates(info, 128, KvDtype::F16, layouts))
    EXPECT_FALSE(c.register_softmax) << c.name();
}

TEST_F(PrefillAttention, AutoPathAndForcedPaths) {
  Shape s;
  s.n_q = 4;
  s.n_kv = 2;
  s.d = 64;
  s.t_q = 37;
  const bool tensor_cores = !ops::prefill_attention_coopmat_unsupported(device().info(), 64, KvDtype::F16);
  ops::PrefillAttentionParams p = params_for(s);
  p.path = ops::PrefillAttentionPath::Auto;
  EXPECT_EQ(ops::prefill_attention_uses_coopmat(device().info(), p), tensor_cores && !ops::prefill_attention_scalar_forced());
  p.path = ops::PrefillAttentionPath::Scalar;
  EXPECT_FALSE(ops::prefill_attention_uses_coopmat(device().info(), p));
  if (tensor_cores) return;  // the coopmat tests below cover this device
  // No tensor cores (lavapipe): Auto runs the scalar kernel at its tolerance, CoopMat is an error.
  path_ = ops::PrefillAttentionPath::Auto;
  expect_matches_reference(s, 5);
  path_ = ops::PrefillAttentionPath::CoopMat;
  EXPECT_THROW(run(s, random_inputs(s, 5)), std::invalid_argument);
}

class PrefillAttentionCoopMat : public PrefillAttention {
 protected:
  // Skips unless the device runs the tensor-core kernel for head dim d.
  bool use_coopmat(int d) {
    if (const auto why = ops::prefill_attention_coopmat_unsupported(device().info(), uint32_t(d), KvDtype::F16)) {
      reason_ = *why;
      return false;
    }
    path_ = ops::PrefillAttentionPath::CoopMat;
    tolerance_ = kCoopMatTolerance;
    return true;
  }
  std::string reason_;
};

TEST_F(PrefillAttentionCoopMat, RandomShapesMatchReference) {
  for (int d : {64, 128}) {
    if (!use_coopmat(d)) GTEST_SKIP() << "tensor-core kernel: " << reason_;
    for (int gqa : {1, 4})
      for (int t : {1, 15, 37, 130, 300}) {
        Shape s;
        s.d = d;
        s.n_kv = 2;
        s.n_q = 2 * gqa;
        s.t_q = t;
        expect_matches_reference(s, 300u + uint32_t(d + gqa * 7 + t));
      }
  }
}

TEST_F(PrefillAttentionCoopMat, ChunksStridesAndCapacity) {
  if (!use_coopmat(128)) GTEST_SKIP() << "tensor-core kernel: " << reason_;
  Shape s;
  s.d = 128;
  s.n_q = 8;
  s.n_kv = 2;
  s.t_q = 77;
  s.q_offset = 93;      // the chunk sees 93 earlier keys, not a tile multiple
  s.capacity = 300;     // NaN rows past kv_length must never be read
  s.token_major_q = true;
  s.q_pad = 5;          // Q token rows padded (NaN)
  s.o_pad = 3;          // O rows padded (marker must survive)
  expect_matches_reference(s, 41);
  s.token_major_q = false;
  s.kv_length = s.q_offset + s.t_q + 40;  // keys after the chunk are masked
  s.scale = 0.05f;
  expect_matches_reference(s, 42);
}

// One KV head of four query heads, 200 queries after 17 earlier keys: several query and key tiles, none full.
Shape tile_shape(int d) {
  Shape s;
  s.d = d;
  s.n_q = 4;
  s.n_kv = 1;
  s.t_q = 200;
  s.q_offset = 17;
  return s;
}

TEST_F(PrefillAttentionCoopMat, EveryTileOfThisDevice) {
  for (int d : {64, 128}) {
    if (!use_coopmat(d)) GTEST_SKIP() << "tensor-core kernel: " << reason_;
    const Shape s = tile_shape(d);
    const ops::CoopMatLayouts layouts = ops::prefill_attention_coopmat_layouts(ctx());
    for (const auto& tiles :
         ops::prefill_attention_coopmat_candidates(device().info(), uint32_t(d), KvDtype::F16, layouts)) {
      cm_tiles_ = &tiles;
      expect_matches_reference(s, 55u + uint32_t(d));
    }
    cm_tiles_ = nullptr;
  }
}

TEST_F(PrefillAttentionCoopMat, StageProfileKeepsTheOutputAndClocksEveryWorkingSubgroup) {
  if (!use_coopmat(128)) GTEST_SKIP() << "tensor-core kernel: " << reason_;
  const Shape s = tile_shape(128);
  const auto tiles = ops::choose_prefill_attention_coopmat_tiles(device().info(), 128, uint32_t(s.t_q), KvDtype::F16,
                                                                 ops::prefill_attention_coopmat_layouts(ctx()));
  ASSERT_TRUE(tiles);
  if (const auto why = ops::prefill_attention_coopmat_profile_unsupported(device().info(), *tiles, 128))
    GTEST_SKIP() << "stage profile: " << *why;
  std::vector<uint32_t> clocks;
  cm_tiles_ = &*tiles;
  stage_clocks_ = &clocks;
  expect_matches_reference(s, 71);
  stage_clocks_ = nullptr;
  cm_tiles_ = nullptr;
  // Slots are (head, workgroup, subgroup)-major; workgroup x owns rows from (workgroups - 1 - x) * query_rows on.
  const size_t stages = ops::prefill_attention_coopmat_stage_names().size();
  const uint32_t rows_per_wg = tiles->query_rows();
  const uint32_t workgroups = (uint32_t(s.t_q) + rows_per_wg - 1) / rows_per_wg;
  ASSERT_EQ(clocks.size(), size_t(s.n_q) * workgroups * tiles->subgroups * stages);
  size_t working = 0, idle = 0;
  for (uint32_t h = 0; h < uint32_t(s.n_q); ++h)
    for (uint32_t x = 0; x < workgroups; ++x)
      for (uint32_t g = 0; g < tiles->subgroups; ++g) {
        const size_t slot = ((size_t(h) * workgroups + x) * tiles->subgroups + g) * stages;
        const uint32_t row0 = (workgroups - 1 - x) * rows_per_wg;
        const bool has_rows = 16 * g < std::min(rows_per_wg, uint32_t(s.t_q) - row0);
        const uint32_t qk = clocks[slot + 2], softmax = clocks[slot + 3], pv = clocks[slot + 4];
        if (has_rows) {
          ++working;
          EXPECT_GT(qk, 0u) << h << " " << x << " " << g;
          EXPECT_GT(softmax, 0u) << h << " " << x << " " << g;
          EXPECT_GT(pv, 0u) << h << " " << x << " " << g;
        } else {
          ++idle;
          EXPECT_EQ(qk + softmax + pv, 0u) << h << " " << x << " " << g;
        }
      }
  EXPECT_GT(working, 0u);
  EXPECT_GT(idle, 0u);  // 200 rows leave the last subgroups of one workgroup per head without rows
}

TEST_F(PrefillAttentionCoopMat, LongSequenceAndDominantKey) {
  if (!use_coopmat(128)) GTEST_SKIP() << "tensor-core kernel: " << reason_;
  Shape s;
  s.d = 128;
  s.n_q = 4;
  s.n_kv = 1;
  s.t_q = 2000;
  expect_matches_reference(s, 61);
  // One key aligned with every query takes (almost) all the weight, far past the first key tile.
  Inputs in = random_inputs(s, 62, 1.0f);
  for (int c = 0; c < s.d; ++c) in.k[size_t(1500) * s.d + c] = in.q[size_t(1999) * s.d + c] > 0 ? 1.0f : -1.0f;
  expect_close(run(s, in), reference(s, in), kCoopMatTolerance, "dominant key " + s.name());
}

}  // namespace
}  // namespace ckv::test
