// Element-wise activations and their derivatives (the math every kernel shares):
//   relu            f = max(x, 0)                       f' = [x > 0]
//   relu6           f = min(max(x, 0), 6)               f' = [0 < x < 6]   (MobileNet; Keras ReLU(6.))
//   softplus        f = log(1 + eˣ)                     f' = logistic(x)
//   noisy_softplus  f = kσ · log(1 + exp(x / (kσ)))     f' = logistic(x / (kσ))   (Liu 2017, seed form:
//                   fixed scalars k and σ; attrs k (0.17), sigma (1.0))
// each times Liu's parametric-activation scale p (attr scale, default 1): f → p·f, f' → p·f'.
// Activation::f and df are the one definition of that math for the CPU and CUDA kernels (core/hd.h).
#pragma once
#include <cmath>
#include <string>
#include <string_view>

#include "core/hd.h"
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

enum class ActKind { relu, relu6, softplus, noisy_softplus };

inline constexpr AttrSpec kScaleAttrs[] = {float_attr("scale", 1.0)};
inline constexpr AttrSpec kNoisySoftplusAttrs[] = {float_attr("scale", 1.0), float_attr("k", 0.17),
                                                   float_attr("sigma", 1.0)};

// The element-wise activation op types, in one place: the kernel registrations, the attribute tables and
// Activation::from all walk this table.
struct ActivationType {
  std::string_view type;
  ActKind kind;
  const OpSchema* schema;
};
inline constexpr OpSchema kReluSchema{"relu", kScaleAttrs};
inline constexpr OpSchema kRelu6Schema{"relu6", kScaleAttrs};
inline constexpr OpSchema kSoftplusSchema{"softplus", kScaleAttrs};
inline constexpr OpSchema kNoisySoftplusSchema{"noisy_softplus", kNoisySoftplusAttrs};
inline constexpr ActivationType kActivations[] = {
    {"relu", ActKind::relu, &kReluSchema},
    {"relu6", ActKind::relu6, &kRelu6Schema},
    {"softplus", ActKind::softplus, &kSoftplusSchema},
    {"noisy_softplus", ActKind::noisy_softplus, &kNoisySoftplusSchema},
};
const ActivationType* find_activation(std::string_view type);  // null if `type` is no activation

struct Activation {
  ActKind kind;
  float ks = 1.0f;     // kσ; 1 for plain softplus
  float scale = 1.0f;  // p

  static Activation from(const std::string& type, const Attrs& a);

  static SF_HD float softplus(float z) { return std::max(z, 0.0f) + std::log1p(std::exp(-std::fabs(z))); }
  static SF_HD float logistic(float z) { return 1.0f / (1.0f + std::exp(-z)); }

  SF_HD float f(float x) const {
    switch (kind) {
      case ActKind::relu:
        return scale * (x > 0.0f ? x : 0.0f);
      case ActKind::relu6:
        return scale * (x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f);
      case ActKind::softplus:
        return scale * softplus(x);
      case ActKind::noisy_softplus:
        return scale * ks * softplus(x / ks);
    }
    return 0.0f;
  }
  SF_HD float df(float x) const {
    switch (kind) {
      case ActKind::relu:
        return scale * (x > 0.0f ? 1.0f : 0.0f);
      case ActKind::relu6:
        return scale * (x > 0.0f && x < 6.0f ? 1.0f : 0.0f);
      case ActKind::softplus:
        return scale * logistic(x);
      case ActKind::noisy_softplus:
        return scale * logistic(x / ks);
    }
    return 0.0f;
  }
};

// Shape rules: one input, output of the same shape.
class ActivationOp : public Op {
 public:
  ActivationOp(const std::string& type, const Attrs& a) : type_(type), act_(Activation::from(type, a)) {}
  const char* type() const override { return type_.c_str(); }
  Shape prepare(std::span<const Shape> inputs) override;
  // dx = f'(x)·dy from the input; a kernel that takes f' from the output says so.
  bool backward_reads_output() const override { return false; }

 protected:
  std::string type_;
  Activation act_;
};

}  // namespace sf
