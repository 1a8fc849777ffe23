// Records compute work into one command buffer, submits it, and waits: dispatches with their descriptor sets,
// copies, fills, barriers and GPU timestamps.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "buffer.hpp"

namespace ckv::vk {

class ComputePipeline;
class Device;

struct Timestamp {
  std::string label;
  double ns = 0;  // since the first timestamp of the submission
};

class CommandStream {
 public:
  explicit CommandStream(Device& device, uint32_t max_timestamps = 512);
  ~CommandStream();
  CommandStream(const CommandStream&) = delete;
  CommandStream& operator=(const CommandStream&) = delete;

  // Records a dispatch. Unless auto barriers are off, a full compute/transfer barrier precedes it, so each
  // command sees the writes of every earlier one.
  void dispatch(const ComputePipeline& pipeline, std::span<const BufferRange> buffers, const void* push,
                uint32_t push_bytes, uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1);
  template <class Push>
  void dispatch(const ComputePipeline& pipeline, std::initializer_list<BufferRange> buffers, const Push& push,
                uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1) {
    dispatch(pipeline, std::span<const BufferRange>(buffers.begin(), buffers.size()), &push, sizeof(Push), groups_x,
             groups_y, groups_z);
  }

  void copy(const BufferRange& src, const BufferRange& dst);
  void fill(const BufferRange& dst, uint32_t value);
  void barrier();
  // With auto barriers off, independent dispatches may overlap; call barrier() where they depend on each other.
  void set_auto_barrier(bool on) { auto_barrier_ = on; }
  bool auto_barrier() const { return auto_barrier_; }
  // A barrier now unless nothing has been recorded since the stream began (what an automatic barrier would do).
  void barrier_after_earlier_commands();

  // A GPU timestamp taken once every earlier command has finished.
  void timestamp(std::string label);

  void submit_and_wait();
  // The two halves of submit_and_wait, so that the host can record the next stream while this one runs. The
  // stream cannot record again until wait() returns; a stream destroyed while pending waits first.
  void submit();
  void wait();
  bool pending() const { return pending_; }
  // Timestamps of the last submission, in recording order.
  const std::vector<Timestamp>& timestamps() const { return results_; }
  // Nanoseconds between two labels of the last submission.
  double elapsed_ns(const std::string& from, const std::string& to) const;

  Device& device() const { return device_; }
  bool recording() const { return recording_; }

 private:
  void begin_if_needed();
  void before_command();
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);
  void check_binding(const ComputePipeline& pipeline, uint32_t binding, const BufferRange& range) const;

  Device& device_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkQueryPool query_pool_ = VK_NULL_HANDLE;
  uint32_t max_timestamps_ = 0;
  std::vector<VkDescriptorPool> descriptor_pools_;
  size_t current_pool_ = 0;
  std::vector<std::string> labels_;
  std::vector<Timestamp> results_;
  bool recording_ = false;
  bool pending_ = false;
  bool auto_barrier_ = true;
  bool has_commands_ = false;
  bool profiling_ = false;
};

// A group of commands that do not depend on one another, recorded while this lives: with automatic barriers on,
// the group waits for everything recorded before it, and its commands do not wait for each other, so the GPU may
// overlap them (e.g. the Q, K and V projections of one layer). The next command after the group waits for all.
class IndependentCommands {
 public:
  explicit IndependentCommands(CommandStream& stream) : stream_(stream), auto_barrier_(stream.auto_barrier()) {
    if (auto_barrier_) stream_.barrier_after_earlier_commands();
    stream_.set_auto_barrier(false);
  }
  ~IndependentCommands() { stream_.set_auto_barrier(auto_barrier_); }
  IndependentCommands(const IndependentCommands&) = delete;
  IndependentCommands& operator=(const IndependentCommands&) = delete;

 private:
  CommandStream& stream_;
  bool auto_barrier_;
};

}  // namespace ckv::vk
