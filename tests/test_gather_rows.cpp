// GPU gather of KV rows against a plain C++ copy. Raw words are copied, so results must be bit-exact.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "engine/ops/gather_rows.hpp"
#include "engine/ops/topk_select.hpp"
#include "gpu_env.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

constexpr uint32_t kSentinel = 0xA5A5A5A5u;

std::vector<uint32_t> random_words(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> v(n);
  for (auto& w : v) w = rng();
  return v;
}

// Distinct sorted token indices below `capacity` for each index row, as top-k would produce them.
std::vector<uint32_t> random_indices(uint32_t rows, uint32_t count, uint32_t capacity, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> out;
  for (uint32_t r = 0; r < rows; ++r) {
    std::vector<uint32_t> all(capacity);
    std::iota(all.begin(), all.end(), 0u);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(count);
    std::sort(all.begin(), all.end());
    out.insert(out.end(), all.begin(), all.end());
  }
  return out;
}

// dst starts as `dst_before`; rows i < count of head g take src row indices[r(g)][i] when it is in range.
std::vector<uint32_t> gather_reference(const ops::GatherParams& p, const std::vector<uint32_t>& src,
                                       const std::vector<uint32_t>& indices, std::vector<uint32_t> dst) {
  for (uint32_t g = 0; g < p.n_kv; ++g) {
    const uint32_t r = p.index_rows == 1 ? 0 : g;
    for (uint32_t i = 0; i < p.count; ++i) {
      const uint32_t token = indices[size_t(r) * p.count + i];
      if (token >= p.src_capacity) continue;
      std::copy_n(&src[(size_t(g) * p.src_capacity + token) * p.row_words], p.row_words,
                  &dst[(size_t(g) * p.dst_capacity + i) * p.row_words]);
    }
  }
  return dst;
}

class GatherRows : public GpuTest {
 protected:
  void expect_gather_matches(const ops::GatherParams& p, const std::vector<uint32_t>& src,
                             const std::vector<uint32_t>& indices, const std::string& what) {
    const std::vector<uint32_t> dst_before(size_t(p.n_kv) * p.dst_capacity * p.row_words, kSentinel);
    vk::Buffer src_buffer = make_buffer(src, "src");
    vk::Buffer index_buffer = make_buffer(indices, "indices");
    vk::Buffer dst_buffer = make_buffer(dst_before, "dst");
    vk::CommandStream stream(device());
    ops::record_gather_rows(ctx(), stream, p, src_buffer, index_buffer, dst_buffer);
    stream.submit_and_wait();
    EXPECT_EQ(read<uint32_t>(dst_buffer, dst_before.size()), gather_reference(p, src, indices, dst_before)) << what;
  }
};

TEST_F(GatherRows, F16RowsSharedIndices) {
  // head_dim 64 stored as f16 pairs: 32 words per row (uvec4 path); real f16 bit patterns.
  const ops::GatherParams p{4, 32, 300, 200, 150, 1};
  const std::vector<uint32_t> src = pack_half(random_floats(size_t(p.n_kv) * p.src_capacity * 64, 1, -4.0f, 4.0f));
  expect_gather_matches(p, src, random_indices(1, p.count, p.src_capacity, 2), "f16, R = 1");
}

TEST_F(GatherRows, F32RowsPerHeadIndices) {
  const ops::GatherParams p{3, 64, 257, 130, 129, 3};
  std::vector<uint32_t> src(size_t(p.n_kv) * p.src_capacity * p.row_words);
  const std::vector<float> values = random_floats(src.size(), 3, -100.0f, 100.0f);
  std::memcpy(src.data(), values.data(), src.size() * 4);
  expect_gather_matches(p, src, random_indices(p.n_kv, p.count, p.src_capacity, 4), "f32, R = n_kv");
}

TEST_F(GatherRows, RowWordsNotAMultipleOfFour) {
  for (uint32_t row_words : {1u, 3u, 6u, 33u}) {
    for (uint32_t index_rows : {1u, 2u}) {
      const ops::GatherParams p{2, row_words, 100, 64, 50, index_rows};
      const auto src = random_words(size_t(p.n_kv) * p.src_capacity * row_words, 5 + row_words);
      expect_gather_matches(p, src, random_indices(index_rows, p.count, p.src_capacity, 6),
                            "row_words " + std::to_string(row_words) + " index_rows " + std::to_string(index_rows));
    }
  }
}

TEST_F(GatherRows, UnsortedAndRepeatedIndices) {
  const ops::GatherParams p{2, 8, 40, 40, 40, 1};
  std::vector<uint32_t> indices(40);
  for (uint32_t i = 0; i < 40; ++i) indices[i] = (i * 7 + 3) % 13;  // any order, repeats allowed
  expect_gather_matches(p, random_words(size_t(p.n_kv) * p.src_capacity * p.row_words, 7), indices, "unsorted");
}

TEST_F(GatherRows, OutOfRangeIndicesAreSkipped) {
  const ops::GatherParams p{2, 4, 50, 10, 6, 1};
  const std::vector<uint32_t> indices = {0, 50, 7, 0xFFFFFFFFu, 49, 51};
  expect_gather_matches(p, random_words(size_t(p.n_kv) * p.src_capacity * p.row_words, 8), indices,
                        "out-of-range rows keep the sentinel");
}

TEST_F(GatherRows, KAndVBoundByRangesOfOneBuffer) {
  // K and V of a layer live in one buffer, V after K at an aligned offset; the outputs likewise.
  const uint64_t align = std::max<uint64_t>(device().info().min_storage_buffer_offset_alignment, 16);
  const ops::GatherParams p{2, 16, 90, 48, 40, 2};
  const uint64_t src_bytes = uint64_t(p.n_kv) * p.src_capacity * p.row_words * 4;
  const uint64_t dst_bytes = uint64_t(p.n_kv) * p.dst_capacity * p.row_words * 4;
  const uint64_t src_v = (src_bytes + align - 1) / align * align + align;
  const uint64_t dst_v = (dst_bytes + align - 1) / align * align;
  const auto src = random_words((src_v + src_bytes) / 4, 9);
  const auto indices = random_indices(p.n_kv, p.count, p.src_capacity, 10);
  const std::vector<uint32_t> dst_before((dst_v + dst_bytes) / 4, kSentinel);
  vk::Buffer src_buffer = make_buffer(src, "kv");
  vk::Buffer index_buffer = make_buffer(indices, "indices");
  vk::Buffer dst_buffer = make_buffer(dst_before, "compressed kv");
  vk::CommandStream stream(device());
  ops::record_gather_rows(ctx(), stream, p, vk::BufferRange(src_buffer, 0, src_bytes), index_buffer,
                          vk::BufferRange(dst_buffer, 0, dst_bytes));
  ops::record_gather_rows(ctx(), stream, p, vk::BufferRange(src_buffer, src_v, src_bytes), index_buffer,
                          vk::BufferRange(dst_buffer, dst_v, dst_bytes));
  stream.submit_and_wait();
  const std::vector<uint32_t> got = read<uint32_t>(dst_buffer, dst_before.size());
  const std::vector<uint32_t> src_k(src.begin(), src.begin() + src_bytes / 4);
  const std::vector<uint32_t> src_vals(src.begin() + src_v / 4, src.begin() + (src_v + src_bytes) / 4);
  const std::vector<uint32_t> sentinel(dst_bytes / 4, kSentinel);
  EXPECT_EQ(std::vector<uint32_t>(got.begin(), got.begin() + dst_bytes / 4),
            gather_reference(p, src_k, indices, sentinel)) << "K";
  EXPECT_EQ(std::vector<uint32_t>(got.begin() + dst_v / 4, got.end()), gather_reference(p, src_vals, indices, sentinel))
      << "V";
  // The padding between K and V outputs is untouched.
  for (size_t w = dst_bytes / 4; w < dst_v / 4; ++w) ASSERT_EQ(got[w], kSentinel) << "padding word " << w;
}

TEST_F(GatherRows, FollowsTopkInOneSubmission) {
  // Scores -> top-k -> gather of K and V, recorded together with no read-back in between.
  const uint32_t n_kv = 2, window = 8, n = 500, k = 120, row_words = 32;
  const uint32_t length = n + window, budget = k + window;
  const std::vector<float> scores = random_floats(n, 11);
  const ops::TopkParams tp{1, n, k, window};
  const ops::GatherParams gp{n_kv, row_words, length, budget, budget, 1};
  const auto keys = random_words(size_t(n_kv) * length * row_words, 12);
  const auto values = random_words(size_t(n_kv) * length * row_words, 13);
  vk::Buffer score_buffer = make_buffer(scores, "scores");
  vk::Buffer scratch = make_zeroed(ops::topk_scratch_bytes(tp));
  vk::Buffer indices = make_zeroed(budget * 4);
  vk::Buffer k_src = make_buffer(keys, "k"), v_src = make_buffer(values, "v");
  vk::Buffer k_dst = make_zeroed(size_t(n_kv) * budget * row_words * 4);
  vk::Buffer v_dst = make_zeroed(size_t(n_kv) * budget * row_words * 4);
  vk::CommandStream stream(device());
  ops::record_topk_select(ctx(), stream, tp, score_buffer, scratch, indices);
  ops::record_gather_rows(ctx(), stream, gp, k_src, indices, k_dst);
  ops::record_gather_rows(ctx(), stream, gp, v_src, indices, v_dst);
  stream.submit_and_wait();

  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
  std::vector<uint32_t> kept(order.begin(), order.begin() + k);
  std::sort(kept.begin(), kept.end());
  for (uint32_t j = 0; j < window; ++j) kept.push_back(n + j);
  ASSERT_EQ(read<uint32_t>(indices, budget), kept);
  const std::vector<uint32_t> zeros(size_t(n_kv) * budget * row_words, 0);
  EXPECT_EQ(read<uint32_t>(k_dst, zeros.size()), gather_reference(gp, keys, kept, zeros));
  EXPECT_EQ(read<uint32_t>(v_dst, zeros.size()), gather_reference(gp, values, kept, zeros));
}

TEST_F(GatherRows, BadArgumentsAreRejected) {
  vk::Buffer src = make_zeroed(2 * 10 * 4 * 4);
  vk::Buffer idx = make_zeroed(2 * 8 * 4);
  vk::Buffer dst = make_zeroed(2 * 8 * 4 * 4);
  vk::CommandStream stream(device());
  auto record = [&](const ops::GatherParams& p) { ops::record_gather_rows(ctx(), stream, p, src, idx, dst); };
  EXPECT_NO_THROW(record({2, 4, 10, 8, 8, 2}));
  EXPECT_THROW(record({2, 4, 10, 8, 9, 1}), std::invalid_argument);   // count > dst_capacity
  EXPECT_THROW(record({2, 4, 10, 8, 8, 3}), std::invalid_argument);   // index_rows not 1 or n_kv
  EXPECT_THROW(record({2, 4, 11, 8, 8, 1}), std::invalid_argument);   // src too small
  EXPECT_THROW(record({2, 4, 10, 9, 8, 1}), std::invalid_argument);   // dst too small
  EXPECT_THROW(record({2, 8, 5, 5, 4, 1}), std::invalid_argument);    // fits src, but 8-word rows overflow dst
  EXPECT_THROW(record({0, 4, 10, 8, 8, 1}), std::invalid_argument);   // no heads
  EXPECT_THROW(record({2, 0, 10, 8, 8, 1}), std::invalid_argument);   // empty rows
  EXPECT_THROW(ops::record_gather_rows(ctx(), stream, {2, 4, 10, 8, 8, 2}, src, vk::BufferRange(idx, 0, 32), dst),
               std::invalid_argument);  // indices too small for [n_kv, count]
  try {
    record({2, 4, 10, 8, 9, 1});
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("dst_capacity"), std::string::npos) << e.what();
  }
  stream.submit_and_wait();
}

}  // namespace
}  // namespace ckv::test
