// A trained tensor and its gradient, as the model owns them and the optimisers update them.
#pragma once
#include <string>

#include "core/tensor.h"

namespace sf {

struct Parameter {
  std::string name;  // "weight" | "bias"
  Tensor value;
  Tensor grad;
};

}  // namespace sf
