// Compute pipelines built from embedded SPIR-V with specialization and push constants, and a library that
// creates each (shader, constants) pair once.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace ckv::vk {

class Device;

struct PipelineDesc {
  std::string name;                     // for errors and profiles
  std::span<const uint32_t> spirv;      // the words; must outlive pipeline creation only
  uint32_t buffer_count = 0;            // storage buffers at bindings 0..buffer_count-1 of set 0
  uint32_t push_constant_bytes = 0;
  std::vector<uint32_t> spec_constants;  // constant_id i gets spec_constants[i] (4-byte values: uint/int/float bits)
  uint32_t required_subgroup_size = 0;   // 0: driver's choice; else needs subgroup size control
  bool capture_statistics = false;       // let read_pipeline_statistics read it (where the device can)
};

class ComputePipeline {
 public:
  ComputePipeline(Device& device, const PipelineDesc& desc);
  ~ComputePipeline();
  ComputePipeline(const ComputePipeline&) = delete;
  ComputePipeline& operator=(const ComputePipeline&) = delete;

  VkPipeline handle() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  uint32_t buffer_count() const { return buffer_count_; }
  uint32_t push_constant_bytes() const { return push_bytes_; }
  const std::string& name() const { return name_; }

 private:
  void destroy_handles() noexcept;
  Device& device_;
  std::string name_;
  uint32_t buffer_count_ = 0;
  uint32_t push_bytes_ = 0;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
};

// Keyed by name + specialization constants + subgroup size; pipelines live as long as the library.
class PipelineLibrary {
 public:
  explicit PipelineLibrary(Device& device) : device_(device) {}
  const ComputePipeline& get(const PipelineDesc& desc);
  size_t size() const { return pipelines_.size(); }
  // Pipelines created from now on keep the driver's statistics (bench --pipeline-stats).
  void capture_statistics(bool on) {
    std::lock_guard lock(mutex_);
    capture_statistics_ = on;
  }
  // Every pipeline with its key (name|sg<subgroup size>|constants...), in key order.
  std::vector<std::pair<std::string, const ComputePipeline*>> entries();

 private:
  Device& device_;
  bool capture_statistics_ = false;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ComputePipeline>> pipelines_;
};

}  // namespace ckv::vk
