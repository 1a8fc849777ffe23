#include "error.hpp"

#include <string_view>

namespace ckv::vk {

const char* result_name(VkResult result) {
  switch (result) {
#define CKV_CASE(x) \
  case x:           \
    return #x;
    CKV_CASE(VK_SUCCESS)
    CKV_CASE(VK_NOT_READY)
    CKV_CASE(VK_TIMEOUT)
    CKV_CASE(VK_INCOMPLETE)
    CKV_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    CKV_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CKV_CASE(VK_ERROR_INITIALIZATION_FAILED)
    CKV_CASE(VK_ERROR_DEVICE_LOST)
    CKV_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    CKV_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    CKV_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    CKV_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    CKV_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    CKV_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    CKV_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    CKV_CASE(VK_ERROR_FRAGMENTED_POOL)
    CKV_CASE(VK_ERROR_UNKNOWN)
    CKV_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    CKV_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    CKV_CASE(VK_ERROR_FRAGMENTATION)
    CKV_CASE(VK_PIPELINE_COMPILE_REQUIRED)
#undef CKV_CASE
    default:
      return "VkResult(unknown)";
  }
}

void throw_vulkan_error(const char* call_text, VkResult result) {
  std::string_view call(call_text);
  call = call.substr(0, call.find('('));
  std::string message = std::string(call) + " failed: " + result_name(result) + " (" + std::to_string(int(result)) + ")";
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
    throw OutOfMemoryError(message, result);
  throw VulkanError(message, result);
}

}  // namespace ckv::vk
