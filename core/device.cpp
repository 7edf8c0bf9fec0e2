#include "core/device.h"

#include "core/error.h"
#include "core/tensor.h"

namespace sf {

std::string_view to_string(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

Device parse_device(std::string_view s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  fail_input("device", "unknown device '" + std::string(s) + "' (expected cpu or cuda)");
}

bool device_available(Device d) { return has_allocator(d); }

std::string device_unavailable_reason(Device d) {
  if (device_available(d)) return "";
  return "this build has no " + std::string(to_string(d)) +
         " kernels (build with CUDA: scripts/build.sh -DSPIKEFORGE_CUDA=ON, with nvcc and cuDNN installed)";
}

}  // namespace sf
