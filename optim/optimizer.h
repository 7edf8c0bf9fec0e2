// Optimisers update model parameters from the gradients the graph wrote, with Keras (2.x) semantics since
// the seed trained with Keras. Every optimiser decays its rate the Keras way: the rate used at update t
// (t counted from 0) is lr / (1 + decay · t).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/rng.h"
#include "optim/optimizer_spec.h"

namespace sf {

// Everything an optimiser carries from step to step, as host tensors and plain numbers: what a resume
// checkpoint stores (train/resume.h) so that a continued run takes exactly the steps the first would have.
struct OptimizerState {
  int64_t iterations = 0;
  double schedule = 1.0;
  std::vector<std::vector<Tensor>> slots;  // [which][parameter]: momentum etc.; empty before the first step
  bool has_rng = false;                    // Sgd's gradient-noise generator, a sequential stream
  Rng::State rng;
};

class Optimizer {
 public:
  explicit Optimizer(const OptimizerSpec& spec) : spec_(spec) {}
  virtual ~Optimizer() = default;
  // `skip`: a double on the parameters' device; the updates leave everything as it is where it is non-zero
  // (optim/kernels.h). The iteration count advances either way: a skipped step ends the run (Trainer).
  void step(const std::vector<Parameter*>& params, const double* skip = nullptr);
  // step() in its three parts, for a step recorded once and replayed (core/capture.h): stage() computes this
  // step's rates on the host and uploads them to the parameters' device; apply() queues the updates, which
  // read the rates there (the part a recording holds); advance() counts the step.
  void stage(const std::vector<Parameter*>& params);
  void apply(const std::vector<Parameter*>& params, const double* skip);
  void advance() { ++iterations_; }
  // Whether apply() reads everything that changes from step to step on the device (Sgd's gradient noise, drawn
  // on the host from a sequential stream, does not).
  virtual bool replayable() const { return true; }
  // The rate the next step() uses: lr · schedule / (1 + decay · t), times a per-parameter scale.
  double current_lr() const { return spec_.lr * schedule_ / (1.0 + spec_.decay * static_cast<double>(iterations_)); }
  void set_schedule(double factor) { schedule_ = factor; }  // epoch-level schedules (step decay)
  void set_lr_scales(std::vector<float> scales) { lr_scales_ = std::move(scales); }  // one per parameter
  int64_t iterations() const { return iterations_; }
  int slot_count() const { return state_count(); }

  OptimizerState export_state() const;
  // The inverse, checked against the parameters step() will be given (count and shapes; the slots move to
  // each parameter's device). Errors are BadInput naming `where`.
  void import_state(const OptimizerState& s, const std::vector<Parameter*>& params, const std::string& where);

 protected:
  // Updates parameter k (value w, gradient g) through the device's kernel (optim/kernels.h) at the rate that
  // `lr` points at, on w's device (rate()'s); iterations_ is the 0-based update count.
  virtual void update(size_t k, Tensor& w, const Tensor& g, const float* lr) = 0;
  // The rate update() is given for the scheduled rate lr (Adam folds in its bias correction).
  virtual float rate(float lr) const { return lr; }
  virtual Rng* noise_rng() { return nullptr; }  // a sequential random stream the optimiser draws from
  // Per-parameter state tensor `which`, on the parameter's device (zero-initialised on the first step).
  Tensor& state(size_t k, int which) { return state_[which][k]; }

  OptimizerSpec spec_;
  int64_t iterations_ = 0;
  const double* skip_ = nullptr;  // step()'s, for the kernels update() calls

 private:
  double schedule_ = 1.0;
  std::vector<float> lr_scales_;
  virtual int state_count() const = 0;
  std::vector<Tensor> state_[2];
  Tensor device_rates_;  // this step's, one per parameter (stage()'s), where update() reads them
};

// SGD with momentum (v ← μ·v − lr_t·g; w ← w + v), optional Nesterov (w ← w + μ·v − lr_t·g) and optional
// gradient noise (the seed's noisy SGD): g ← g + N(0, σ_t²), σ_t = noise_std / (1 + t)^(noise_anneal / 2).
class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerSpec& spec, uint64_t seed) : Optimizer(spec), rng_(Rng::for_stream(seed, Stream::sgd_noise)) {}

 private:
  void update(size_t k, Tensor& w, const Tensor& g, const float* lr) override;
  int state_count() const override { return 1; }
  Rng* noise_rng() override { return &rng_; }
  bool replayable() const override { return spec_.noise_std <= 0; }
  Rng rng_;
};

// Adam (Kingma & Ba; Keras): m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// w ← w − lr_t·√(1−β2^(t+1))/(1−β1^(t+1)) · m / (√v + ε).
class Adam final : public Optimizer {
 public:
  using Optimizer::Optimizer;

 private:
  void update(size_t k, Tensor& w, const Tensor& g, const float* lr) override;
  float rate(float lr) const override;
  int state_count() const override { return 2; }
};

// Adadelta (Zeiler; Keras, the seed's `ada`): a ← ρ·a + (1−ρ)·g²; u = g·√(d + ε)/√(a + ε);
// w ← w − lr_t·u; d ← ρ·d + (1−ρ)·u².
class Adadelta final : public Optimizer {
 public:
  using Optimizer::Optimizer;

 private:
  void update(size_t k, Tensor& w, const Tensor& g, const float* lr) override;
  int state_count() const override { return 2; }
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, uint64_t seed = 0);

}  // namespace sf
