// The Vulkan instance, optionally with the Khronos validation layer and a debug messenger that records every
// warning and error it reports.
#pragma once
#include <vulkan/vulkan.h>

#include <mutex>
#include <string>
#include <vector>

namespace ckv::vk {

// Messages from the validation layer, collected so that tests can fail on any of them.
class ValidationLog {
 public:
  void add(std::string message);
  std::vector<std::string> take();  // returns and clears
  size_t count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

struct InstanceOptions {
  // Enable VK_LAYER_KHRONOS_validation. Also turned on by the environment variable CKV_VALIDATION=1.
  bool validation = false;
  // Print validation messages to stderr as they arrive (tests collect them instead).
  bool print_validation = true;
};

class Instance {
 public:
  explicit Instance(const InstanceOptions& options = {});
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  uint32_t api_version() const { return api_version_; }
  bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }
  ValidationLog& validation_log() { return log_; }
  bool print_validation() const { return print_validation_; }
  std::vector<VkPhysicalDevice> physical_devices() const;

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  uint32_t api_version_ = VK_API_VERSION_1_2;
  bool print_validation_ = true;
  ValidationLog log_;
};

bool validation_requested_by_environment();

}  // namespace ckv::vk
