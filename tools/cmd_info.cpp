// `ckv info`: every Vulkan device and what it can do, plus which one the engine would pick.
#include <cstdio>

#include "commands.hpp"
#include "vk/device.hpp"
#include "vk/instance.hpp"

namespace ckv::cli {

Command add_info_command(CLI::App& app, const GlobalOptions& global) {
  CLI::App* sub = app.add_subcommand("info", "List Vulkan devices and their capabilities");
  return {sub, [&global]() {
            vk::Instance instance(vk::InstanceOptions{global.validation});
            const auto devices = vk::list_devices(instance);
            for (const auto& d : devices) std::printf("%s", vk::format_device_info(d).c_str());
            if (!devices.empty()) {
              const uint32_t chosen = vk::choose_device(devices, global.device);
              std::printf("selected: device %u (%s)\n", chosen, devices[chosen].name.c_str());
            }
            return 0;
          }};
}

}  // namespace ckv::cli
