// The device primitives (core/primitives.h) as CUDA kernels, on the compute stream (core/cuda/stream.h).
#pragma once
#include "core/primitives.h"

namespace sf::cuda {

const DevicePrimitives& device_primitives();
void register_capture();  // CUDA graphs of the compute stream (core/cuda/capture.cpp)

}  // namespace sf::cuda
