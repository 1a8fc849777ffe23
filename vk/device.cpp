#include "device.hpp"

#include "buffer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

#include "coopmat_khr.hpp"
#include "error.hpp"

namespace ckv::vk {

std::vector<DeviceInfo> list_devices(const Instance& instance) {
  std::vector<DeviceInfo> devices;
  const auto physical = instance.physical_devices();
  for (uint32_t i = 0; i < physical.size(); ++i) devices.push_back(query_device_info(instance.handle(), physical[i], i));
  return devices;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

}  // namespace

uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& spec_in) {
  if (devices.empty()) throw std::runtime_error("no Vulkan device found (install a driver, e.g. mesa-vulkan-drivers)");
  std::string spec = spec_in;
  if (spec.empty()) {
    const char* env = std::getenv("CKV_DEVICE");
    if (env) spec = env;
  }
  if (!spec.empty()) {
    if (std::all_of(spec.begin(), spec.end(), [](unsigned char c) { return std::isdigit(c); })) {
      const unsigned long index = std::stoul(spec);
      if (index >= devices.size())
        throw std::invalid_argument("device index " + spec + " out of range: " + std::to_string(devices.size()) +
                                    " device(s) found");
      return uint32_t(index);
    }
    for (const auto& d : devices)
      if (lower(d.name).find(lower(spec)) != std::string::npos) return d.index;
    throw std::invalid_argument("no Vulkan device matches '" + spec + "' (see `ckv info`)");
  }
  const auto best = std::min_element(devices.begin(), devices.end(), [](const DeviceInfo& a, const DeviceInfo& b) {
    return type_rank(a.type) < type_rank(b.type);
  });
  return best->index;
}

Device::Device(Instance& instance, uint32_t physical_index) : instance_(instance) {
  const auto physical = instance.physical_devices();
  if (physical_index >= physical.size()) throw std::invalid_argument("device index out of range");
  physical_ = physical[physical_index];
  info_ = query_device_info(instance.handle(), physical_, physical_index);
  if (info_.api_version < VK_API_VERSION_1_2)
    throw std::runtime_error("device '" + info_.name + "' supports only Vulkan " +
                             std::to_string(VK_API_VERSION_MAJOR(info_.api_version)) + "." +
                             std::to_string(VK_API_VERSION_MINOR(info_.api_version)) + "; 1.2 is required");

  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  // Prefer a compute queue with timestamps; a compute-only family first (it is the dedicated one on most GPUs).
  int chosen = -1;
  for (int pass = 0; pass < 2 && chosen < 0; ++pass) {
    for (uint32_t i = 0; i < family_count; ++i) {
      const bool compute = families[i].queueFlags & VK_QUEUE_COMPUTE_BIT;
      const bool graphics = families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT;
      if (compute && families[i].timestampValidBits > 0 && (pass == 1 || !graphics)) {
        chosen = int(i);
        break;
      }
    }
  }
  if (chosen < 0)
    for (uint32_t i = 0; i < family_count && chosen < 0; ++i)
      if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) chosen = int(i);
  if (chosen < 0) throw std::runtime_error("device '" + info_.name + "' has no compute queue");
  queue_family_ = uint32_t(chosen);

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;

  const auto extensions = device_extensions(physical_);
  std::vector<const char*> enabled;
  if (info_.memory_budget_ext) enabled.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (info_.coopmat_khr) enabled.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (info_.coopmat_nv) enabled.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (info_.subgroup_clock) enabled.push_back(VK_KHR_SHADER_CLOCK_EXTENSION_NAME);
  if (info_.pipeline_statistics) enabled.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  const bool size_control_ext = has_extension(extensions, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  if (info_.subgroup_size_control && info_.api_version < VK_API_VERSION_1_3)
    enabled.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);

  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlFeatures size_control{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat_nv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceShaderClockFeaturesKHR clock{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR};
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR statistics{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &f11;
  f11.pNext = &f12;
  PNextChain chain(&f12.pNext);
  f11.storageBuffer16BitAccess = info_.storage_16bit;
  f12.shaderFloat16 = info_.float16_arithmetic;
  f12.shaderInt8 = info_.int8_arithmetic;
  f12.storageBuffer8BitAccess = info_.storage_8bit;
  f12.vulkanMemoryModel = info_.vulkan_memory_model;
  f12.vulkanMemoryModelDeviceScope = info_.vulkan_memory_model;
  // Shaders from glslang >= 13 declare their workgroup size with LocalSizeId, which needs maintenance4.
  VkPhysicalDeviceMaintenance4Features maintenance4{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_FEATURES};
  VkPhysicalDeviceFeatures2 supported{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  if (info_.api_version >= VK_API_VERSION_1_3) supported.pNext = &maintenance4;
  vkGetPhysicalDeviceFeatures2(physical_, &supported);
  features.features.shaderInt64 = supported.features.shaderInt64;
  if (maintenance4.maintenance4) {
    maintenance4.pNext = nullptr;
    chain.append(maintenance4);
  }
  if (info_.subgroup_size_control && size_control_ext) {
    size_control.subgroupSizeControl = VK_TRUE;
    size_control.computeFullSubgroups = VK_TRUE;
    chain.append(size_control);
  }
  if (info_.coopmat_khr) {
    coopmat.cooperativeMatrix = VK_TRUE;
    chain.append(coopmat);
  }
  if (info_.subgroup_clock) {
    clock.shaderSubgroupClock = VK_TRUE;
    chain.append(clock);
  }
  if (info_.coopmat_nv) {
    coopmat_nv.cooperativeMatrix = VK_TRUE;
    chain.append(coopmat_nv);
  }
  if (info_.integer_dot_product) {
    dot.shaderIntegerDotProduct = VK_TRUE;
    chain.append(dot);
  }
  if (info_.pipeline_statistics) {
    statistics.pipelineExecutableInfo = VK_TRUE;
    chain.append(statistics);
  }

  VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  device_info.pNext = &features;
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  device_info.enabledExtensionCount = uint32_t(enabled.size());
  device_info.ppEnabledExtensionNames = enabled.data();
  CKV_VK_CHECK(vkCreateDevice(physical_, &device_info, nullptr, &device_));
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);

  VkPipelineCacheCreateInfo cache_info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  VkResult result = vkCreatePipelineCache(device_, &cache_info, nullptr, &pipeline_cache_);
  if (result != VK_SUCCESS) {
    vkDestroyDevice(device_, nullptr);
    throw_vulkan_error("vkCreatePipelineCache", result);
  }
}

Device::~Device() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    upload_staging_.reset();
    readback_staging_.reset();
    vkDestroyPipelineCache(device_, pipeline_cache_, nullptr);
    vkDestroyDevice(device_, nullptr);
  }
}

Buffer& Device::staging_buffer(MemoryKind kind, VkDeviceSize bytes) {
  std::unique_ptr<Buffer>& slot = kind == MemoryKind::Upload ? upload_staging_ : readback_staging_;
  if (!slot || slot->size() < bytes) {
    slot.reset();
    slot = std::make_unique<Buffer>(*this, bytes, kind, kind == MemoryKind::Upload ? "staging upload" : "staging download");
  }
  return *slot;
}

uint32_t Device::find_memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                                  VkMemoryPropertyFlags avoided) const {
  int fallback = -1;
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    if (!(type_bits & (1u << i))) continue;
    const VkMemoryPropertyFlags flags = memory_.memoryTypes[i].propertyFlags;
    if ((flags & required) != required) continue;
    if ((flags & preferred) == preferred && !(flags & avoided)) return i;
    if (fallback < 0) fallback = int(i);
  }
  if (fallback < 0) throw std::runtime_error("device '" + info_.name + "' has no memory type with the required properties");
  return uint32_t(fallback);
}

VkMemoryPropertyFlags Device::memory_type_flags(uint32_t type_index) const {
  return memory_.memoryTypes[type_index].propertyFlags;
}

void Device::note_allocation(int64_t bytes) {
  const uint64_t now = allocated_bytes_.fetch_add(uint64_t(bytes)) + uint64_t(bytes);
  uint64_t peak = peak_bytes_.load();
  while (now > peak && !peak_bytes_.compare_exchange_weak(peak, now)) {
  }
}

std::vector<MemoryHeapInfo> Device::memory_heaps() const {
  return query_device_info(instance_.handle(), physical_, info_.index).heaps;
}

}  // namespace ckv::vk
