// What a physical device can do, read once and reported by `ckv info`.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ckv::vk {

struct CoopMatShape {
  uint32_t m = 0, n = 0, k = 0;
  std::string a_type, b_type, c_type, result_type;  // "f16", "f32", "s8", ...
  std::string scope;                                // "subgroup", "workgroup", ...
};

struct MemoryHeapInfo {
  uint64_t size = 0;
  uint64_t budget = 0;  // 0 when VK_EXT_memory_budget is missing
  uint64_t usage = 0;
  bool device_local = false;
};

struct DeviceInfo {
  uint32_t index = 0;
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t vendor_id = 0, device_id = 0;
  uint32_t api_version = 0;
  std::string driver_name, driver_info;

  uint32_t subgroup_size = 0;
  bool subgroup_size_control = false;
  uint32_t min_subgroup_size = 0, max_subgroup_size = 0;
  bool subgroup_arithmetic = false, subgroup_shuffle = false;
  uint32_t shared_memory_bytes = 0;
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_workgroup_count[3] = {0, 0, 0};
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_memory_allocation_size = 0;
  uint32_t max_push_constants_size = 0;
  uint64_t min_storage_buffer_offset_alignment = 0;
  float timestamp_period_ns = 0;
  bool timestamps_on_compute = false;

  bool storage_16bit = false, float16_arithmetic = false, int8_arithmetic = false, storage_8bit = false;
  bool memory_budget_ext = false;
  bool vulkan_memory_model = false;  // with device scope; required by the cooperative-matrix shaders
  bool coopmat_khr = false;          // VK_KHR_cooperative_matrix present and its feature supported
  std::vector<CoopMatShape> coopmat_shapes;     // vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR
  bool coopmat_nv = false;           // VK_NV_cooperative_matrix present and its feature supported
  std::vector<CoopMatShape> coopmat_nv_shapes;  // vkGetPhysicalDeviceCooperativeMatrixPropertiesNV
  bool subgroup_clock = false;       // VK_KHR_shader_clock with shaderSubgroupClock (stage profiles in shaders)
  bool integer_dot_product = false;  // Vulkan 1.3's shaderIntegerDotProduct (4 x int8 dot products in shaders)
  bool pipeline_statistics = false;  // VK_KHR_pipeline_executable_properties (registers etc. per pipeline)
  std::vector<MemoryHeapInfo> heaps;
  std::vector<std::pair<uint32_t, VkMemoryPropertyFlags>> memory_types;  // (heap index, property flags), in order

  std::string type_name() const;
  uint64_t device_local_bytes() const;
};

DeviceInfo query_device_info(VkInstance instance, VkPhysicalDevice device, uint32_t index);
std::vector<std::string> device_extensions(VkPhysicalDevice device);
bool has_extension(const std::vector<std::string>& extensions, const char* name);

// Appends Vulkan structures to a pNext chain, each after the last one appended.
class PNextChain {
 public:
  explicit PNextChain(void** tail) : tail_(tail) {}
  template <class T>
  void append(T& s) {
    *tail_ = &s;
    tail_ = &s.pNext;
  }

 private:
  void** tail_;
};

// Multi-line human-readable report used by `ckv info`.
std::string format_device_info(const DeviceInfo& info);

}  // namespace ckv::vk
