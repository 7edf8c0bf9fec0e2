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

// Process-wide, as PyTorch's torch.use_deterministic_algorithms: GPU kernels choose only algorithms whose results
// do not depend on scheduling (a seed then gives one run, bit for bit, on one GPU), and an op that has none
// fails naming itself. Off (the default), they take the fastest the library ranks first. The CPU kernels are
// deterministic either way. Read when a kernel chooses its algorithms (a cuDNN convolution: the forward's in
// prepare(), the backward's at its first backward()).
void set_deterministic_kernels(bool on);
bool deterministic_kernels();

}  // namespace sf
