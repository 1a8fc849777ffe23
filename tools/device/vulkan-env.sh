# Sourced by the device-side scripts: installs the Vulkan loader from the carried .gl debs and points the loader at
# the NVIDIA driver's manifest when the system has none of its own.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1 && [ -f $nvidia_icd ]; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
