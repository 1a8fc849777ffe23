#include "gpu_env.hpp"

#include <sstream>

namespace ckv::test {

vk::Context& gpu() {
  static vk::Context context(vk::ContextOptions{true, false, {}});
  return context;
}

void GpuTest::SetUp() { gpu().instance().validation_log().take(); }

void GpuTest::TearDown() {
  const auto messages = gpu().instance().validation_log().take();
  std::ostringstream text;
  for (const auto& m : messages) text << m << "\n";
  EXPECT_TRUE(messages.empty()) << "validation messages:\n" << text.str();
}

vk::Buffer GpuTest::make_zeroed(size_t bytes, const char* name) {
  vk::Buffer b(device(), std::max<size_t>(bytes, 16), vk::MemoryKind::DeviceLocal, name);
  vk::CommandStream stream(device());
  stream.fill(b, 0);
  stream.submit_and_wait();
  return b;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace ckv::test
