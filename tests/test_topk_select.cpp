// GPU top-k selection (radix select + stable compaction) against a stable sort on (score desc, index asc), for
// every implementation (one workgroup per row with subgroup or portable scans, multi-pass).
// Selection is exact: the indices must equal the reference exactly, no tolerance. Rows of n a multiple of 4 take the
// one-group kernel's 16-byte loads (and, with Resident, the register-resident kernel), the others its 4-byte loads;
// the sizes below include both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/ops/topk_select.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

constexpr uint32_t kUnwritten = 0xFFFFFFFFu;

// Per row: the k largest scores (equal scores: lower index first) in ascending index order, then the window.
std::vector<uint32_t> topk_reference(const std::vector<float>& scores, const ops::TopkParams& p) {
  std::vector<uint32_t> out;
  for (uint32_t r = 0; r < p.rows; ++r) {
    const float* row = &scores[size_t(r) * p.n];
    std::vector<uint32_t> order(p.n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return row[a] > row[b]; });
    order.resize(p.k);
    std::sort(order.begin(), order.end());
    out.insert(out.end(), order.begin(), order.end());
    for (uint32_t j = 0; j < p.window; ++j) out.push_back(p.n + j);
  }
  return out;
}

class TopkSelect : public GpuTest, public ::testing::WithParamInterface<ops::TopkAlgorithm> {
 protected:
  // Runs the op with scratch and output full of garbage, so that neither is assumed zero.
  std::vector<uint32_t> run(ops::TopkParams p, const std::vector<float>& scores) {
    p.algorithm = GetParam();
    vk::Buffer score_buffer = make_buffer(scores, "scores");
    vk::Buffer scratch = make_buffer(std::vector<uint32_t>(ops::topk_scratch_bytes(p) / 4, 0xDEADBEEFu), "scratch");
    const size_t out_count = size_t(p.rows) * (p.k + p.window);
    vk::Buffer out = make_buffer(std::vector<uint32_t>(out_count, kUnwritten), "indices");
    vk::CommandStream stream(device());
    ops::record_topk_select(ctx(), stream, p, score_buffer, scratch, out);
    stream.submit_and_wait();
    return read<uint32_t>(out, out_count);
  }

  void expect_matches_reference(const ops::TopkParams& p, const std::vector<float>& scores, const std::string& what) {
    const std::vector<uint32_t> want = topk_reference(scores, p);
    const std::vector<uint32_t> got = run(p, scores);
    ASSERT_EQ(got.size(), want.size()) << what;
    size_t first_bad = got.size();
    for (size_t i = 0; i < got.size() && first_bad == got.size(); ++i)
      if (got[i] != want[i]) first_bad = i;
    EXPECT_EQ(first_bad, got.size()) << what << ": first difference at output " << first_bad << ": got "
                                     << got[first_bad] << " want " << want[first_bad];
  }
};

std::string describe(const ops::TopkParams& p) {
  return "rows " + std::to_string(p.rows) + " n " + std::to_string(p.n) + " k " + std::to_string(p.k) + " window " +
         std::to_string(p.window);
}

TEST_P(TopkSelect, RandomScoresSeveralSizes) {
  for (uint32_t n : {1u, 7u, 255u, 256u, 257u, 10007u}) {
    std::vector<uint32_t> ks = {0u, std::min(1u, n - 1), n / 3, n - 1};
    std::sort(ks.begin(), ks.end());
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    const std::vector<float> scores = random_floats(n, 100 + n, -3.0f, 5.0f);
    for (uint32_t k : ks) {
      const ops::TopkParams p{1, n, k, 4};
      expect_matches_reference(p, scores, describe(p));
    }
  }
}

TEST_P(TopkSelect, WithoutWindow) {
  const uint32_t n = 3001;
  const ops::TopkParams p{1, n, 999, 0};
  expect_matches_reference(p, random_floats(n, 5), describe(p));
}

TEST_P(TopkSelect, LargeRowNeedsNoSort) {
  const uint32_t n = 131072;
  const ops::TopkParams p{1, n, 4096, 64};
  expect_matches_reference(p, random_floats(n, 17, 0.0f, 1.0f), describe(p));
}

TEST_P(TopkSelect, AllEqualScoresKeepTheFirstIndices) {
  const uint32_t n = 5000;
  const std::vector<float> scores(n, 0.25f);
  for (uint32_t k : {1u, 777u, n - 1}) {
    const ops::TopkParams p{1, n, k, 2};
    const std::vector<uint32_t> got = run(p, scores);
    std::vector<uint32_t> want(k);
    std::iota(want.begin(), want.end(), 0u);
    want.push_back(n);
    want.push_back(n + 1);
    EXPECT_EQ(got, want) << describe(p);
  }
}

TEST_P(TopkSelect, ThreeDistinctValuesCutInsideTies) {
  const uint32_t n = 6000;
  std::mt19937 rng(3);
  const float values[3] = {-1.5f, 0.0f, 2.0f};
  std::vector<float> scores(n);
  for (float& s : scores) s = values[rng() % 3];
  const auto top = uint32_t(std::count(scores.begin(), scores.end(), 2.0f));
  // Cuts inside the top value, exactly at its end, and inside the middle value.
  for (uint32_t k : {1u, top / 2, top, top + 1, top + 1000, n - 1}) {
    const ops::TopkParams p{1, n, k, 3};
    expect_matches_reference(p, scores, describe(p));
  }
}

TEST_P(TopkSelect, NegativeAndZeroScores) {
  const uint32_t n = 4000;
  std::vector<float> scores = random_floats(n, 9, -10.0f, -0.001f);
  std::mt19937 rng(4);
  for (int i = 0; i < 300; ++i) scores[rng() % n] = (i % 2) ? 0.0f : -0.0f;  // +0 and -0 must tie
  for (uint32_t k : {1u, 150u, 300u, 2000u}) {
    const ops::TopkParams p{1, n, k, 1};
    expect_matches_reference(p, scores, describe(p));
  }
  // Only zeros of both signs: the lowest indices win whatever the sign.
  const std::vector<float> zeros = {-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f};
  EXPECT_EQ(run({1, 6, 3, 0}, zeros), (std::vector<uint32_t>{0, 1, 2}));
}

TEST_P(TopkSelect, ExtremeMagnitudes) {
  std::vector<float> scores = {FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f, 0.0f, 1.0f, -1.0f,
                               FLT_MAX, 1e-45f,   -FLT_MAX, 3.0f,   -3.0f,  0.5f,   -0.5f, 2e-45f};
  const uint32_t n = uint32_t(scores.size());
  for (uint32_t k = 1; k < n; ++k) {
    const ops::TopkParams p{1, n, k, 2};
    expect_matches_reference(p, scores, describe(p));
  }
}

TEST_P(TopkSelect, MultipleRowsAreIndependent) {
  const uint32_t n = 3000, rows = 4;
  std::vector<float> scores;
  const auto random_row = random_floats(n, 21);
  scores.insert(scores.end(), random_row.begin(), random_row.end());
  scores.insert(scores.end(), n, 7.0f);  // all equal
  const auto negative_row = random_floats(n, 22, -5.0f, -1.0f);
  scores.insert(scores.end(), negative_row.begin(), negative_row.end());
  for (uint32_t i = 0; i < n; ++i) scores.push_back(float(i % 5));  // few distinct values
  for (uint32_t k : {1u, 500u, n - 1}) {
    const ops::TopkParams p{rows, n, k, 8};
    expect_matches_reference(p, scores, describe(p));
  }
}

TEST_P(TopkSelect, NeedlesAreSelected) {
  const uint32_t n = 20000, needles = 16;
  std::vector<float> scores = random_floats(n, 31, 0.0f, 1.0f);
  std::mt19937 rng(32);
  std::vector<uint32_t> where;
  while (where.size() < needles) {
    const uint32_t i = rng() % n;
    if (std::find(where.begin(), where.end(), i) == where.end()) where.push_back(i);
  }
  for (size_t j = 0; j < where.size(); ++j) scores[where[j]] = 50.0f + float(j);
  std::sort(where.begin(), where.end());
  std::vector<uint32_t> want = where;
  for (uint32_t j = 0; j < 4; ++j) want.push_back(n + j);
  EXPECT_EQ(run({1, n, needles, 4}, scores), want);
  const ops::TopkParams wider{1, n, 300, 4};
  const std::vector<uint32_t> got = run(wider, scores);
  for (uint32_t i : where) EXPECT_TRUE(std::binary_search(got.begin(), got.begin() + 300, i)) << "needle " << i;
  expect_matches_reference(wider, scores, describe(wider));
}

TEST_P(TopkSelect, ScratchIsReusedAndBuffersMayBeRanges) {
  const uint64_t align = std::max<uint64_t>(device().info().min_storage_buffer_offset_alignment, 4);
  const uint32_t n = 2500;
  const ops::TopkParams a{2, n, 100, 4, GetParam()};
  const ops::TopkParams b{1, n, 1234, 0, GetParam()};
  const std::vector<float> scores_a = random_floats(2 * n, 41);
  const std::vector<float> scores_b = random_floats(n, 42, -2.0f, 2.0f);
  std::vector<float> all_scores(align / 4, 9.0f);  // scores of b start one alignment unit in
  all_scores.insert(all_scores.end(), scores_b.begin(), scores_b.end());
  vk::Buffer buffer_a = make_buffer(scores_a, "scores a");
  vk::Buffer buffer_b = make_buffer(all_scores, "scores b");
  const size_t scratch_bytes = std::max(ops::topk_scratch_bytes(a), ops::topk_scratch_bytes(b));
  vk::Buffer scratch = make_buffer(std::vector<uint32_t>((align + scratch_bytes) / 4 + 1, 0xDEADBEEFu), "scratch");
  const vk::BufferRange scratch_range(scratch, align, scratch_bytes);
  const uint64_t out_b = (2 * 104 * 4 + align - 1) / align * align;  // b's output after a's, aligned
  vk::Buffer out = make_buffer(std::vector<uint32_t>(out_b / 4 + 1234, kUnwritten), "indices");

  vk::CommandStream stream(device());
  ops::record_topk_select(ctx(), stream, a, buffer_a, scratch_range, vk::BufferRange(out, 0, 2 * 104 * 4));
  ops::record_topk_select(ctx(), stream, b, vk::BufferRange(buffer_b, align, n * 4), scratch_range,
                          vk::BufferRange(out, out_b, 1234 * 4));
  stream.submit_and_wait();
  EXPECT_EQ(read<uint32_t>(out, 2 * 104), topk_reference(scores_a, a));
  EXPECT_EQ(vk::download<uint32_t>(device(), out, 1234, out_b), topk_reference(scores_b, b));
  // The words around the scratch range are not touched.
  EXPECT_EQ(read<uint32_t>(scratch, 1)[0], 0xDEADBEEFu);
  EXPECT_EQ(vk::download<uint32_t>(device(), scratch, 1, align + scratch_bytes)[0], 0xDEADBEEFu);
}

TEST_P(TopkSelect, BadArgumentsAreRejected) {
  vk::Buffer scores = make_zeroed(100 * 4);
  vk::Buffer scratch = make_zeroed(ops::topk_scratch_bytes({1, 100, 10, 4}));
  vk::Buffer out = make_zeroed(14 * 4);
  vk::CommandStream stream(device());
  auto record = [&](const ops::TopkParams& p, const vk::BufferRange& s, const vk::BufferRange& sc,
                    const vk::BufferRange& o) { ops::record_topk_select(ctx(), stream, p, s, sc, o); };
  EXPECT_THROW(record({1, 100, 100, 4}, scores, scratch, out), std::invalid_argument);  // k == n
  EXPECT_THROW(record({1, 100, 150, 4}, scores, scratch, out), std::invalid_argument);  // k > n
  EXPECT_THROW(record({1, 0, 0, 4}, scores, scratch, out), std::invalid_argument);      // no candidates
  EXPECT_THROW(record({0, 100, 10, 4}, scores, scratch, out), std::invalid_argument);   // no rows
  EXPECT_THROW(record({1, 100, 0, 0}, scores, scratch, out), std::invalid_argument);    // empty output
  EXPECT_THROW(record({2, 100, 10, 4}, scores, scratch, out), std::invalid_argument);   // scores too small
  EXPECT_THROW(record({1, 100, 11, 4}, scores, scratch, out), std::invalid_argument);   // output too small
  EXPECT_THROW(record({1, 100, 10, 4}, scores, vk::BufferRange(scratch, 0, 64), out), std::invalid_argument);
  try {
    record({1, 100, 100, 4}, scores, scratch, out);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("k = 100"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(stream.recording());  // nothing was recorded by the rejected calls
}

TEST_P(TopkSelect, RowsAtTheResidentLimit) {
  // The largest row the register-resident kernel holds (9 quads per invocation of 1024), one quad less, and two
  // rows of it; scores with many ties near the cut so that the compaction's tie count matters.
  for (uint32_t n : {ops::kTopkResidentMaxN, ops::kTopkResidentMaxN - 4}) {
    std::vector<float> scores = random_floats(2 * size_t(n), 61, 0.0f, 1.0f);
    for (size_t i = 0; i < scores.size(); i += 3) scores[i] = std::round(scores[i] * 64.0f) / 64.0f;
    for (uint32_t rows : {1u, 2u}) {
      const ops::TopkParams p{rows, n, 504, 8};
      expect_matches_reference(p, std::vector<float>(scores.begin(), scores.begin() + size_t(rows) * n), describe(p));
    }
  }
}

TEST_P(TopkSelect, OneGroupWorkgroupSizes) {
  const uint32_t n = 9000;
  const std::vector<float> scores = random_floats(n, 51, 0.0f, 0.001f);
  for (uint32_t threads : {256u, 512u}) {
    ops::TopkParams p{2, n / 2, 700, 8, GetParam(), threads};
    expect_matches_reference(p, scores, describe(p) + " threads " + std::to_string(threads));
  }
  vk::Buffer buffer = make_buffer(scores, "scores");
  vk::Buffer scratch = make_zeroed(ops::topk_scratch_bytes({1, n, 10, 0}));
  vk::Buffer out = make_zeroed(10 * 4);
  vk::CommandStream stream(device());
  for (uint32_t bad : {128u, 300u, 4096u}) {
    ops::TopkParams p{1, n, 10, 0, GetParam(), bad};
    EXPECT_THROW(ops::record_topk_select(ctx(), stream, p, buffer, scratch, out), std::invalid_argument) << bad;
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, TopkSelect,
                         ::testing::Values(ops::TopkAlgorithm::OneGroup, ops::TopkAlgorithm::OneGroupPortable,
                                           ops::TopkAlgorithm::MultiPass, ops::TopkAlgorithm::Resident),
                         [](const ::testing::TestParamInfo<ops::TopkAlgorithm>& info) {
                           switch (info.param) {
                             case ops::TopkAlgorithm::OneGroup: return "OneGroup";
                             case ops::TopkAlgorithm::OneGroupPortable: return "OneGroupPortable";
                             case ops::TopkAlgorithm::Resident: return "Resident";
                             default: return "MultiPass";
                           }
                         });

}  // namespace
}  // namespace ckv::test
