// CPU f16 conversion: exact round trip of every half, and round-to-nearest-even from float.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/half.hpp"

namespace ckv {
namespace {

TEST(Half, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  // Between consecutive halves a and b: below the midpoint goes to a, above to b, at the midpoint to the even one.
  for (uint32_t h = 0; h < 0x7bff; h += 37) {
    const double a = half_to_float(uint16_t(h)), b = half_to_float(uint16_t(h + 1));
    const double mid = (a + b) / 2;
    EXPECT_EQ(float_to_half(float(mid - (b - a) / 8)), h);
    EXPECT_EQ(float_to_half(float(mid + (b - a) / 8)), h + 1);
    EXPECT_EQ(float_to_half(float(mid)), (h % 2 == 0) ? h : h + 1);
  }
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);     // overflow to inf
  EXPECT_EQ(float_to_half(-1e-9f), 0x8000);   // underflow to -0
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
}

}  // namespace
}  // namespace ckv
