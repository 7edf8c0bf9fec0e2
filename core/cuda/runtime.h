// The CUDA device as core sees it: whether a GPU can be used, and the registration of its allocator and
// device primitives. It names no CUDA type, so g++-compiled files of a CUDA build (core/device.cpp) include it.
#pragma once
#include <string>

namespace sf::cuda {

// "" when a GPU can be used, else why not, in the CUDA runtime's words. Probed once per process: on a machine
// without a driver cudaGetDeviceCount fails ("CUDA driver version is insufficient"), not with
// cudaErrorNoDevice, so any failure counts as "no GPU".
const std::string& gpu_unavailable_reason();

// Registers the CUDA allocator and device primitives when a GPU is there; once per process.
void register_device_if_present();

}  // namespace sf::cuda
