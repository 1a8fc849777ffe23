#include "context.hpp"

namespace ckv::vk {

Context::Context(const ContextOptions& options) {
  instance_ = std::make_unique<Instance>(InstanceOptions{options.validation, options.print_validation});
  const auto devices = list_devices(*instance_);
  device_ = std::make_unique<Device>(*instance_, choose_device(devices, options.device));
  pipelines_ = std::make_unique<PipelineLibrary>(*device_);
}

}  // namespace ckv::vk
