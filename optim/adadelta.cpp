#include "optim/kernels.h"
#include "optim/optimizer.h"

namespace sf {

void Adadelta::update(size_t k, Tensor& w, const Tensor& g, const float* lr) {
  // State 0: running mean of g²; state 1: running mean of update².
  optim_kernels(w.device())
      .adadelta(skip_, w.raw(), g.raw(), state(k, 0).raw(), state(k, 1).raw(), w.numel(), static_cast<float>(spec_.rho),
                static_cast<float>(spec_.epsilon), lr);
}

}  // namespace sf
