#include "buffer.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "device.hpp"
#include "error.hpp"

namespace ckv::vk {

namespace {

// CKV_DEDICATED_ALLOC, read once: "1" gives every device-local buffer its own allocation, "0" none beyond those
// the driver requires, anything else follows the driver's preference.
const std::string& dedicated_alloc_mode() {
  static const std::string mode = [] {
    const char* value = std::getenv("CKV_DEDICATED_ALLOC");
    return std::string(value ? value : "");
  }();
  return mode;
}

std::string size_text(VkDeviceSize bytes) {
  char text[64];
  if (bytes >= (1ull << 20))
    std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / double(1ull << 20));
  else
    std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
  return text;
}

}  // namespace

Buffer::Buffer(Device& device, VkDeviceSize size, MemoryKind kind, std::string name)
    : device_(&device), size_(size), kind_(kind), name_(std::move(name)) {
  if (size == 0) throw std::invalid_argument("buffer '" + name_ + "' has size 0");
  const DeviceInfo& info = device.info();
  if (info.max_memory_allocation_size && size > info.max_memory_allocation_size)
    throw OutOfMemoryError("buffer '" + name_ + "' needs " + size_text(size) + ", more than the device's largest allocation (" +
                               size_text(info.max_memory_allocation_size) + "); split it",
                           VK_ERROR_OUT_OF_DEVICE_MEMORY);

  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  buffer_info.size = size;
  buffer_info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                      VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  CKV_VK_CHECK(vkCreateBuffer(device.handle(), &buffer_info, nullptr, &buffer_));

  VkMemoryDedicatedRequirements dedicated_requirements{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
  VkMemoryRequirements2 requirements2{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2, &dedicated_requirements};
  VkBufferMemoryRequirementsInfo2 requirements_info{VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2};
  requirements_info.buffer = buffer_;
  vkGetBufferMemoryRequirements2(device.handle(), &requirements_info, &requirements2);
  const VkMemoryRequirements& requirements = requirements2.memoryRequirements;
  uint32_t type = 0;
  try {
    switch (kind) {
      case MemoryKind::DeviceLocal:
        // Plain device memory before the host-visible (BAR) kind where a device has both.
        type = device.find_memory_type(requirements.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0,
                                       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
        break;
      case MemoryKind::Upload:
        type = device.find_memory_type(requirements.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
        break;
      case MemoryKind::Readback:
        type = device.find_memory_type(requirements.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                       VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        break;
    }
  } catch (...) {
    vkDestroyBuffer(device.handle(), buffer_, nullptr);
    throw;
  }
  coherent_ = device.memory_type_flags(type) & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  alloc.allocationSize = requirements.size;
  alloc.memoryTypeIndex = type;
  // A buffer of its own allocation when the driver prefers it (CKV_DEDICATED_ALLOC overrides, for comparisons).
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  dedicated.buffer = buffer_;
  bool use_dedicated = dedicated_requirements.prefersDedicatedAllocation;
  if (dedicated_alloc_mode() == "1" && kind == MemoryKind::DeviceLocal) use_dedicated = true;
  if (dedicated_alloc_mode() == "0") use_dedicated = false;
  if (use_dedicated || dedicated_requirements.requiresDedicatedAllocation) alloc.pNext = &dedicated;
  VkResult result = vkAllocateMemory(device.handle(), &alloc, nullptr, &memory_);
  if (result != VK_SUCCESS) {
    vkDestroyBuffer(device.handle(), buffer_, nullptr);
    buffer_ = VK_NULL_HANDLE;
    if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
      throw OutOfMemoryError("out of " + std::string(result == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host") +
                                 " memory allocating " + size_text(size) + " for buffer '" + name_ + "'",
                             result);
    throw_vulkan_error("vkAllocateMemory", result);
  }
  device.note_allocation(int64_t(size_));
  try {
    CKV_VK_CHECK(vkBindBufferMemory(device.handle(), buffer_, memory_, 0));
    if (kind != MemoryKind::DeviceLocal) CKV_VK_CHECK(vkMapMemory(device.handle(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_));
  } catch (...) {
    release();
    throw;
  }
}

Buffer::~Buffer() { release(); }

void Buffer::release() noexcept {
  if (!device_) return;
  if (mapped_) vkUnmapMemory(device_->handle(), memory_);
  if (buffer_) vkDestroyBuffer(device_->handle(), buffer_, nullptr);
  if (memory_) {
    vkFreeMemory(device_->handle(), memory_, nullptr);
    device_->note_allocation(-int64_t(size_));
  }
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
}

Buffer::Buffer(Buffer&& other) noexcept { *this = std::move(other); }

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    device_ = std::exchange(other.device_, nullptr);
    buffer_ = std::exchange(other.buffer_, VK_NULL_HANDLE);
    memory_ = std::exchange(other.memory_, VK_NULL_HANDLE);
    size_ = std::exchange(other.size_, 0);
    kind_ = other.kind_;
    coherent_ = other.coherent_;
    mapped_ = std::exchange(other.mapped_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

void Buffer::flush_to_device() const {
  if (coherent_ || !mapped_) return;
  VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  range.memory = memory_;
  range.size = VK_WHOLE_SIZE;
  CKV_VK_CHECK(vkFlushMappedMemoryRanges(device_->handle(), 1, &range));
}

void Buffer::invalidate_from_device() const {
  if (coherent_ || !mapped_) return;
  VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  range.memory = memory_;
  range.size = VK_WHOLE_SIZE;
  CKV_VK_CHECK(vkInvalidateMappedMemoryRanges(device_->handle(), 1, &range));
}

VkDeviceSize BufferRange::bytes() const {
  if (!buffer) return 0;
  return size == VK_WHOLE_SIZE ? buffer->size() - offset : size;
}

}  // namespace ckv::vk
