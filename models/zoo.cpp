#include "models/zoo.h"

#include "models/activation_layer.h"
#include "models/layer_chain.h"
#include "models/mobilenet.h"

namespace sf {
namespace {

// Layer attributes asking Model::build to quantise the layer's weights (LDR, straight-through).
Attrs weight_attrs(const ModelSpec& spec) {
  if (!spec.weight_quant.enabled()) return {};
  return {{"weight_bits", spec.weight_quant.bits}, {"weight_fsr", spec.weight_quant.fsr}};
}

}  // namespace

Model make_liu(const ModelSpec& spec, Rng& rng) {
  const bool large = spec.arch == "liu_large";
  const int64_t c1 = large ? 16 : 6, c2 = large ? 64 : 12, classes = spec.classes;
  if (spec.input.size() != 3 || spec.input[1] < 16 || spec.input[2] < 16 || classes < 2)
    fail_input("model.arch", spec.arch + " needs images of at least 16×16 and 2 classes, not " + to_string(spec.input) +
                                 " with " + std::to_string(classes));
  Model m(spec.input);
  m.add("conv1", "conv2d", weight_attrs(spec), {{"weight", {c1, spec.input[0], 5, 5}}});
  add_activation(m, "act1", spec);
  m.add("pool1", "avgpool2d", {{"kernel", 2}});
  if (spec.pool_activation) add_activation(m, "pool1_act", spec);
  m.add("conv2", "conv2d", weight_attrs(spec), {{"weight", {c2, c1, 5, 5}}});
  add_activation(m, "act2", spec);
  m.add("pool2", "avgpool2d", {{"kernel", 2}});
  if (spec.pool_activation) add_activation(m, "pool2_act", spec);
  m.add("flatten", "flatten");
  const int64_t features = numel(m.output_shape());
  std::vector<std::pair<std::string, Shape>> dense{{"weight", {classes, features}}};
  if (spec.dense_bias) dense.push_back({"bias", {classes}});
  m.add("dense", "dense", weight_attrs(spec), dense);
  for (auto* p : m.parameters())
    if (p->name == "weight") glorot_uniform(p->value, rng);
  return m;
}

Model build_model(const ModelSpec& spec, uint64_t seed) {
  Rng rng = Rng::for_stream(seed, Stream::init);
  if (spec.arch == "liu_small" || spec.arch == "liu_large") return make_liu(spec, rng);
  if (spec.arch == "mobilenet_v1") return make_mobilenet_v1(spec, rng);
  if (spec.arch == "layers") return make_layer_chain(spec, rng);
  fail_input("model.arch", "unknown architecture '" + spec.arch + "'");
}

}  // namespace sf
