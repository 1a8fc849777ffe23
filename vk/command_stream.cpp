#include "command_stream.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "device.hpp"
#include "error.hpp"
#include "dispatch_profile.hpp"
#include "pipeline.hpp"

namespace ckv::vk {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kBuffersPerSet = 12;
}  // namespace

CommandStream::CommandStream(Device& device, uint32_t max_timestamps)
    : device_(device),
      max_timestamps_(max_timestamps && dispatch_profiling_enabled() ? std::max(max_timestamps, 16384u) : max_timestamps),
      profiling_(max_timestamps && dispatch_profiling_enabled()) {
  max_timestamps = max_timestamps_;
  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool_info.queueFamilyIndex = device.queue_family();
  CKV_VK_CHECK(vkCreateCommandPool(device.handle(), &pool_info, nullptr, &pool_));

  VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  alloc.commandPool = pool_;
  alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  alloc.commandBufferCount = 1;
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkQueryPoolCreateInfo query_info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
  query_info.queryCount = max_timestamps;
  VkResult result = vkAllocateCommandBuffers(device.handle(), &alloc, &cmd_);
  if (result == VK_SUCCESS) result = vkCreateFence(device.handle(), &fence_info, nullptr, &fence_);
  if (result == VK_SUCCESS && device.info().timestamps_on_compute && max_timestamps)
    result = vkCreateQueryPool(device.handle(), &query_info, nullptr, &query_pool_);
  if (result != VK_SUCCESS) {
    if (fence_) vkDestroyFence(device.handle(), fence_, nullptr);
    vkDestroyCommandPool(device.handle(), pool_, nullptr);
    throw_vulkan_error("CommandStream setup", result);
  }
}

CommandStream::~CommandStream() {
  VkDevice d = device_.handle();
  if (pending_) vkWaitForFences(d, 1, &fence_, VK_TRUE, UINT64_MAX);
  if (recording_) vkEndCommandBuffer(cmd_);
  for (VkDescriptorPool p : descriptor_pools_) vkDestroyDescriptorPool(d, p, nullptr);
  if (query_pool_) vkDestroyQueryPool(d, query_pool_, nullptr);
  vkDestroyFence(d, fence_, nullptr);
  vkDestroyCommandPool(d, pool_, nullptr);
}

void CommandStream::begin_if_needed() {
  if (recording_) return;
  if (pending_) throw std::logic_error("command stream: recording while the last submission is pending (wait first)");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  CKV_VK_CHECK(vkBeginCommandBuffer(cmd_, &begin));
  if (query_pool_) vkCmdResetQueryPool(cmd_, query_pool_, 0, max_timestamps_);
  recording_ = true;
  has_commands_ = false;
  labels_.clear();
}

void CommandStream::barrier() {
  begin_if_needed();
  VkMemoryBarrier memory{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  memory.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  memory.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &memory, 0, nullptr, 0, nullptr);
}

void CommandStream::barrier_after_earlier_commands() {
  begin_if_needed();
  if (has_commands_) barrier();
}

void CommandStream::before_command() {
  begin_if_needed();
  if (auto_barrier_ && has_commands_) barrier();
  has_commands_ = true;
}

VkDescriptorSet CommandStream::allocate_set(VkDescriptorSetLayout layout) {
  for (;;) {
    if (current_pool_ == descriptor_pools_.size()) {
      VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBuffersPerSet};
      VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
      info.maxSets = kSetsPerPool;
      info.poolSizeCount = 1;
      info.pPoolSizes = &size;
      VkDescriptorPool pool;
      CKV_VK_CHECK(vkCreateDescriptorPool(device_.handle(), &info, nullptr, &pool));
      descriptor_pools_.push_back(pool);
    }
    VkDescriptorSetAllocateInfo alloc{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    alloc.descriptorPool = descriptor_pools_[current_pool_];
    alloc.descriptorSetCount = 1;
    alloc.pSetLayouts = &layout;
    VkDescriptorSet set;
    VkResult result = vkAllocateDescriptorSets(device_.handle(), &alloc, &set);
    if (result == VK_SUCCESS) return set;
    if (result != VK_ERROR_OUT_OF_POOL_MEMORY && result != VK_ERROR_FRAGMENTED_POOL)
      throw_vulkan_error("vkAllocateDescriptorSets", result);
    ++current_pool_;
  }
}

void CommandStream::check_binding(const ComputePipeline& pipeline, uint32_t binding, const BufferRange& range) const {
  const DeviceInfo& info = device_.info();
  const std::string where = "pipeline '" + pipeline.name() + "' binding " + std::to_string(binding);
  if (!range.buffer) throw std::invalid_argument(where + ": no buffer");
  if (range.offset % info.min_storage_buffer_offset_alignment)
    throw std::invalid_argument(where + ": offset " + std::to_string(range.offset) + " is not a multiple of " +
                                std::to_string(info.min_storage_buffer_offset_alignment));
  if (range.offset + range.bytes() > range.buffer->size() || range.bytes() == 0)
    throw std::invalid_argument(where + ": range outside buffer '" + range.buffer->name() + "'");
  if (range.bytes() > info.max_storage_buffer_range)
    throw std::invalid_argument(where + ": binds " + std::to_string(range.bytes()) + " bytes of '" +
                                range.buffer->name() + "', more than maxStorageBufferRange (" +
                                std::to_string(info.max_storage_buffer_range) + "); split the tensor");
}

void CommandStream::dispatch(const ComputePipeline& pipeline, std::span<const BufferRange> buffers, const void* push,
                             uint32_t push_bytes, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z) {
  if (buffers.size() != pipeline.buffer_count())
    throw std::invalid_argument("pipeline '" + pipeline.name() + "' takes " + std::to_string(pipeline.buffer_count()) +
                                " buffers, got " + std::to_string(buffers.size()));
  if (push_bytes != pipeline.push_constant_bytes())
    throw std::invalid_argument("pipeline '" + pipeline.name() + "' takes " +
                                std::to_string(pipeline.push_constant_bytes()) + " bytes of push constants, got " +
                                std::to_string(push_bytes));
  const auto& max_groups = device_.info().max_workgroup_count;
  if (groups_x > max_groups[0] || groups_y > max_groups[1] || groups_z > max_groups[2])
    throw std::invalid_argument("pipeline '" + pipeline.name() + "': dispatch of " + std::to_string(groups_x) + "x" +
                                std::to_string(groups_y) + "x" + std::to_string(groups_z) +
                                " workgroups exceeds the device limit");
  if (groups_x == 0 || groups_y == 0 || groups_z == 0) return;
  std::vector<VkDescriptorBufferInfo> infos(buffers.size());
  std::vector<VkWriteDescriptorSet> writes(buffers.size());
  for (uint32_t i = 0; i < buffers.size(); ++i) check_binding(pipeline, i, buffers[i]);
  before_command();
  VkDescriptorSet set = allocate_set(pipeline.set_layout());
  for (uint32_t i = 0; i < buffers.size(); ++i) {
    infos[i] = {buffers[i].buffer->handle(), buffers[i].offset, buffers[i].bytes()};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(device_.handle(), uint32_t(writes.size()), writes.data(), 0, nullptr);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.handle());
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout(), 0, 1, &set, 0, nullptr);
  if (push_bytes) vkCmdPushConstants(cmd_, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(cmd_, groups_x, groups_y, groups_z);
  if (profiling_ && query_pool_ && labels_.size() + 1 < max_timestamps_) {
    if (labels_.empty()) timestamp("");  // the start of the first dispatch's interval
    timestamp("\x01" + pipeline.name());
  }
}

void CommandStream::copy(const BufferRange& src, const BufferRange& dst) {
  if (src.bytes() != dst.bytes())
    throw std::invalid_argument("copy from '" + src.buffer->name() + "' to '" + dst.buffer->name() + "': sizes differ");
  if (src.offset + src.bytes() > src.buffer->size() || dst.offset + dst.bytes() > dst.buffer->size())
    throw std::invalid_argument("copy from '" + src.buffer->name() + "' to '" + dst.buffer->name() + "': out of range");
  if (src.bytes() == 0) return;
  before_command();
  VkBufferCopy region{src.offset, dst.offset, src.bytes()};
  vkCmdCopyBuffer(cmd_, src.buffer->handle(), dst.buffer->handle(), 1, &region);
}

void CommandStream::fill(const BufferRange& dst, uint32_t value) {
  if (dst.bytes() % 4 || dst.offset % 4)
    throw std::invalid_argument("fill of '" + dst.buffer->name() + "': offset and size must be multiples of 4");
  before_command();
  vkCmdFillBuffer(cmd_, dst.buffer->handle(), dst.offset, dst.bytes(), value);
}

void CommandStream::timestamp(std::string label) {
  if (!query_pool_) throw std::runtime_error("device '" + device_.info().name + "' has no timestamps on its compute queue");
  begin_if_needed();
  if (labels_.size() >= max_timestamps_) throw std::runtime_error("too many timestamps in one submission");
  vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, query_pool_, uint32_t(labels_.size()));
  labels_.push_back(std::move(label));
}

void CommandStream::submit_and_wait() {
  submit();
  wait();
}

void CommandStream::submit() {
  begin_if_needed();
  // Make device writes visible to the host once the fence signals.
  VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
  CKV_VK_CHECK(vkEndCommandBuffer(cmd_));
  recording_ = false;

  VkSubmitInfo info{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  info.commandBufferCount = 1;
  info.pCommandBuffers = &cmd_;
  {
    std::lock_guard lock(device_.queue_mutex());
    CKV_VK_CHECK(vkQueueSubmit(device_.queue(), 1, &info, fence_));
  }
  pending_ = true;
}

void CommandStream::wait() {
  if (!pending_) throw std::logic_error("command stream: wait() without a submission");
  pending_ = false;
  CKV_VK_CHECK(vkWaitForFences(device_.handle(), 1, &fence_, VK_TRUE, UINT64_MAX));
  CKV_VK_CHECK(vkResetFences(device_.handle(), 1, &fence_));

  results_.clear();
  if (!labels_.empty()) {
    std::vector<uint64_t> ticks(labels_.size());
    CKV_VK_CHECK(vkGetQueryPoolResults(device_.handle(), query_pool_, 0, uint32_t(ticks.size()),
                                       ticks.size() * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    const double period = device_.info().timestamp_period_ns;
    for (size_t i = 0; i < ticks.size(); ++i) {
      const double ns = double(ticks[i] - ticks[0]) * period;
      if (!labels_[i].empty() && labels_[i][0] == '\x01') add_dispatch_time(labels_[i].substr(1), ns - results_.back().ns);
      results_.push_back({labels_[i], ns});
    }
  }
  CKV_VK_CHECK(vkResetCommandBuffer(cmd_, 0));
  for (VkDescriptorPool p : descriptor_pools_) CKV_VK_CHECK(vkResetDescriptorPool(device_.handle(), p, 0));
  current_pool_ = 0;
}

double CommandStream::elapsed_ns(const std::string& from, const std::string& to) const {
  const Timestamp* a = nullptr;
  const Timestamp* b = nullptr;
  for (const auto& t : results_) {
    if (t.label == from && !a) a = &t;
    if (t.label == to) b = &t;
  }
  if (!a || !b) throw std::invalid_argument("no timestamps '" + from + "' and '" + to + "' in the last submission");
  return b->ns - a->ns;
}

}  // namespace ckv::vk
