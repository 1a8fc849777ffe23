// Embedding lookup from ggml weight blocks: every row must equal the CPU dequantization exactly (both compute
// each value with the same exact fp32 operations).
#include <gtest/gtest.h>

#include "engine/ops/get_rows.hpp"
#include "gpu_env.hpp"
#include "matmul_helpers.hpp"

namespace ckv::test {
namespace {

class GetRows : public GpuTest {
 protected:
  // Looks up `ids` in w (stored `offset` bytes into its buffer) and returns out [ids.size()][k].
  std::vector<float> lookup(const TestWeight& w, const std::vector<uint32_t>& ids, uint64_t offset = 0,
                            uint64_t max_piece_bytes = 0) {
    std::vector<uint8_t> bytes(offset, 0x5A);
    bytes.insert(bytes.end(), w.bytes.begin(), w.bytes.end());
    const vk::Buffer weight = make_buffer(bytes, "embedding");
    const vk::Buffer id_buffer = make_buffer(ids, "ids");
    std::vector<float> init(ids.size() * w.k, -777.0f);
    const vk::Buffer out = make_buffer(init, "rows");
    vk::CommandStream stream(device());
    ops::record_get_rows(ctx(), stream, ops::WeightView{&weight, offset, w.type, w.k, w.n}, id_buffer,
                         uint32_t(ids.size()), out, max_piece_bytes);
    stream.submit_and_wait();
    return read<float>(out, init.size());
  }

  void expect_rows(const TestWeight& w, const std::vector<uint32_t>& ids, const std::vector<float>& got,
                   const std::string& what) {
    size_t bad = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      for (uint32_t c = 0; c < w.k; ++c) {
        const float want = ids[i] < w.n ? w.values[size_t(ids[i]) * w.k + c] : 0.0f;
        if (got[i * w.k + c] != want && bad++ < 5)
          ADD_FAILURE() << what << " " << type_label(w.type) << ": out[" << i << "][" << c << "] (id " << ids[i]
                        << ") = " << got[i * w.k + c] << ", want " << want;
      }
    EXPECT_EQ(bad, 0u) << what;
  }
};

class GetRowsTypes : public GetRows, public ::testing::WithParamInterface<GgmlType> {};

TEST_P(GetRowsTypes, RowsMatchTheCpuExactly) {
  for (uint32_t k : {4u, 172u, 96u, 768u}) {  // F32/F16 rows of 8m + 4 elements end in half a group of 8
    if (k % quant::block_layout(GetParam()).block_size) continue;
    for (WeightSource source : {WeightSource::Quantized, WeightSource::RandomBytes}) {
      const TestWeight w = make_weight(GetParam(), k, 67, 5 + k, source);
      std::vector<uint32_t> ids = {0, 66, 5, 5, 33, 1, 65};  // repeats, first and last rows
      for (uint32_t i = 0; i < 20; ++i) ids.push_back((i * 37 + 11) % 67);
      expect_rows(w, ids, lookup(w, ids), "k=" + std::to_string(k));
    }
  }
}

// Small pieces, an unaligned start and ids outside the weight (zero rows).
TEST_P(GetRowsTypes, SplitWeightAndUnknownIds) {
  const uint32_t k = 256;
  const TestWeight w = make_weight(GetParam(), k, 41, 9);
  const std::vector<uint32_t> ids = {40, 0, 41, 7, 8, 9, 1000000, 39, 20, 21, 22, 23};
  const uint64_t max_piece = 3 * quant::row_bytes(w.type, k) + 40;
  expect_rows(w, ids, lookup(w, ids, 12, max_piece), "split");
}

INSTANTIATE_TEST_SUITE_P(GetRows, GetRowsTypes, ::testing::ValuesIn(device_kernel_types()),
                         [](const auto& info) { return type_label(info.param); });

TEST_F(GetRows, BadArgumentsAreClearErrors) {
  const TestWeight w = make_weight(GgmlType::Q8_0, 64, 4, 1);
  const vk::Buffer weight = make_buffer(w.bytes, "w");
  const vk::Buffer ids = make_zeroed(16, "ids");
  const vk::Buffer out = make_zeroed(4 * 64 * 4, "out");
  vk::CommandStream stream(device());
  auto expect_error = [&](const ops::WeightView& view, uint32_t t, const vk::BufferRange& o, const std::string& needle) {
    try {
      ops::record_get_rows(ctx(), stream, view, ids, t, o);
      ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const ops::WeightView good{&weight, 0, GgmlType::Q8_0, 64, 4};
  ops::WeightView v = good;
  v.type = GgmlType::Q5_0;
  expect_error(v, 1, out, "Q5_0");
  v = good;
  v.k = 48;
  expect_error(v, 1, out, "multiple of 32");
  v = good;
  v.type = GgmlType::F16;
  v.k = 62;
  expect_error(v, 1, out, "multiple of 4");
  expect_error(good, 0, out, "t = 0");
  expect_error(good, 5, out, "ids need");  // 4 ids in the buffer
  expect_error(good, 2, vk::BufferRange(out, 0, 256), "out needs");
  stream.submit_and_wait();
}

}  // namespace
}  // namespace ckv::test
