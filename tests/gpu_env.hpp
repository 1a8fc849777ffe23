// The GPU every test shares: one context per test process with the validation layer on. Tests that touch the
// GPU derive from GpuTest, which fails the test on any validation message.
#pragma once
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "vk/buffer.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"
#include "vk/transfer.hpp"

namespace ckv::test {

vk::Context& gpu();

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  vk::Context& ctx() { return gpu(); }
  vk::Device& device() { return gpu().device(); }

  // A device-local buffer holding `values`.
  template <class T>
  vk::Buffer make_buffer(const std::vector<T>& values, const char* name = "test input") {
    vk::Buffer b(device(), std::max<size_t>(values.size() * sizeof(T), 16), vk::MemoryKind::DeviceLocal, name);
    vk::upload(device(), b, std::span<const T>(values));
    return b;
  }
  vk::Buffer make_zeroed(size_t bytes, const char* name = "test output");
  template <class T>
  std::vector<T> read(const vk::Buffer& b, size_t count) {
    return vk::download<T>(device(), b, count);
  }
};

// Deterministic random numbers for tests.
std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

}  // namespace ckv::test
