#include "core/error.h"
#include "optim/optimizer.h"

namespace sf {

void Sgd::step(const std::vector<Parameter*>& params) {
  if (velocity_.empty())
    for (auto* p : params) velocity_.push_back(Tensor::zeros(p->value.shape(), p->value.device()));
  if (velocity_.size() != params.size()) fail_internal("sgd: parameter list changed between steps");
  const float lr = static_cast<float>(current_lr()), mu = static_cast<float>(spec_.momentum);
  const bool nesterov = spec_.nesterov;
  for (size_t k = 0; k < params.size(); ++k) {
    float* w = params[k]->value.data();
    const float* g = params[k]->grad.data();
    float* v = velocity_[k].data();
    const int64_t n = params[k]->value.numel();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      v[i] = mu * v[i] - lr * g[i];
      w[i] += nesterov ? mu * v[i] - lr * g[i] : v[i];
    }
  }
  ++iterations_;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec) {
  if (spec.type == "sgd") return std::make_unique<Sgd>(spec);
  fail_input("train.optimizer.type", "unknown optimizer '" + spec.type + "'");
}

}  // namespace sf
