// Element-wise activations and their derivatives (the math every kernel shares):
//   relu            f = max(x, 0)                       f' = [x > 0]
//   softplus        f = log(1 + eˣ)                     f' = logistic(x)
//   noisy_softplus  f = kσ · log(1 + exp(x / (kσ)))     f' = logistic(x / (kσ))   (Liu 2017, seed form:
//                   fixed scalars k and σ; attrs k (0.17), sigma (1.0))
// each times Liu's parametric-activation scale p (attr scale, default 1): f → p·f, f' → p·f'.
#pragma once
#include <cmath>
#include <string>

#include "core/op.h"

namespace sf {

enum class ActKind { relu, softplus, noisy_softplus };

struct Activation {
  ActKind kind;
  float ks = 1.0f;     // kσ; 1 for plain softplus
  float scale = 1.0f;  // p

  static Activation from(const std::string& type, const Attrs& a);

  static float softplus(float z) { return std::max(z, 0.0f) + std::log1p(std::exp(-std::fabs(z))); }
  static float logistic(float z) { return 1.0f / (1.0f + std::exp(-z)); }

  float f(float x) const {
    switch (kind) {
      case ActKind::relu:
        return scale * (x > 0.0f ? x : 0.0f);
      case ActKind::softplus:
        return scale * softplus(x);
      case ActKind::noisy_softplus:
        return scale * ks * softplus(x / ks);
    }
    return 0.0f;
  }
  float df(float x) const {
    switch (kind) {
      case ActKind::relu:
        return scale * (x > 0.0f ? 1.0f : 0.0f);
      case ActKind::softplus:
        return scale * logistic(x);
      case ActKind::noisy_softplus:
        return scale * logistic(x / ks);
    }
    return 0.0f;
  }
};

bool is_activation(const std::string& type);

// Shape rules: one input, output of the same shape.
class ActivationOp : public Op {
 public:
  ActivationOp(const std::string& type, const Attrs& a) : type_(type), act_(Activation::from(type, a)) {}
  const char* type() const override { return type_.c_str(); }
  Shape prepare(std::span<const Shape> inputs) override;

 protected:
  std::string type_;
  Activation act_;
};

}  // namespace sf
