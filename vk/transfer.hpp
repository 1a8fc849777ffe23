// Moving bytes between host memory and buffers. Device-local buffers go through a staging buffer.
#pragma once
#include <cstddef>
#include <span>
#include <vector>

#include "buffer.hpp"

namespace ckv::vk {

class Device;

void upload_bytes(Device& device, const Buffer& dst, const void* data, size_t bytes, VkDeviceSize dst_offset = 0);
void download_bytes(Device& device, const Buffer& src, void* data, size_t bytes, VkDeviceSize src_offset = 0);

template <class T>
void upload(Device& device, const Buffer& dst, std::span<const T> values, VkDeviceSize dst_offset = 0) {
  upload_bytes(device, dst, values.data(), values.size_bytes(), dst_offset);
}

template <class T>
std::vector<T> download(Device& device, const Buffer& src, size_t count, VkDeviceSize src_offset = 0) {
  std::vector<T> values(count);
  download_bytes(device, src, values.data(), count * sizeof(T), src_offset);
  return values;
}

}  // namespace ckv::vk
