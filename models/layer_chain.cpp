#include "models/layer_chain.h"

namespace sf {

Model make_layer_chain(const ModelSpec& spec, Rng& rng) {
  if (spec.layers.empty()) fail_input("model.layers", "arch: layers needs at least one layer");
  Model m(spec.input);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string where = "model.layers[" + std::to_string(i) + "] ('" + l.name + "')";
    Layer* layer = nullptr;
    try {
      layer = &m.add(l.name, l.type, l.attrs, l.params);
    } catch (const Error& e) {
      throw Error(ErrorKind::BadInput, where + ": " + e.what());
    }
    for (Parameter& p : layer->params) {
      if (p.name == "weight")
        glorot_uniform(p.value, rng);
      else if (p.name == "gamma")
        p.value.fill(1.0f);
      else if (p.name == "threshold")
        p.value.fill(static_cast<float>(spec.qcfs_threshold));
    }
    for (const auto& [name, shape] : l.buffers)
      m.add_buffer(l.name, name, name == "running_var" ? Tensor::full(shape, 1.0f) : Tensor::zeros(shape));
  }
  if (numel(m.output_shape()) != spec.classes)
    fail_input("model.layers", "the last layer makes " + to_string(m.output_shape()) + " values per sample, not the " +
                                   std::to_string(spec.classes) + " classes of the dataset");
  return m;
}

}  // namespace sf
