#include "models/zoo.h"

namespace sf {
namespace {

Attrs activation_attrs(const ModelSpec& spec) {
  if (spec.activation == "noisy_softplus") return {{"k", spec.nsp_k}, {"sigma", spec.nsp_sigma}};
  return {};
}

}  // namespace

Model make_liu(const ModelSpec& spec, Rng& rng) {
  const bool large = spec.arch == "liu_large";
  const int64_t c1 = large ? 16 : 6, c2 = large ? 64 : 12, classes = 10;
  const Attrs act = activation_attrs(spec);
  Model m({1, 28, 28});
  m.add("conv1", "conv2d", {}, {{"weight", {c1, 1, 5, 5}}});
  m.add("act1", spec.activation, act);
  m.add("pool1", "avgpool2d", {{"kernel", 2}});
  if (spec.pool_activation) m.add("pool1_act", spec.activation, act);
  m.add("conv2", "conv2d", {}, {{"weight", {c2, c1, 5, 5}}});
  m.add("act2", spec.activation, act);
  m.add("pool2", "avgpool2d", {{"kernel", 2}});
  if (spec.pool_activation) m.add("pool2_act", spec.activation, act);
  m.add("flatten", "flatten");
  const int64_t features = numel(m.output_shape());
  std::vector<std::pair<std::string, Shape>> dense{{"weight", {classes, features}}};
  if (spec.dense_bias) dense.push_back({"bias", {classes}});
  m.add("dense", "dense", {}, dense);
  for (auto* p : m.parameters())
    if (p->name == "weight") glorot_uniform(p->value, rng);
  return m;
}

Model build_model(const ModelSpec& spec, uint64_t seed) {
  Rng rng(seed);
  if (spec.arch == "liu_small" || spec.arch == "liu_large") return make_liu(spec, rng);
  fail_input("model.arch", "unknown architecture '" + spec.arch + "'");
}

}  // namespace sf
