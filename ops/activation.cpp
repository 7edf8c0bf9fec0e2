#include "ops/activation.h"

#include "ops/shape_check.h"

namespace sf {

const ActivationType* find_activation(std::string_view type) {
  for (const auto& a : kActivations)
    if (a.type == type) return &a;
  return nullptr;
}

Activation Activation::from(const std::string& type, const Attrs& a) {
  const ActivationType* t = find_activation(type);
  if (!t) fail_internal("unknown activation '" + type + "'");
  const OpSchema& s = *t->schema;
  const double scale = s.get_float(a, "scale");
  expect(scale > 0, type.c_str(), "scale must be > 0");
  const float p = static_cast<float>(scale);
  if (t->kind != ActKind::noisy_softplus) return {t->kind, 1.0f, p};
  const double k = s.get_float(a, "k"), sigma = s.get_float(a, "sigma");
  expect(k > 0 && sigma > 0, "noisy_softplus", "k and sigma must be > 0");
  return {ActKind::noisy_softplus, static_cast<float>(k * sigma), p};
}

Shape ActivationOp::prepare(std::span<const Shape> in) {
  expect_inputs(type_.c_str(), in, 1, 1);
  return in[0];
}

}  // namespace sf
