#include <cmath>

#include "optim/kernels.h"
#include "optim/optimizer.h"

namespace sf {

// Keras's lr_t, rounded to float once per step as the rate every element's update uses.
float Adam::rate(float lr) const {
  const double t = static_cast<double>(iterations_ + 1);
  return static_cast<float>(lr * std::sqrt(1.0 - std::pow(spec_.beta2, t)) / (1.0 - std::pow(spec_.beta1, t)));
}

void Adam::update(size_t k, Tensor& w, const Tensor& g, const float* lr_t) {
  optim_kernels(w.device())
      .adam(skip_, w.raw(), g.raw(), state(k, 0).raw(), state(k, 1).raw(), w.numel(), static_cast<float>(spec_.beta1),
            static_cast<float>(spec_.beta2), static_cast<float>(spec_.epsilon), lr_t);
}

}  // namespace sf
