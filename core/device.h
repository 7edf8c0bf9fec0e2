// Where a tensor's storage lives. Kernels are registered per device (ops/registry.h), so a CUDA
// kernel set plugs in by registering kernels for Device::cuda; the trainer never branches on it.
#pragma once
#include <string>
#include <string_view>

namespace sf {

enum class Device { cpu, cuda };

std::string_view to_string(Device d);
Device parse_device(std::string_view s);  // throws BadInput naming the value
bool device_available(Device d);

}  // namespace sf
