// The Vulkan layer itself: device choice, buffers, transfers, copy/fill kernels, timestamps, error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "engine/ops/copy.hpp"
#include "gpu_env.hpp"
#include "vk/device.hpp"
#include "vk/error.hpp"

namespace ckv::test {
namespace {

vk::DeviceInfo fake_device(uint32_t index, const char* name, VkPhysicalDeviceType type) {
  vk::DeviceInfo d;
  d.index = index;
  d.name = name;
  d.type = type;
  return d;
}

TEST(DeviceChoice, PrefersDiscreteThenIntegratedThenCpu) {
  std::vector<vk::DeviceInfo> devices = {fake_device(0, "llvmpipe", VK_PHYSICAL_DEVICE_TYPE_CPU),
                                         fake_device(1, "Intel UHD", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU),
                                         fake_device(2, "NVIDIA H100", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)};
  EXPECT_EQ(vk::choose_device(devices, ""), 2u);
  devices.pop_back();
  EXPECT_EQ(vk::choose_device(devices, ""), 1u);
  devices.pop_back();
  EXPECT_EQ(vk::choose_device(devices, ""), 0u);
}

TEST(DeviceChoice, IndexAndNameOverride) {
  std::vector<vk::DeviceInfo> devices = {fake_device(0, "llvmpipe (LLVM 15)", VK_PHYSICAL_DEVICE_TYPE_CPU),
                                         fake_device(1, "NVIDIA H100", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)};
  EXPECT_EQ(vk::choose_device(devices, "0"), 0u);
  EXPECT_EQ(vk::choose_device(devices, "LLVMPIPE"), 0u);
  EXPECT_EQ(vk::choose_device(devices, "h100"), 1u);
  EXPECT_THROW(vk::choose_device(devices, "7"), std::invalid_argument);
  EXPECT_THROW(vk::choose_device(devices, "radeon"), std::invalid_argument);
}

class VkRuntime : public GpuTest {};

TEST_F(VkRuntime, ReportsCapabilities) {
  const vk::DeviceInfo& info = device().info();
  EXPECT_FALSE(info.name.empty());
  EXPECT_GE(info.subgroup_size, 1u);
  EXPECT_GE(info.shared_memory_bytes, 16u * 1024);
  EXPECT_GE(info.max_storage_buffer_range, 1u << 27);
  EXPECT_FALSE(info.heaps.empty());
  const std::string text = vk::format_device_info(info);
  EXPECT_NE(text.find(info.name), std::string::npos);
  EXPECT_NE(text.find("subgroup size"), std::string::npos);
}

TEST_F(VkRuntime, UploadDownloadRoundTrip) {
  std::vector<uint32_t> values(100003);
  std::iota(values.begin(), values.end(), 7u);
  vk::Buffer b = make_buffer(values);
  EXPECT_EQ(read<uint32_t>(b, values.size()), values);
  // A partial read at an offset.
  auto part = vk::download<uint32_t>(device(), b, 10, 4 * 500);
  EXPECT_EQ(part[0], 507u);
  EXPECT_EQ(part[9], 516u);
}

// Uploads and downloads go through one staging buffer each, kept by the device and grown only when a transfer
// needs more (no host-visible buffer is created and freed per transfer).
TEST_F(VkRuntime, TransfersReuseOneStagingBufferEach) {
  std::vector<uint32_t> small(1000, 5u), large(300000);
  std::iota(large.begin(), large.end(), 3u);
  vk::Buffer a = make_buffer(small);
  const VkBuffer first = device().staging_buffer(vk::MemoryKind::Upload, 1).handle();
  vk::Buffer b = make_buffer(small);
  EXPECT_EQ(device().staging_buffer(vk::MemoryKind::Upload, 1).handle(), first);
  vk::Buffer c = make_buffer(large);
  EXPECT_GE(device().staging_buffer(vk::MemoryKind::Upload, 1).size(), large.size() * 4);
  EXPECT_EQ(read<uint32_t>(c, large.size()), large);
  const VkBuffer readback = device().staging_buffer(vk::MemoryKind::Readback, 1).handle();
  EXPECT_EQ(read<uint32_t>(b, small.size()), small);
  EXPECT_EQ(device().staging_buffer(vk::MemoryKind::Readback, 1).handle(), readback);
}

TEST_F(VkRuntime, CopyKernelCopiesEveryWord) {
  const size_t n = 4 * 70001;  // not a multiple of the workgroup size
  std::vector<uint32_t> src(n);
  for (size_t i = 0; i < n; ++i) src[i] = uint32_t(i * 2654435761u);
  vk::Buffer a = make_buffer(src);
  vk::Buffer b = make_zeroed(n * 4);
  vk::CommandStream stream(device());
  ops::record_copy(ctx(), stream, a, b);
  stream.submit_and_wait();
  EXPECT_EQ(read<uint32_t>(b, n), src);
}

TEST_F(VkRuntime, FillKernelAndChainedDispatchesSeeEachOther) {
  const size_t n = 4 * 1000;
  vk::Buffer a = make_zeroed(n * 4);
  vk::Buffer b = make_zeroed(n * 4);
  vk::CommandStream stream(device());
  ops::record_fill(ctx(), stream, a, 0xdeadbeefu);
  ops::record_copy(ctx(), stream, a, b);  // must see the fill: the auto barrier orders them
  stream.submit_and_wait();
  EXPECT_EQ(read<uint32_t>(b, n), std::vector<uint32_t>(n, 0xdeadbeefu));
}

// Two fills of different buffers form an independent group; the copy after the group must see both fills, and
// the stream's automatic barriers are back on after it (and stay off for a stream that had them off).
TEST_F(VkRuntime, IndependentCommandsAreOrderedAfterTheGroup) {
  const size_t n = 1 << 14;
  vk::Buffer a = make_zeroed(n * 4, "a"), b = make_zeroed(n * 4, "b"), c = make_zeroed(2 * n * 4, "c");
  vk::CommandStream stream(device());
  ops::record_fill(ctx(), stream, vk::BufferRange(c, 0, 2 * n * 4), 1u);
  {
    const vk::IndependentCommands fills(stream);
    EXPECT_FALSE(stream.auto_barrier());
    ops::record_fill(ctx(), stream, a, 0x11111111u);
    ops::record_fill(ctx(), stream, b, 0x22222222u);
  }
  EXPECT_TRUE(stream.auto_barrier());
  ops::record_copy(ctx(), stream, a, vk::BufferRange(c, 0, n * 4));
  ops::record_copy(ctx(), stream, b, vk::BufferRange(c, n * 4, n * 4));
  stream.submit_and_wait();
  const auto got = read<uint32_t>(c, 2 * n);
  EXPECT_EQ(std::count(got.begin(), got.begin() + n, 0x11111111u), long(n));
  EXPECT_EQ(std::count(got.begin() + n, got.end(), 0x22222222u), long(n));

  stream.set_auto_barrier(false);
  { const vk::IndependentCommands group(stream); }
  EXPECT_FALSE(stream.auto_barrier());
}

TEST_F(VkRuntime, TimestampsAreOrderedAndPositive) {
  const size_t n = 1 << 20;
  vk::Buffer a = make_zeroed(n * 4);
  vk::Buffer b = make_zeroed(n * 4);
  vk::CommandStream stream(device());
  stream.timestamp("start");
  ops::record_copy(ctx(), stream, a, b);
  stream.timestamp("end");
  stream.submit_and_wait();
  ASSERT_EQ(stream.timestamps().size(), 2u);
  EXPECT_GT(stream.elapsed_ns("start", "end"), 0.0);
}

TEST_F(VkRuntime, OversizedBindingIsAClearError) {
  const VkDeviceSize limit = device().info().max_storage_buffer_range;
  if (limit >= (1ull << 31)) GTEST_SKIP() << "device allows bindings of " << limit << " bytes";
  // One buffer larger than one binding may cover: the whole-buffer binding must be refused with a message,
  // while a range inside the limit binds fine.
  vk::Buffer big(device(), limit + 65536, vk::MemoryKind::DeviceLocal, "big");
  vk::Buffer small = make_zeroed(65536);
  vk::CommandStream stream(device());
  try {
    ops::record_copy(ctx(), stream, vk::BufferRange(big, 0, limit + 65536), vk::BufferRange(big, 0, limit + 65536));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("maxStorageBufferRange"), std::string::npos) << e.what();
  }
  ops::record_copy(ctx(), stream, small, vk::BufferRange(big, limit, 65536));  // past the limit by offset
  stream.submit_and_wait();
  EXPECT_EQ(vk::download<uint32_t>(device(), big, 4, limit)[0], 0u);
}

TEST_F(VkRuntime, ImpossibleAllocationNamesTheRequest) {
  try {
    vk::Buffer huge(device(), VkDeviceSize(1) << 50, vk::MemoryKind::DeviceLocal, "kv cache of layer 3");
    FAIL() << "expected an out-of-memory error";
  } catch (const vk::OutOfMemoryError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("kv cache of layer 3"), std::string::npos) << what;
    EXPECT_NE(what.find("MiB"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ckv::test

namespace ckv::test {
namespace {

// The harness must be able to fail: a deliberately invalid call has to reach the validation log.
TEST(ValidationHarness, InvalidCallIsReported) {
  vk::Context& context = gpu();
  ASSERT_TRUE(context.instance().validation_enabled());
  context.instance().validation_log().take();
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = 0;  // invalid: size must be greater than 0
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkResult result = vkCreateBuffer(context.device().handle(), &info, nullptr, &buffer);
  if (result == VK_SUCCESS && buffer) vkDestroyBuffer(context.device().handle(), buffer, nullptr);
  const auto messages = context.instance().validation_log().take();
  ASSERT_FALSE(messages.empty());
  EXPECT_NE(messages[0].find("size"), std::string::npos) << messages[0];
}

}  // namespace
}  // namespace ckv::test
