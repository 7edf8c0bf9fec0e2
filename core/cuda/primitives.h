// The device primitives (core/primitives.h) as CUDA kernels, on the default stream.
#pragma once
#include "core/primitives.h"

namespace sf::cuda {

const DevicePrimitives& device_primitives();

}  // namespace sf::cuda
