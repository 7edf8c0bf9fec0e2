#include <cmath>

#include "core/error.h"
#include "optim/kernels.h"
#include "optim/optimizer.h"

namespace sf {

void Sgd::update(size_t k, Tensor& w, const Tensor& g, const float* rate) {
  const float mu = static_cast<float>(spec_.momentum);
  Tensor& v = state(k, 0);
  if (spec_.noise_std > 0) {
    // The noise is drawn element by element from one sequential stream, so it runs on the host.
    if (!w.on_host()) fail_input("train.optimizer.noise_std", "gradient noise is implemented on the CPU only");
    if (skip_ && *skip_ != 0) return;  // on the CPU, so host memory (and the rate too)
    const float lr = *rate;
    const double sigma = spec_.noise_std / std::pow(1.0 + static_cast<double>(iterations_), spec_.noise_anneal / 2.0);
    float* wp = w.data();
    float* vp = v.data();
    const float* gp = g.data();
    for (int64_t i = 0; i < w.numel(); ++i) {
      const float gi = gp[i] + static_cast<float>(sigma * rng_.normal());
      vp[i] = mu * vp[i] - lr * gi;
      wp[i] += spec_.nesterov ? mu * vp[i] - lr * gi : vp[i];
    }
    return;
  }
  optim_kernels(w.device()).sgd(skip_, w.raw(), g.raw(), v.raw(), w.numel(), mu, rate, spec_.nesterov);
}

}  // namespace sf
