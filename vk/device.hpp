// The logical device: one compute queue, the features the shaders may use, and a pipeline cache.
#pragma once
#include <vulkan/vulkan.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device_info.hpp"
#include "instance.hpp"

namespace ckv::vk {

// Every physical device with its capabilities, in enumeration order.
std::vector<DeviceInfo> list_devices(const Instance& instance);

// Picks a device: `spec` is an index ("1") or a case-insensitive name substring ("nvidia"); when empty, the
// environment variable CKV_DEVICE is used; when that is empty too, the first discrete GPU, else integrated GPU,
// else any GPU, else CPU (lavapipe). Throws std::invalid_argument when spec matches nothing.
uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& spec = {});

class Buffer;
enum class MemoryKind;

class Device {
 public:
  Device(Instance& instance, uint32_t physical_index);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  VkPipelineCache pipeline_cache() const { return pipeline_cache_; }
  const DeviceInfo& info() const { return info_; }
  Instance& instance() const { return instance_; }

  // A memory type index that has all `required` flags, preferring ones that also have `preferred` and none of
  // `avoided`.
  uint32_t find_memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred = 0,
                            VkMemoryPropertyFlags avoided = 0) const;
  VkMemoryPropertyFlags memory_type_flags(uint32_t type_index) const;

  // Serialises queue submissions from several streams.
  std::mutex& queue_mutex() { return queue_mutex_; }

  // Bytes held by this process's buffers on this device, now and at the peak (host-visible staging included).
  uint64_t allocated_bytes() const { return allocated_bytes_.load(); }
  uint64_t peak_allocated_bytes() const { return peak_bytes_.load(); }
  void reset_peak_allocated() { peak_bytes_.store(allocated_bytes_.load()); }
  void note_allocation(int64_t bytes);

  // The host-visible buffer that uploads (MemoryKind::Upload) or downloads (Readback) go through, grown to at
  // least `bytes`; hold staging_mutex() while using it. Kept for the device's life, so that a transfer does not
  // create and free a host-visible buffer each time (thousands of them kept an H200 idle long enough to drop its
  // clock in run 12's memory probe; bench/RESULTS.md run 13).
  Buffer& staging_buffer(MemoryKind kind, VkDeviceSize bytes);
  std::mutex& staging_mutex() { return staging_mutex_; }

  // Heap usage now (VK_EXT_memory_budget when present, else the heap sizes).
  std::vector<MemoryHeapInfo> memory_heaps() const;

 private:
  Instance& instance_;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkPipelineCache pipeline_cache_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  DeviceInfo info_;
  std::mutex queue_mutex_;
  std::atomic<uint64_t> allocated_bytes_{0}, peak_bytes_{0};
  std::mutex staging_mutex_;
  std::unique_ptr<Buffer> upload_staging_, readback_staging_;
};

}  // namespace ckv::vk
