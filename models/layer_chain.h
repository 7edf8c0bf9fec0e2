// `arch: layers`: a chain spelled out layer by layer in the model section (models/model_spec.h LayerSpec). It
// is what `spikeforge import` writes for a net trained elsewhere (ONNX), so such a net trains, evaluates and
// converts like the built-in ones; a user can also write one by hand.
#pragma once
#include "core/rng.h"
#include "models/model.h"
#include "models/model_spec.h"

namespace sf {

// Builds spec.layers on spec.input; BadInput naming model.layers[i] for a layer whose op rejects its input or
// attributes, and for an output other than spec.classes values. Weights start Glorot-uniform, batch-norm
// scales and running variances at 1, QCFS thresholds at spec.qcfs_threshold, everything else at 0.
Model make_layer_chain(const ModelSpec& spec, Rng& rng);

}  // namespace sf
