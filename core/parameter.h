// What a model owns: parameters (trained: a value and its gradient, updated by the optimisers) and state
// buffers (not trained: batch-norm running statistics, updated by their op in train mode only; no
// optimiser ever sees them).
#pragma once
#include <string>

#include "core/tensor.h"

namespace sf {

struct Parameter {
  std::string name;  // "weight" | "bias"
  Tensor value;
  Tensor grad;
};

struct Buffer {
  std::string name;  // "running_mean" | "running_var" | ...
  Tensor value;
};

}  // namespace sf
