// Where a tensor's storage lives. A device is usable when its allocator, device primitives
// (core/primitives.h), optimiser kernels (optim/kernels.h) and op kernels (ops/registry.h) are registered.
#pragma once
#include <string>
#include <string_view>

namespace sf {

enum class Device { cpu, cuda };

std::string_view to_string(Device d);
Device parse_device(std::string_view s);  // throws BadInput naming the value
// A CUDA build registers the GPU's allocator and primitives on first use, when it finds a GPU: the probe is a
// driver call, made once. device_available and device_unavailable_reason do this, as do the allocator and
// primitive lookups.
void register_device(Device d);
bool device_available(Device d);
// Why `d` cannot be used in this build (and how to build it), or "" when it can.
std::string device_unavailable_reason(Device d);

}  // namespace sf
