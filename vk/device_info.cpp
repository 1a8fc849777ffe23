#include "device_info.hpp"

#include <cstring>
#include <sstream>

#include "coopmat_khr.hpp"
#include "error.hpp"

namespace ckv::vk {

namespace {

std::string component_name(VkComponentTypeKHR type) {
  switch (type) {
    case VK_COMPONENT_TYPE_FLOAT16_KHR: return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_KHR: return "f32";
    case VK_COMPONENT_TYPE_FLOAT64_KHR: return "f64";
    case VK_COMPONENT_TYPE_SINT8_KHR: return "s8";
    case VK_COMPONENT_TYPE_SINT16_KHR: return "s16";
    case VK_COMPONENT_TYPE_SINT32_KHR: return "s32";
    case VK_COMPONENT_TYPE_SINT64_KHR: return "s64";
    case VK_COMPONENT_TYPE_UINT8_KHR: return "u8";
    case VK_COMPONENT_TYPE_UINT16_KHR: return "u16";
    case VK_COMPONENT_TYPE_UINT32_KHR: return "u32";
    case VK_COMPONENT_TYPE_UINT64_KHR: return "u64";
    default: return "type" + std::to_string(int(type));
  }
}

std::string scope_name(VkScopeKHR scope) {
  switch (scope) {
    case VK_SCOPE_SUBGROUP_KHR: return "subgroup";
    case VK_SCOPE_WORKGROUP_KHR: return "workgroup";
    case VK_SCOPE_DEVICE_KHR: return "device";
    case VK_SCOPE_QUEUE_FAMILY_KHR: return "queue family";
    default: return "scope" + std::to_string(int(scope));
  }
}

std::string mib(uint64_t bytes) {
  std::ostringstream out;
  out << (bytes >> 20) << " MiB";
  return out.str();
}

}  // namespace

std::vector<std::string> device_extensions(VkPhysicalDevice device) {
  uint32_t count = 0;
  CKV_VK_CHECK(vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr));
  std::vector<VkExtensionProperties> props(count);
  CKV_VK_CHECK(vkEnumerateDeviceExtensionProperties(device, nullptr, &count, props.data()));
  std::vector<std::string> names;
  for (uint32_t i = 0; i < count; ++i) names.emplace_back(props[i].extensionName);
  return names;
}

bool has_extension(const std::vector<std::string>& extensions, const char* name) {
  for (const auto& e : extensions)
    if (e == name) return true;
  return false;
}

std::string DeviceInfo::type_name() const {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

uint64_t DeviceInfo::device_local_bytes() const {
  uint64_t total = 0;
  for (const auto& heap : heaps)
    if (heap.device_local) total += heap.size;
  return total;
}

DeviceInfo query_device_info(VkInstance instance, VkPhysicalDevice device, uint32_t index) {
  DeviceInfo info;
  info.index = index;
  const auto extensions = device_extensions(device);
  info.memory_budget_ext = has_extension(extensions, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  info.coopmat_khr = has_extension(extensions, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  info.coopmat_nv = has_extension(extensions, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  info.subgroup_clock = has_extension(extensions, VK_KHR_SHADER_CLOCK_EXTENSION_NAME);
  info.pipeline_statistics = has_extension(extensions, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);

  VkPhysicalDeviceSubgroupSizeControlProperties size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &subgroup;
  subgroup.pNext = &driver;
  const bool size_control_ext = has_extension(extensions, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  if (size_control_ext) driver.pNext = &size_control;
  vkGetPhysicalDeviceProperties2(device, &props);
  const VkPhysicalDeviceLimits& limits = props.properties.limits;

  info.name = props.properties.deviceName;
  info.type = props.properties.deviceType;
  info.vendor_id = props.properties.vendorID;
  info.device_id = props.properties.deviceID;
  info.api_version = props.properties.apiVersion;
  info.driver_name = driver.driverName;
  info.driver_info = driver.driverInfo;
  info.subgroup_size = subgroup.subgroupSize;
  info.subgroup_arithmetic = subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  info.subgroup_shuffle = subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  info.min_subgroup_size = size_control_ext ? size_control.minSubgroupSize : subgroup.subgroupSize;
  info.max_subgroup_size = size_control_ext ? size_control.maxSubgroupSize : subgroup.subgroupSize;
  info.shared_memory_bytes = limits.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) info.max_workgroup_count[i] = limits.maxComputeWorkGroupCount[i];
  info.max_storage_buffer_range = limits.maxStorageBufferRange;
  info.max_push_constants_size = limits.maxPushConstantsSize;
  info.min_storage_buffer_offset_alignment = limits.minStorageBufferOffsetAlignment;
  info.timestamp_period_ns = limits.timestampPeriod;

  VkPhysicalDeviceMaintenance3Properties maintenance3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 props_m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props_m3.pNext = &maintenance3;
  vkGetPhysicalDeviceProperties2(device, &props_m3);
  info.max_memory_allocation_size = maintenance3.maxMemoryAllocationSize;

  VkPhysicalDeviceSubgroupSizeControlFeatures size_control_features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat_features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat_nv_features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceShaderClockFeaturesKHR clock_features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR statistics_features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot_features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &f11;
  f11.pNext = &f12;
  PNextChain chain(&f12.pNext);
  if (info.api_version >= VK_API_VERSION_1_3) chain.append(dot_features);
  if (info.subgroup_clock) chain.append(clock_features);
  if (info.pipeline_statistics) chain.append(statistics_features);
  if (size_control_ext) chain.append(size_control_features);
  if (info.coopmat_khr) chain.append(coopmat_features);
  if (info.coopmat_nv) chain.append(coopmat_nv_features);
  vkGetPhysicalDeviceFeatures2(device, &features);
  info.subgroup_size_control = size_control_ext && size_control_features.subgroupSizeControl &&
                               size_control_features.computeFullSubgroups &&
                               (size_control.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
  info.storage_16bit = f11.storageBuffer16BitAccess;
  info.float16_arithmetic = f12.shaderFloat16;
  info.int8_arithmetic = f12.shaderInt8;
  info.storage_8bit = f12.storageBuffer8BitAccess;
  // Enabling the memory model without its device scope would forbid Device-scope atomics in the other shaders.
  info.vulkan_memory_model = f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope;
  info.coopmat_khr = info.coopmat_khr && coopmat_features.cooperativeMatrix;
  info.coopmat_nv = info.coopmat_nv && coopmat_nv_features.cooperativeMatrix;
  info.subgroup_clock = info.subgroup_clock && clock_features.shaderSubgroupClock;
  info.integer_dot_product = dot_features.shaderIntegerDotProduct;
  info.pipeline_statistics = info.pipeline_statistics && statistics_features.pipelineExecutableInfo;

  if (info.coopmat_khr) {
    auto get_shapes = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    uint32_t count = 0;
    if (get_shapes && get_shapes(device, &count, nullptr) == VK_SUCCESS) {
      std::vector<VkCooperativeMatrixPropertiesKHR> shapes(count, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR});
      if (get_shapes(device, &count, shapes.data()) == VK_SUCCESS) {
        for (uint32_t i = 0; i < count; ++i) {
          const auto& s = shapes[i];
          info.coopmat_shapes.push_back({s.MSize, s.NSize, s.KSize, component_name(s.AType), component_name(s.BType),
                                         component_name(s.CType), component_name(s.ResultType), scope_name(s.scope)});
        }
      }
    }
  }

  if (info.coopmat_nv) {
    auto get_shapes = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
    uint32_t count = 0;
    if (get_shapes && get_shapes(device, &count, nullptr) == VK_SUCCESS) {
      std::vector<VkCooperativeMatrixPropertiesNV> shapes(count, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
      if (get_shapes(device, &count, shapes.data()) == VK_SUCCESS) {
        // The NV component and scope enums have the values of the KHR ones.
        for (uint32_t i = 0; i < count; ++i) {
          const auto& s = shapes[i];
          info.coopmat_nv_shapes.push_back(
              {s.MSize, s.NSize, s.KSize, component_name(VkComponentTypeKHR(s.AType)),
               component_name(VkComponentTypeKHR(s.BType)), component_name(VkComponentTypeKHR(s.CType)),
               component_name(VkComponentTypeKHR(s.DType)), scope_name(VkScopeKHR(s.scope))});
        }
      }
    }
  }

  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &family_count, families.data());
  for (const auto& family : families)
    if ((family.queueFlags & VK_QUEUE_COMPUTE_BIT) && family.timestampValidBits > 0) info.timestamps_on_compute = true;

  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 memory{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  if (info.memory_budget_ext) memory.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(device, &memory);
  for (uint32_t i = 0; i < memory.memoryProperties.memoryHeapCount; ++i) {
    MemoryHeapInfo heap;
    heap.size = memory.memoryProperties.memoryHeaps[i].size;
    heap.device_local = memory.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    if (info.memory_budget_ext) {
      heap.budget = budget.heapBudget[i];
      heap.usage = budget.heapUsage[i];
    }
    info.heaps.push_back(heap);
  }
  for (uint32_t i = 0; i < memory.memoryProperties.memoryTypeCount; ++i)
    info.memory_types.emplace_back(memory.memoryProperties.memoryTypes[i].heapIndex,
                                   memory.memoryProperties.memoryTypes[i].propertyFlags);
  return info;
}

std::string format_device_info(const DeviceInfo& info) {
  std::ostringstream out;
  out << "device " << info.index << ": " << info.name << " (" << info.type_name() << ")\n";
  out << "  vendor 0x" << std::hex << info.vendor_id << ", device 0x" << info.device_id << std::dec << "\n";
  out << "  api " << VK_API_VERSION_MAJOR(info.api_version) << "." << VK_API_VERSION_MINOR(info.api_version) << "."
      << VK_API_VERSION_PATCH(info.api_version) << ", driver " << info.driver_name << " " << info.driver_info << "\n";
  out << "  subgroup size " << info.subgroup_size;
  if (info.subgroup_size_control)
    out << " (size control " << info.min_subgroup_size << ".." << info.max_subgroup_size << ")";
  else
    out << " (no size control)";
  out << ", arithmetic " << (info.subgroup_arithmetic ? "yes" : "no") << ", shuffle "
      << (info.subgroup_shuffle ? "yes" : "no") << "\n";
  out << "  shared memory " << info.shared_memory_bytes / 1024 << " KiB, workgroup max " << info.max_workgroup_invocations
      << " invocations\n";
  out << "  max storage buffer range " << mib(info.max_storage_buffer_range) << ", max allocation "
      << mib(info.max_memory_allocation_size) << ", push constants " << info.max_push_constants_size << " B\n";
  out << "  16-bit storage " << (info.storage_16bit ? "yes" : "no") << ", fp16 arithmetic "
      << (info.float16_arithmetic ? "yes" : "no") << ", int8 arithmetic " << (info.int8_arithmetic ? "yes" : "no")
      << ", 8-bit storage " << (info.storage_8bit ? "yes" : "no") << "\n";
  out << "  timestamps on compute queue " << (info.timestamps_on_compute ? "yes" : "no") << ", period "
      << info.timestamp_period_ns << " ns\n";
  out << "  vulkan memory model " << (info.vulkan_memory_model ? "yes" : "no") << ", subgroup shader clock "
      << (info.subgroup_clock ? "yes" : "no") << ", integer dot products "
      << (info.integer_dot_product ? "yes" : "no") << ", pipeline statistics "
      << (info.pipeline_statistics ? "yes" : "no") << "\n";
  const auto shapes = [&](const std::vector<CoopMatShape>& list) {
    for (const auto& s : list)
      out << "    " << s.m << "x" << s.n << "x" << s.k << " A " << s.a_type << " B " << s.b_type << " C " << s.c_type
          << " -> " << s.result_type << " (" << s.scope << ")\n";
  };
  out << "  cooperative matrix (KHR) " << (info.coopmat_khr ? "yes" : "no") << "\n";
  shapes(info.coopmat_shapes);
  out << "  cooperative matrix (NV) " << (info.coopmat_nv ? "yes" : "no") << "\n";
  shapes(info.coopmat_nv_shapes);
  for (size_t i = 0; i < info.heaps.size(); ++i) {
    const auto& heap = info.heaps[i];
    out << "  heap " << i << ": " << mib(heap.size) << (heap.device_local ? " device-local" : " host");
    if (info.memory_budget_ext) out << ", budget " << mib(heap.budget) << ", used " << mib(heap.usage);
    out << "\n";
  }
  for (size_t i = 0; i < info.memory_types.size(); ++i) {
    const auto [heap, flags] = info.memory_types[i];
    out << "  memory type " << i << ": heap " << heap;
    const std::pair<VkMemoryPropertyFlags, const char*> names[] = {
        {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, "device-local"}, {VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, "host-visible"},
        {VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, "coherent"}, {VK_MEMORY_PROPERTY_HOST_CACHED_BIT, "cached"}};
    for (const auto& [bit, name] : names)
      if (flags & bit) out << ", " << name;
    out << "\n";
  }
  return out.str();
}

}  // namespace ckv::vk
