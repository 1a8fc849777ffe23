// Storage buffers with one dedicated memory allocation each: simple and explicit, no sub-allocator.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>

namespace ckv::vk {

class Device;

enum class MemoryKind {
  DeviceLocal,  // GPU memory; shaders read and write it
  Upload,       // host-visible, written by the CPU
  Readback,     // host-visible, cached where possible, read by the CPU
};

class Buffer {
 public:
  Buffer(Device& device, VkDeviceSize size, MemoryKind kind, std::string name);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;

  VkBuffer handle() const { return buffer_; }
  VkDeviceSize size() const { return size_; }
  const std::string& name() const { return name_; }
  MemoryKind kind() const { return kind_; }
  // Non-null for host-visible memory (persistently mapped).
  void* mapped() const { return mapped_; }
  // Host-visible memory that is not coherent needs these around CPU access.
  void flush_to_device() const;
  void invalidate_from_device() const;

 private:
  void release() noexcept;
  Device* device_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_ = 0;
  MemoryKind kind_ = MemoryKind::DeviceLocal;
  bool coherent_ = true;
  void* mapped_ = nullptr;
  std::string name_;
};

// A byte range of a buffer, as bound to one shader binding.
struct BufferRange {
  const Buffer* buffer = nullptr;
  VkDeviceSize offset = 0;
  VkDeviceSize size = VK_WHOLE_SIZE;

  BufferRange() = default;
  BufferRange(const Buffer& b) : buffer(&b) {}  // NOLINT: a whole buffer binds implicitly
  BufferRange(const Buffer& b, VkDeviceSize off, VkDeviceSize sz) : buffer(&b), offset(off), size(sz) {}
  VkDeviceSize bytes() const;
};

}  // namespace ckv::vk
