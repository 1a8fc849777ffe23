#include "transfer.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "command_stream.hpp"
#include "device.hpp"

namespace ckv::vk {

namespace {
// Large transfers go through a bounded staging buffer in pieces.
constexpr VkDeviceSize kStagingBytes = 64ull << 20;

void check_range(const Buffer& buffer, size_t bytes, VkDeviceSize offset, const char* what) {
  if (offset + bytes > buffer.size())
    throw std::out_of_range(std::string(what) + " of " + std::to_string(bytes) + " bytes at offset " +
                            std::to_string(offset) + " exceeds buffer '" + buffer.name() + "' (" +
                            std::to_string(buffer.size()) + " bytes)");
}
}  // namespace

void upload_bytes(Device& device, const Buffer& dst, const void* data, size_t bytes, VkDeviceSize dst_offset) {
  check_range(dst, bytes, dst_offset, "upload");
  if (bytes == 0) return;
  if (dst.mapped()) {
    std::memcpy(static_cast<char*>(dst.mapped()) + dst_offset, data, bytes);
    dst.flush_to_device();
    return;
  }
  std::lock_guard<std::mutex> lock(device.staging_mutex());
  Buffer& staging = device.staging_buffer(MemoryKind::Upload, std::min<VkDeviceSize>(bytes, kStagingBytes));
  CommandStream stream(device, 0);
  for (size_t done = 0; done < bytes;) {
    const size_t piece = std::min<size_t>(bytes - done, staging.size());
    std::memcpy(staging.mapped(), static_cast<const char*>(data) + done, piece);
    staging.flush_to_device();
    stream.copy(BufferRange(staging, 0, piece), BufferRange(dst, dst_offset + done, piece));
    stream.submit_and_wait();
    done += piece;
  }
}

void download_bytes(Device& device, const Buffer& src, void* data, size_t bytes, VkDeviceSize src_offset) {
  check_range(src, bytes, src_offset, "download");
  if (bytes == 0) return;
  if (src.mapped()) {
    src.invalidate_from_device();
    std::memcpy(data, static_cast<const char*>(src.mapped()) + src_offset, bytes);
    return;
  }
  std::lock_guard<std::mutex> lock(device.staging_mutex());
  Buffer& staging = device.staging_buffer(MemoryKind::Readback, std::min<VkDeviceSize>(bytes, kStagingBytes));
  CommandStream stream(device, 0);
  for (size_t done = 0; done < bytes;) {
    const size_t piece = std::min<size_t>(bytes - done, staging.size());
    stream.copy(BufferRange(src, src_offset + done, piece), BufferRange(staging, 0, piece));
    stream.submit_and_wait();
    staging.invalidate_from_device();
    std::memcpy(static_cast<char*>(data) + done, staging.mapped(), piece);
    done += piece;
  }
}

}  // namespace ckv::vk
