#include "models/activation_layer.h"

namespace sf {

void add_activation(Model& m, const std::string& name, const ModelSpec& spec) {
  if (spec.activation == "noisy_softplus" && spec.nsp_per_neuron) {
    m.add(name, "noisy_softplus_liu", {{"k", spec.nsp_k}, {"scale", spec.paf_scale}});
  } else if (spec.activation == "qcfs") {
    // One trainable threshold λ per layer (Bu 2022), starting at model.threshold.
    m.add(name, "qcfs", {{"levels", spec.qcfs_levels}}, {{"threshold", {1}}}).params[0].value.fill(
        static_cast<float>(spec.qcfs_threshold));
  } else {
    Attrs a{{"scale", spec.paf_scale}};
    if (spec.activation == "noisy_softplus") a.set("k", spec.nsp_k).set("sigma", spec.nsp_sigma);
    m.add(name, spec.activation, a);
  }
  if (spec.act_quant.enabled())
    m.add(name + "_q", "log_quantize", {{"bits", spec.act_quant.bits}, {"fsr", spec.act_quant.fsr}});
}

}  // namespace sf
