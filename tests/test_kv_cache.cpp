// KV cache manager and whole-layer compression: growth keeps rows, compaction keeps exactly the selected rows
// (bit for bit) in smaller buffers, positions continue from the original prompt length, memory is accounted.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "engine/kv_cache.hpp"
#include "engine/token_selector.hpp"
#include "gpu_env.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

class KvCacheTest : public GpuTest {
 protected:
  // Fills layer `l` with `tokens` rows of distinct packed-f16 values: word w of row t of head g = tag(g, t, w).
  static uint32_t tag(uint32_t g, uint32_t t, uint32_t w) { return (g << 24) | (t << 8) | w; }
  void fill_layer(KvCache& kv, uint32_t l, uint32_t tokens) {
    vk::CommandStream stream(device());
    kv.reserve(stream, l, tokens);
    stream.submit_and_wait();
    kv.release_retired();
    LayerKv& layer = kv.layer(l);
    const uint32_t words = uint32_t(kv.row_bytes() / 4);
    std::vector<uint32_t> k(size_t(kv.shape().n_kv) * layer.capacity * words, 0);
    for (uint32_t g = 0; g < kv.shape().n_kv; ++g)
      for (uint32_t t = 0; t < tokens; ++t)
        for (uint32_t w = 0; w < words; ++w) k[(size_t(g) * layer.capacity + t) * words + w] = tag(g, t, w);
    std::vector<uint32_t> v = k;
    for (auto& x : v) x = ~x;
    vk::upload(device(), *layer.k, std::span<const uint32_t>(k));
    vk::upload(device(), *layer.v, std::span<const uint32_t>(v));
    kv.append(l, tokens);
  }
  std::vector<uint32_t> read_rows(const vk::Buffer& b, const KvCache& kv, uint32_t capacity, uint32_t g,
                                  uint32_t rows) {
    const uint32_t words = uint32_t(kv.row_bytes() / 4);
    return vk::download<uint32_t>(device(), b, size_t(rows) * words, uint64_t(g) * capacity * words * 4);
  }
};

TEST_F(KvCacheTest, GrowthKeepsRowsAndCountsMemory) {
  KvCache kv(ctx(), KvShape{2, 3, 8, KvDtype::F16}, 16);
  fill_layer(kv, 1, 20);
  const LayerKv& layer = kv.layer(1);
  EXPECT_EQ(layer.capacity, 32u);  // rounded up to the growth chunk
  EXPECT_EQ(layer.length, 20u);
  EXPECT_EQ(layer.positions, 20u);
  EXPECT_EQ(kv.allocated_bytes(), kv.layer_bytes(32));
  vk::CommandStream stream(device());
  kv.reserve(stream, 1, 40);
  stream.submit_and_wait();
  EXPECT_EQ(kv.peak_bytes(), kv.layer_bytes(32) + kv.layer_bytes(48));  // old and new alive during the copy
  kv.release_retired();
  EXPECT_EQ(kv.allocated_bytes(), kv.layer_bytes(48));
  for (uint32_t g = 0; g < 3; ++g) {
    const auto rows = read_rows(*kv.layer(1).k, kv, 48, g, 20);
    for (uint32_t t = 0; t < 20; ++t)
      for (uint32_t w = 0; w < 4; ++w) ASSERT_EQ(rows[t * 4 + w], tag(g, t, w)) << g << " " << t;
  }
  EXPECT_THROW(kv.append(1, 100), std::out_of_range);
  EXPECT_THROW(kv.layer(2), std::out_of_range);
}

TEST_F(KvCacheTest, CompactionKeepsSelectedRowsAndPositions) {
  KvCache kv(ctx(), KvShape{1, 2, 16, KvDtype::F16}, 8);
  fill_layer(kv, 0, 100);
  const std::vector<uint32_t> keep = {0, 3, 7, 50, 92, 93, 94, 95, 96, 97, 98, 99};
  vk::Buffer indices = make_buffer(keep, "indices");
  vk::CommandStream stream(device());
  kv.compact(stream, 0, indices, 1, uint32_t(keep.size()), 4);
  stream.submit_and_wait();
  kv.release_retired();
  const LayerKv& layer = kv.layer(0);
  EXPECT_EQ(layer.length, keep.size());
  EXPECT_EQ(layer.positions, 100u);  // decode continues at the original position
  EXPECT_EQ(layer.capacity, 16u);    // 12 + 4 headroom rounded to the chunk
  EXPECT_EQ(kv.allocated_bytes(), kv.layer_bytes(16));
  for (uint32_t g = 0; g < 2; ++g) {
    const auto k_rows = read_rows(*layer.k, kv, layer.capacity, g, uint32_t(keep.size()));
    const auto v_rows = read_rows(*layer.v, kv, layer.capacity, g, uint32_t(keep.size()));
    for (size_t i = 0; i < keep.size(); ++i)
      for (uint32_t w = 0; w < 8; ++w) {
        ASSERT_EQ(k_rows[i * 8 + w], tag(g, keep[i], w));
        ASSERT_EQ(v_rows[i * 8 + w], ~tag(g, keep[i], w));
      }
  }
  kv.append(0, 1);
  EXPECT_EQ(kv.layer(0).positions, 101u);
  EXPECT_EQ(kv.layer(0).length, keep.size() + 1);
}

// A whole layer through the selector: needle keys aligned with the window queries survive CompressKV; the
// streaming pattern is exact; SnapKV keeps one set per KV head.
class LayerCompression : public KvCacheTest {
 protected:
  static constexpr uint32_t kQ = 4, kKv = 2, kD = 16, kT = 300, kW = 8;
  std::vector<float> keys_, queries_;
  void make_inputs(const std::vector<uint32_t>& needles) {
    queries_ = random_floats(size_t(kQ) * kW * kD, 11);
    keys_ = random_floats(size_t(kKv) * kT * kD, 12);
    std::vector<float> dir(kD, 0.0f);
    for (uint32_t h = 0; h < kQ; ++h)
      for (uint32_t w = 0; w < kW; ++w)
        for (uint32_t c = 0; c < kD; ++c) dir[c] += queries_[(h * kW + w) * kD + c];
    const float norm = std::sqrt(std::inner_product(dir.begin(), dir.end(), dir.begin(), 0.0f));
    for (uint32_t g = 0; g < kKv; ++g)
      for (uint32_t n : needles)
        for (uint32_t c = 0; c < kD; ++c) keys_[(g * kT + n) * kD + c] = 12.0f * dir[c] / norm;
  }
  void load(KvCache& kv) {
    vk::CommandStream stream(device());
    kv.reserve(stream, 0, kT);
    stream.submit_and_wait();
    LayerKv& layer = kv.layer(0);
    std::vector<float> padded(size_t(kKv) * layer.capacity * kD, 0.0f);
    for (uint32_t g = 0; g < kKv; ++g)
      std::copy_n(&keys_[size_t(g) * kT * kD], kT * kD, &padded[size_t(g) * layer.capacity * kD]);
    vk::upload(device(), *layer.k, std::span<const uint32_t>(pack_half(padded)));
    vk::upload(device(), *layer.v, std::span<const uint32_t>(pack_half(padded)));
    kv.append(0, kT);
  }
  std::vector<uint32_t> run(KvPolicy policy, uint32_t budget, uint32_t* index_rows) {
    KvCache kv(ctx(), KvShape{1, kKv, kD, KvDtype::F16}, 32);
    load(kv);
    CompressionConfig config;
    config.policy = policy;
    config.window = kW;
    config.retrieval_heads = {{1, 3, 0, 2}};
    TokenSelector selector(ctx(), AttentionShape{1, kQ, kKv, kD, KvDtype::F16}, config);
    selector.reserve(kT, budget);
    vk::Buffer window_queries = make_buffer(queries_, "window queries");
    const std::vector<uint32_t> before = vk::download<uint32_t>(device(), *kv.layer(0).k, kKv * kv.layer(0).capacity * kD / 2);
    const uint32_t old_capacity = kv.layer(0).capacity;
    vk::CommandStream stream(device());
    const Selection sel = selector.record(stream, 0, budget, kT, window_queries, kv.layer(0));
    kv.compact(stream, 0, *sel.indices, sel.index_rows, sel.count, 16);
    stream.submit_and_wait();
    kv.release_retired();
    *index_rows = sel.index_rows;
    const auto idx = vk::download<uint32_t>(device(), *sel.indices, size_t(sel.index_rows) * sel.count);
    // The compacted K rows are the original rows at the selected indices, bit for bit.
    const LayerKv& layer = kv.layer(0);
    EXPECT_EQ(layer.length, budget);
    EXPECT_EQ(layer.positions, kT);
    const auto after = vk::download<uint32_t>(device(), *layer.k, kKv * layer.capacity * kD / 2);
    for (uint32_t g = 0; g < kKv; ++g)
      for (uint32_t i = 0; i < budget; ++i) {
        const uint32_t src = idx[(sel.index_rows == 1 ? 0 : g) * budget + i];
        for (uint32_t w = 0; w < kD / 2; ++w)
          EXPECT_EQ(after[(g * layer.capacity + i) * kD / 2 + w], before[(g * old_capacity + src) * kD / 2 + w]);
      }
    return idx;
  }
};

TEST_F(LayerCompression, CompressKvKeepsNeedlesAndWindow) {
  make_inputs({40, 41, 177});
  uint32_t rows = 0;
  const auto idx = run(KvPolicy::CompressKV, 24, &rows);
  ASSERT_EQ(rows, 1u);
  ASSERT_EQ(idx.size(), 24u);
  EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()));
  for (uint32_t n : {40u, 41u, 177u}) EXPECT_NE(std::find(idx.begin(), idx.end(), n), idx.end()) << n;
  for (uint32_t w = 0; w < kW; ++w) EXPECT_EQ(idx[16 + w], kT - kW + w);
}

TEST_F(LayerCompression, StreamingKeepsSinksAndRecent) {
  make_inputs({});
  uint32_t rows = 0;
  const auto idx = run(KvPolicy::Streaming, 20, &rows);
  std::vector<uint32_t> want = {0, 1, 2, 3};
  for (uint32_t t = kT - 16; t < kT; ++t) want.push_back(t);
  EXPECT_EQ(idx, want);
}

TEST_F(LayerCompression, SnapKvSelectsPerKvHead) {
  make_inputs({100, 250});
  uint32_t rows = 0;
  const auto idx = run(KvPolicy::SnapKV, 32, &rows);
  ASSERT_EQ(rows, kKv);
  for (uint32_t g = 0; g < kKv; ++g) {
    std::vector<uint32_t> row(idx.begin() + g * 32, idx.begin() + (g + 1) * 32);
    EXPECT_TRUE(std::is_sorted(row.begin(), row.end()));
    for (uint32_t n : {100u, 250u}) EXPECT_NE(std::find(row.begin(), row.end(), n), row.end()) << g << " " << n;
  }
}

TEST_F(LayerCompression, BadSelectorArguments) {
  CompressionConfig config;
  config.retrieval_heads = {{1, 9}};
  EXPECT_THROW(TokenSelector(ctx(), AttentionShape{1, kQ, kKv, kD, KvDtype::F16}, config), std::invalid_argument);
  config.retrieval_heads = {};
  EXPECT_THROW(TokenSelector(ctx(), AttentionShape{1, kQ, kKv, kD, KvDtype::F16}, config), std::invalid_argument);
  EXPECT_THROW(parse_kv_policy("h2o"), std::invalid_argument);
  EXPECT_EQ(parse_kv_policy("pyramidkv"), KvPolicy::PyramidKV);
  config.policy = KvPolicy::SnapKV;
  EXPECT_THROW(layer_budgets(config, 4, 7, 1000), std::invalid_argument);  // budget below the window
  EXPECT_THROW(layer_budgets(config, 4, 0, 1000), std::invalid_argument);
  EXPECT_EQ(layer_budgets(config, 3, 64, 1000), (std::vector<int>{64, 64, 64}));
}

}  // namespace
}  // namespace ckv::test
