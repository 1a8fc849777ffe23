// Errors of the Vulkan layer: every failing call becomes an exception that names the call and its VkResult.
#pragma once
#include <vulkan/vulkan.h>

#include <stdexcept>
#include <string>

namespace ckv::vk {

class VulkanError : public std::runtime_error {
 public:
  VulkanError(std::string message, VkResult result) : std::runtime_error(std::move(message)), result_(result) {}
  VkResult result() const { return result_; }

 private:
  VkResult result_;
};

// Device or host memory ran out; the message names the request and its size.
class OutOfMemoryError : public VulkanError {
 public:
  using VulkanError::VulkanError;
};

const char* result_name(VkResult result);

[[noreturn]] void throw_vulkan_error(const char* call_text, VkResult result);

}  // namespace ckv::vk

// Checks a Vulkan call; on failure throws VulkanError("vkCreateBuffer failed: VK_ERROR_...").
#define CKV_VK_CHECK(call)                                                        \
  do {                                                                            \
    VkResult ckv_vk_result_ = (call);                                             \
    if (ckv_vk_result_ != VK_SUCCESS) ::ckv::vk::throw_vulkan_error(#call, ckv_vk_result_); \
  } while (0)
