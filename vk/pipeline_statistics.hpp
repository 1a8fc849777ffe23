// What the driver reports about a compiled pipeline (VK_KHR_pipeline_executable_properties): registers, shared
// memory, instruction counts..., under the driver's own names. Read only from pipelines created while the library
// captured statistics (PipelineLibrary::capture_statistics).
#pragma once
#include <vulkan/vulkan.h>

#include <string>
#include <vector>

namespace ckv::vk {

class Device;

struct PipelineStatistic {
  std::string executable;  // the driver's name of the compiled stage
  std::string name;        // e.g. "Register Count" (names and units are the driver's)
  std::string value;
};

std::vector<PipelineStatistic> read_pipeline_statistics(const Device& device, VkPipeline pipeline);

}  // namespace ckv::vk
