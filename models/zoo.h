// Named architectures built from a ModelSpec (the `model:` section of an experiment).
#pragma once
#include <cstdint>

#include "models/model.h"
#include "models/model_spec.h"

namespace sf {

// Liu (2017) MNIST ConvNets (dnn_microbench generate_mnist_model):
//   small: 28×28×1 → conv 6@5×5 (no bias) → act → avgpool 2 → conv 12@5×5 (no bias) → act → avgpool 2
//          → flatten 192 → dense 10 (linear, bias): 3,880 parameters (on 1×28×28 MNIST; the input shape and
//          class count come from spec.input and spec.classes)
//   large: the same with 16 and 64 filters.
Model make_liu(const ModelSpec& spec, Rng& rng);

// MobileNet v1: models/mobilenet.h.

// Dispatches on spec.arch; weights initialised from `seed`.
Model build_model(const ModelSpec& spec, uint64_t seed);

}  // namespace sf
