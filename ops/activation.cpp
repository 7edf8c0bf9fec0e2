#include "ops/activation.h"

#include "ops/shape_check.h"

namespace sf {

bool is_activation(const std::string& type) { return type == "relu" || type == "softplus" || type == "noisy_softplus"; }

Activation Activation::from(const std::string& type, const Attrs& a) {
  const double scale = a.get("scale", 1.0);
  expect(scale > 0, type.c_str(), "scale must be > 0");
  const float p = static_cast<float>(scale);
  if (type == "relu") return {ActKind::relu, 1.0f, p};
  if (type == "softplus") return {ActKind::softplus, 1.0f, p};
  if (type == "noisy_softplus") {
    const double k = a.get("k", 0.17), sigma = a.get("sigma", 1.0);
    expect(k > 0 && sigma > 0, "noisy_softplus", "k and sigma must be > 0");
    return {ActKind::noisy_softplus, static_cast<float>(k * sigma), p};
  }
  fail_internal("unknown activation '" + type + "'");
}

Shape ActivationOp::prepare(std::span<const Shape> in) {
  expect_inputs(type_.c_str(), in, 1, 1);
  return in[0];
}

}  // namespace sf
