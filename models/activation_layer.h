// The activation layer every architecture adds after its weighted layers, from the model section's
// activation and its options (Noisy Softplus's k and σ, the PAF scale, QCFS's levels and initial threshold,
// LDR activation quantisation).
#pragma once
#include <string>

#include "models/model.h"
#include "models/model_spec.h"

namespace sf {

// Appends the activation layer `name` (and, when activations are LDR-quantised, its quantiser `name_q`).
void add_activation(Model& m, const std::string& name, const ModelSpec& spec);

}  // namespace sf
