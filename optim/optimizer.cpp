#include "optim/optimizer.h"

#include "core/error.h"

namespace sf {

void Optimizer::step(const std::vector<Parameter*>& params) {
  if (state_[0].empty())
    for (int s = 0; s < state_count(); ++s)
      for (auto* p : params) state_[s].push_back(Tensor::zeros(p->value.shape(), p->value.device()));
  if (state_count() > 0 && state_[0].size() != params.size())
    fail_internal("optimizer: parameter list changed between steps");
  if (!lr_scales_.empty() && lr_scales_.size() != params.size())
    fail_internal("optimizer: " + std::to_string(lr_scales_.size()) + " learning-rate scales for " +
                  std::to_string(params.size()) + " parameters");
  const float lr = static_cast<float>(current_lr());
  for (size_t k = 0; k < params.size(); ++k)
    update(k, params[k]->value, params[k]->grad, lr_scales_.empty() ? lr : lr * lr_scales_[k]);
  ++iterations_;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, uint64_t seed) {
  if (spec.type == "sgd") return std::make_unique<Sgd>(spec, seed);
  if (spec.type == "adam") return std::make_unique<Adam>(spec);
  if (spec.type == "adadelta") return std::make_unique<Adadelta>(spec);
  fail_input("train.optimizer.type", "unknown optimizer '" + spec.type + "'");
}

}  // namespace sf
