#include "pipeline_statistics.hpp"

#include "device.hpp"
#include "error.hpp"

namespace ckv::vk {

namespace {

std::string statistic_value(const VkPipelineExecutableStatisticKHR& s) {
  switch (s.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: return s.value.b32 ? "true" : "false";
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: return std::to_string(s.value.i64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: return std::to_string(s.value.u64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: return std::to_string(s.value.f64);
    default: return "?";
  }
}

}  // namespace

std::vector<PipelineStatistic> read_pipeline_statistics(const Device& device, VkPipeline pipeline) {
  if (!device.info().pipeline_statistics) return {};
  const VkDevice d = device.handle();
  auto get_executables = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(d, "vkGetPipelineExecutablePropertiesKHR"));
  auto get_statistics = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(d, "vkGetPipelineExecutableStatisticsKHR"));
  if (!get_executables || !get_statistics) return {};

  VkPipelineInfoKHR pipeline_info{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pipeline_info.pipeline = pipeline;
  uint32_t executable_count = 0;
  CKV_VK_CHECK(get_executables(d, &pipeline_info, &executable_count, nullptr));
  std::vector<VkPipelineExecutablePropertiesKHR> executables(executable_count,
                                                             {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  CKV_VK_CHECK(get_executables(d, &pipeline_info, &executable_count, executables.data()));

  std::vector<PipelineStatistic> out;
  for (uint32_t e = 0; e < executable_count; ++e) {
    VkPipelineExecutableInfoKHR executable{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    executable.pipeline = pipeline;
    executable.executableIndex = e;
    uint32_t count = 0;
    CKV_VK_CHECK(get_statistics(d, &executable, &count, nullptr));
    std::vector<VkPipelineExecutableStatisticKHR> stats(count, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    CKV_VK_CHECK(get_statistics(d, &executable, &count, stats.data()));
    for (const auto& s : stats) out.push_back({executables[e].name, s.name, statistic_value(s)});
  }
  return out;
}

}  // namespace ckv::vk
