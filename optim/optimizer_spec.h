// An optimiser's settings (the `train.optimizer:` section of an experiment). It lives here so that optim/
// needs nothing above it.
#pragma once
#include <string>

namespace sf {

// Keras (2.x) optimisers. Keys that do not belong to the chosen type are rejected as unknown.
struct OptimizerSpec {
  std::string type = "sgd";  // sgd | adam | adadelta
  double lr = 0.1;           // default per type: sgd 0.1 (seed), adam 0.001, adadelta 1.0 (Keras)
  double decay = 0.0;        // Keras time-based decay: lr_t = lr / (1 + decay · iterations)
  // sgd
  double momentum = 0.9;
  bool nesterov = false;
  double noise_std = 0.0;     // noisy SGD: N(0, σ_t²) added to every gradient element,
  double noise_anneal = 0.55; // σ_t = noise_std / (1 + t)^(anneal / 2) (Neelakantan et al. 2015)
  // adam
  double beta1 = 0.9, beta2 = 0.999;
  // adam, adadelta
  double epsilon = 1e-7;
  // adadelta
  double rho = 0.95;
};

}  // namespace sf
