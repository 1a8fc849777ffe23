#include "pipeline.hpp"

#include <stdexcept>

#include "device.hpp"
#include "error.hpp"

namespace ckv::vk {

ComputePipeline::ComputePipeline(Device& device, const PipelineDesc& desc)
    : device_(device), name_(desc.name), buffer_count_(desc.buffer_count), push_bytes_(desc.push_constant_bytes) {
  const DeviceInfo& info = device.info();
  if (desc.push_constant_bytes > info.max_push_constants_size)
    throw std::invalid_argument("pipeline '" + desc.name + "' needs " + std::to_string(desc.push_constant_bytes) +
                                " bytes of push constants; the device allows " +
                                std::to_string(info.max_push_constants_size));
  if (desc.required_subgroup_size &&
      (!info.subgroup_size_control || desc.required_subgroup_size < info.min_subgroup_size ||
       desc.required_subgroup_size > info.max_subgroup_size))
    throw std::invalid_argument("pipeline '" + desc.name + "' needs subgroup size " +
                                std::to_string(desc.required_subgroup_size) + ", which the device cannot set");
  try {
    VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    module_info.codeSize = desc.spirv.size() * sizeof(uint32_t);
    module_info.pCode = desc.spirv.data();
    CKV_VK_CHECK(vkCreateShaderModule(device.handle(), &module_info, nullptr, &module_));

    std::vector<VkDescriptorSetLayoutBinding> bindings(desc.buffer_count);
    for (uint32_t i = 0; i < desc.buffer_count; ++i)
      bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    set_info.bindingCount = desc.buffer_count;
    set_info.pBindings = bindings.data();
    CKV_VK_CHECK(vkCreateDescriptorSetLayout(device.handle(), &set_info, nullptr, &set_layout_));

    VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc.push_constant_bytes};
    VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    layout_info.setLayoutCount = 1;
    layout_info.pSetLayouts = &set_layout_;
    layout_info.pushConstantRangeCount = desc.push_constant_bytes ? 1 : 0;
    layout_info.pPushConstantRanges = &push;
    CKV_VK_CHECK(vkCreatePipelineLayout(device.handle(), &layout_info, nullptr, &layout_));

    std::vector<VkSpecializationMapEntry> entries(desc.spec_constants.size());
    for (uint32_t i = 0; i < entries.size(); ++i) entries[i] = {i, i * 4u, 4};
    VkSpecializationInfo spec{uint32_t(entries.size()), entries.data(), desc.spec_constants.size() * 4,
                              desc.spec_constants.data()};

    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo subgroup{
        VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
    subgroup.requiredSubgroupSize = desc.required_subgroup_size;

    VkComputePipelineCreateInfo pipeline_info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pipeline_info.stage.module = module_;
    pipeline_info.stage.pName = "main";
    pipeline_info.stage.pSpecializationInfo = entries.empty() ? nullptr : &spec;
    if (desc.required_subgroup_size) {
      pipeline_info.stage.pNext = &subgroup;
      pipeline_info.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
    }
    if (desc.capture_statistics && info.pipeline_statistics)
      pipeline_info.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    pipeline_info.layout = layout_;
    CKV_VK_CHECK(vkCreateComputePipelines(device.handle(), device.pipeline_cache(), 1, &pipeline_info, nullptr, &pipeline_));
  } catch (const VulkanError& e) {
    destroy_handles();
    throw VulkanError("pipeline '" + desc.name + "': " + e.what(), e.result());
  }
}

ComputePipeline::~ComputePipeline() { destroy_handles(); }

void ComputePipeline::destroy_handles() noexcept {
  VkDevice d = device_.handle();
  if (pipeline_) vkDestroyPipeline(d, pipeline_, nullptr);
  if (layout_) vkDestroyPipelineLayout(d, layout_, nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(d, set_layout_, nullptr);
  if (module_) vkDestroyShaderModule(d, module_, nullptr);
  pipeline_ = VK_NULL_HANDLE;
  layout_ = VK_NULL_HANDLE;
  set_layout_ = VK_NULL_HANDLE;
  module_ = VK_NULL_HANDLE;
}

const ComputePipeline& PipelineLibrary::get(const PipelineDesc& desc) {
  std::string key = desc.name + "|sg" + std::to_string(desc.required_subgroup_size);
  for (uint32_t v : desc.spec_constants) {
    key += '|';
    key += std::to_string(v);
  }
  std::lock_guard lock(mutex_);
  auto it = pipelines_.find(key);
  if (it == pipelines_.end()) {
    PipelineDesc captured = desc;
    captured.capture_statistics = desc.capture_statistics || capture_statistics_;
    it = pipelines_.emplace(key, std::make_unique<ComputePipeline>(device_, captured)).first;
  }
  return *it->second;
}

std::vector<std::pair<std::string, const ComputePipeline*>> PipelineLibrary::entries() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, const ComputePipeline*>> out;
  for (const auto& [key, pipeline] : pipelines_) out.emplace_back(key, pipeline.get());
  return out;
}

}  // namespace ckv::vk
