// The cooperative-matrix layout probe (shaders/coopmat_layout.comp) and the check that gates the register-softmax
// prefill kernel.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/ops/coopmat_layout.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

constexpr uint32_t kLanes = 32, kElements = 8;

// Probe words for a device whose matrices follow `at(type, lane, element)` -> 16 * row + column.
template <class At>
std::vector<uint32_t> words_from(At at, uint32_t count = kElements) {
  std::vector<uint32_t> words(2 * kLanes * kElements + 2, 0);
  for (uint32_t type = 0; type < 2; ++type)
    for (uint32_t l = 0; l < kLanes; ++l)
      for (uint32_t i = 0; i < kElements; ++i) words[(type * kLanes + l) * kElements + i] = at(type, l, i);
  words[words.size() - 2] = words[words.size() - 1] = count;
  return words;
}

uint32_t quad_position(uint32_t, uint32_t l, uint32_t i) {
  return 16 * (l / 4 + 8 * (i / 4)) + 2 * (l % 4) + i % 2 + 8 * ((i / 2) % 2);
}

TEST(CoopMatLayout, RecognisesTheQuadLayoutOnly) {
  EXPECT_TRUE(ops::coopmat_quad_layout(words_from(quad_position)));
  // Row-major across the subgroup (invocation l holds row l / 2): a valid layout, but not the quad one.
  EXPECT_FALSE(ops::coopmat_quad_layout(words_from([](uint32_t, uint32_t l, uint32_t i) { return 8 * l + i; })));
  // The quad layout for the accumulator but rows swapped in the A matrix.
  EXPECT_FALSE(ops::coopmat_quad_layout(words_from([](uint32_t type, uint32_t l, uint32_t i) {
    return type == 0 ? quad_position(type, l, i) : quad_position(type, l, i) ^ (8u * 16u);
  })));
  // The same quads with the row and column halves of the element index swapped.
  EXPECT_FALSE(ops::coopmat_quad_layout(words_from([](uint32_t, uint32_t l, uint32_t i) {
    return 16 * (l / 4 + 8 * ((i / 2) % 2)) + 2 * (l % 4) + i % 2 + 8 * (i / 4);
  })));
  EXPECT_FALSE(ops::coopmat_quad_layout(words_from(quad_position, 4)));  // subgroups of 64
  EXPECT_FALSE(ops::coopmat_quad_layout({}));
}

class CoopMatLayoutProbe : public GpuTest {};

TEST_F(CoopMatLayoutProbe, EveryPositionOnceForEachType) {
  bool probed = false;
  for (bool khr : {true, false}) {
    const auto words = ops::coopmat_layout_words(ctx(), khr);
    if (!words) continue;
    probed = true;
    ASSERT_EQ(words->size(), 2 * kLanes * kElements + 2);
    ASSERT_EQ((*words)[512], kElements) << (khr ? "khr" : "nv") << " accumulator elements per invocation";
    ASSERT_EQ((*words)[513], kElements) << (khr ? "khr" : "nv") << " A elements per invocation";
    for (uint32_t type = 0; type < 2; ++type) {
      std::vector<int> seen(256, 0);
      for (uint32_t w = 0; w < kLanes * kElements; ++w) {
        const uint32_t position = (*words)[type * kLanes * kElements + w];
        ASSERT_LT(position, 256u);
        ++seen[position];
      }
      for (uint32_t p = 0; p < 256; ++p) EXPECT_EQ(seen[p], 1) << (khr ? "khr" : "nv") << " type " << type << " at " << p;
    }
    // Informational: where invocations 0..5 keep their elements (row,column), for devices without the quad layout.
    for (uint32_t type = 0; type < 2; ++type) {
      std::string line = khr ? "khr" : "nv";
      line += type ? " A:" : " accumulator:";
      for (uint32_t l = 0; l < 6; ++l) {
        line += " |";
        for (uint32_t i = 0; i < kElements; ++i) {
          const uint32_t position = (*words)[(type * kLanes + l) * kElements + i];
          line += ' ';
          line += std::to_string(position / 16);
          line += ',';
          line += std::to_string(position % 16);
        }
      }
      std::printf("%s\n", line.c_str());
    }
    // The answer the kernel choice uses is the same check on the same words.
    EXPECT_EQ(ops::coopmat_has_quad_layout(ctx(), khr), ops::coopmat_quad_layout(*words));
  }
  if (!probed) GTEST_SKIP() << "no cooperative matrices with subgroups of 32 on this device";
}

}  // namespace
}  // namespace ckv::test
