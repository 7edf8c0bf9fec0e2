#include "optim/optimizer.h"

#include "core/error.h"
#include "core/primitives.h"

namespace sf {

void Optimizer::step(const std::vector<Parameter*>& params, const double* skip) {
  stage(params);
  apply(params, skip);
  advance();
}

void Optimizer::stage(const std::vector<Parameter*>& params) {
  if (state_[0].empty())
    for (int s = 0; s < state_count(); ++s)
      for (auto* p : params) state_[s].push_back(Tensor::zeros(p->value.shape(), p->value.device()));
  if (state_count() > 0 && state_[0].size() != params.size())
    fail_internal("optimizer: parameter list changed between steps");
  if (!lr_scales_.empty() && lr_scales_.size() != params.size())
    fail_internal("optimizer: " + std::to_string(lr_scales_.size()) + " learning-rate scales for " +
                  std::to_string(params.size()) + " parameters");
  if (params.empty()) return;
  const float lr = static_cast<float>(current_lr());
  std::vector<float> rates(params.size());  // upload() is done with them when it returns
  for (size_t k = 0; k < params.size(); ++k) rates[k] = rate(lr_scales_.empty() ? lr : lr * lr_scales_[k]);
  const Device device = params[0]->value.device();
  const auto n = static_cast<int64_t>(params.size());
  if (!device_rates_.defined() || device_rates_.numel() != n || device_rates_.device() != device)
    device_rates_ = Tensor({n}, device);
  primitives(device).upload(device_rates_.raw(), rates.data(), n);
}

void Optimizer::apply(const std::vector<Parameter*>& params, const double* skip) {
  if (!params.empty() && (!device_rates_.defined() || device_rates_.numel() != static_cast<int64_t>(params.size())))
    fail_internal("optimizer: apply() without stage()");
  skip_ = skip;
  for (size_t k = 0; k < params.size(); ++k) update(k, params[k]->value, params[k]->grad, device_rates_.raw() + k);
  skip_ = nullptr;
}

OptimizerState Optimizer::export_state() const {
  OptimizerState s;
  s.iterations = iterations_;
  s.schedule = schedule_;
  if (!state_[0].empty())
    for (int w = 0; w < state_count(); ++w) {
      s.slots.emplace_back();
      for (const Tensor& t : state_[w]) s.slots.back().push_back(t.to(Device::cpu).clone());
    }
  if (const Rng* rng = const_cast<Optimizer*>(this)->noise_rng()) {
    s.has_rng = true;
    s.rng = rng->state();
  }
  return s;
}

void Optimizer::import_state(const OptimizerState& s, const std::vector<Parameter*>& params, const std::string& where) {
  if (s.iterations < 0) fail_input(where, "optimizer iteration count " + std::to_string(s.iterations) + " < 0");
  if (!s.slots.empty() && static_cast<int>(s.slots.size()) != state_count())
    fail_input(where, "optimizer state has " + std::to_string(s.slots.size()) + " slots per parameter, this " +
                          spec_.type + " optimizer keeps " + std::to_string(state_count()));
  std::vector<Tensor> slots[2];
  for (size_t w = 0; w < s.slots.size(); ++w) {
    if (s.slots[w].size() != params.size())
      fail_input(where, "optimizer state is for " + std::to_string(s.slots[w].size()) + " parameters, the model has " +
                            std::to_string(params.size()));
    for (size_t k = 0; k < params.size(); ++k) {
      const Tensor& t = s.slots[w][k];
      if (!t.defined() || t.shape() != params[k]->value.shape())
        fail_input(where, "optimizer state " + std::to_string(w) + " of parameter " + std::to_string(k) +
                              " has shape " + (t.defined() ? to_string(t.shape()) : std::string("(none)")) +
                              ", the parameter " + to_string(params[k]->value.shape()));
      slots[w].push_back(t.to(params[k]->value.device()).clone());
    }
  }
  Rng* rng = noise_rng();
  if (s.has_rng != (rng != nullptr))
    fail_input(where, std::string("optimizer state ") + (s.has_rng ? "has" : "lacks") +
                          " a gradient-noise generator, which this " + spec_.type + " optimizer " +
                          (rng ? "needs" : "does not have"));
  iterations_ = s.iterations;
  schedule_ = s.schedule;
  for (int w = 0; w < 2; ++w) state_[w] = std::move(slots[w]);
  if (rng) rng->set_state(s.rng);
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, uint64_t seed) {
  if (spec.type == "sgd") return std::make_unique<Sgd>(spec, seed);
  if (spec.type == "adam") return std::make_unique<Adam>(spec);
  if (spec.type == "adadelta") return std::make_unique<Adadelta>(spec);
  fail_input("train.optimizer.type", "unknown optimizer '" + spec.type + "'");
}

}  // namespace sf
