// Instance + chosen device + pipeline library: what every GPU user of the engine holds.
#pragma once
#include <memory>
#include <string>

#include "device.hpp"
#include "instance.hpp"
#include "pipeline.hpp"

namespace ckv::vk {

struct ContextOptions {
  bool validation = false;        // also CKV_VALIDATION=1
  bool print_validation = true;
  std::string device;             // index or name substring; also CKV_DEVICE
};

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  Instance& instance() { return *instance_; }
  Device& device() { return *device_; }
  PipelineLibrary& pipelines() { return *pipelines_; }

 private:
  std::unique_ptr<Instance> instance_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<PipelineLibrary> pipelines_;
};

}  // namespace ckv::vk
