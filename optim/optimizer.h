// Optimisers update model parameters from the gradients the graph wrote. Keras (2.x) semantics, since the
// seed trained with Keras: the learning rate used at update t (t counted from 0) is lr / (1 + decay · t).
#pragma once
#include <memory>
#include <vector>

#include "experiments/experiment.h"
#include "models/model.h"

namespace sf {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step(const std::vector<Parameter*>& params) = 0;
  virtual double current_lr() const = 0;  // the rate the next step() will use
  int64_t iterations() const { return iterations_; }

 protected:
  int64_t iterations_ = 0;
};

// SGD with momentum (Keras: v ← μ·v − lr_t·g; w ← w + v), optional Nesterov (w ← w + μ·v − lr_t·g).
class Sgd final : public Optimizer {
 public:
  explicit Sgd(const OptimizerSpec& spec) : spec_(spec) {}
  void step(const std::vector<Parameter*>& params) override;
  double current_lr() const override { return spec_.lr / (1.0 + spec_.decay * static_cast<double>(iterations_)); }

 private:
  OptimizerSpec spec_;
  std::vector<Tensor> velocity_;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec);

}  // namespace sf
