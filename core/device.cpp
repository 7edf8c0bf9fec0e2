#include "core/device.h"

#include <atomic>

#include "core/error.h"
#include "core/tensor.h"
#if SPIKEFORGE_CUDA
#include "core/cuda/runtime.h"
#endif

namespace sf {

std::string_view to_string(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

Device parse_device(std::string_view s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  fail_input("device", "unknown device '" + std::string(s) + "' (expected cpu or cuda)");
}

void register_device(Device d) {
#if SPIKEFORGE_CUDA
  if (d == Device::cuda) cuda::register_device_if_present();
#else
  (void)d;
#endif
}

bool device_available(Device d) {
  register_device(d);
  return has_allocator(d);
}

std::string device_unavailable_reason(Device d) {
  if (device_available(d)) return "";
#if SPIKEFORGE_CUDA
  if (d == Device::cuda) return cuda::gpu_unavailable_reason();
#endif
  return "this build has no " + std::string(to_string(d)) +
         " kernels (scripts/build.sh turns CUDA on by itself where CUDA 12+, cuBLAS and cuDNN 9 are found; "
         "-DSPIKEFORGE_CUDA=ON asks for it)";
}

namespace {
std::atomic<bool> deterministic{false};
}  // namespace

void set_deterministic_kernels(bool on) { deterministic = on; }
bool deterministic_kernels() { return deterministic; }

}  // namespace sf
