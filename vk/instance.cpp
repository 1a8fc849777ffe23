#include "instance.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <link.h>
#endif

namespace ckv::vk {

namespace {

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer attributes a leak to the module of each frame; the loader unloads the driver and the layers at
// vkDestroyInstance, which leaves their frames as "<unknown module>" that no suppression can match. Under
// AddressSanitizer every module loaded once an instance exists stays loaded until exit.
void keep_loaded_modules() {
  dl_iterate_phdr(
      [](dl_phdr_info* module, size_t, void*) {
        if (module->dlpi_name && module->dlpi_name[0]) dlopen(module->dlpi_name, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
        return 0;
      },
      nullptr);
}
#else
void keep_loaded_modules() {}
#endif

}  // namespace

void ValidationLog::add(std::string message) {
  std::lock_guard lock(mutex_);
  messages_.push_back(std::move(message));
}

std::vector<std::string> ValidationLog::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(messages_, {});
}

size_t ValidationLog::count() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

bool validation_requested_by_environment() {
  const char* value = std::getenv("CKV_VALIDATION");
  return value && std::strcmp(value, "0") != 0 && value[0] != '\0';
}

namespace {

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                      VkDebugUtilsMessageTypeFlagsEXT,
                                                      const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                      void* user) {
  auto* instance = static_cast<Instance*>(user);
  std::string text = std::string(severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning") +
                     ": " + (data->pMessage ? data->pMessage : "");
  if (instance->print_validation()) std::fprintf(stderr, "[vulkan validation] %s\n", text.c_str());
  instance->validation_log().add(std::move(text));
  return VK_FALSE;
}

bool layer_available(const char* name) {
  uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> layers(count);
  vkEnumerateInstanceLayerProperties(&count, layers.data());
  for (const auto& layer : layers)
    if (std::strcmp(layer.layerName, name) == 0) return true;
  return false;
}

}  // namespace

Instance::Instance(const InstanceOptions& options) : print_validation_(options.print_validation) {
  const bool validation = options.validation || validation_requested_by_environment();
  uint32_t loader_version = VK_API_VERSION_1_0;
  vkEnumerateInstanceVersion(&loader_version);
  if (loader_version < VK_API_VERSION_1_2)
    throw std::runtime_error("the Vulkan loader supports only API " + std::to_string(VK_API_VERSION_MAJOR(loader_version)) +
                             "." + std::to_string(VK_API_VERSION_MINOR(loader_version)) + "; 1.2 or newer is required");
  api_version_ = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "compresskv-vk";
  app.pEngineName = "compresskv-vk";
  app.apiVersion = api_version_;

  std::vector<const char*> layers;
  std::vector<const char*> extensions;
  const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
  if (validation) {
    if (!layer_available(kValidationLayer))
      throw std::runtime_error("validation was requested but VK_LAYER_KHRONOS_validation is not installed "
                               "(Debian: apt-get install vulkan-validationlayers)");
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }

  VkDebugUtilsMessengerCreateInfoEXT messenger_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger_info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = on_validation_message;
  messenger_info.pUserData = this;

  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = uint32_t(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = uint32_t(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  if (validation) info.pNext = &messenger_info;  // also covers instance creation and destruction
  CKV_VK_CHECK(vkCreateInstance(&info, nullptr, &instance_));
  keep_loaded_modules();

  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    VkResult result = create ? create(instance_, &messenger_info, nullptr, &messenger_) : VK_ERROR_EXTENSION_NOT_PRESENT;
    if (result != VK_SUCCESS) {
      vkDestroyInstance(instance_, nullptr);
      throw_vulkan_error("vkCreateDebugUtilsMessengerEXT", result);
    }
  }
}

Instance::~Instance() {
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::physical_devices() const {
  uint32_t count = 0;
  CKV_VK_CHECK(vkEnumeratePhysicalDevices(instance_, &count, nullptr));
  std::vector<VkPhysicalDevice> devices(count);
  CKV_VK_CHECK(vkEnumeratePhysicalDevices(instance_, &count, devices.data()));
  devices.resize(count);
  return devices;
}

}  // namespace ckv::vk
