// The optimisers' update rules as device kernels: one fused pass over a parameter per step. The step's rate
// (decayed, scaled per parameter, with Adam's bias correction) is computed on the host by the optimiser and
// read by the kernel from the device (`lr`, one float there): a recorded step (core/capture.h) replays with
// each step's own rate. Each device registers one table; the CPU's is optim/cpu_kernels.cpp.
#pragma once
#include <cstdint>

#include "core/device.h"

namespace sf {

struct OptimKernels {
  // Each update leaves every tensor as it is when `skip` (a double on the kernel's device, may be null) is
  // non-zero: a step whose loss or gradients went non-finite is not applied (Trainer reads that mark later).
  // v ← μ·v − lr·g; w ← w + v (Nesterov: w ← w + μ·v − lr·g)
  void (*sgd)(const double* skip, float* w, const float* g, float* v, int64_t n, float mu, const float* lr,
              bool nesterov);
  // m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; w ← w − lr_t·m / (√v + ε)
  void (*adam)(const double* skip, float* w, const float* g, float* m, float* v, int64_t n, float b1, float b2,
               float eps, const float* lr_t);
  // a ← ρ·a + (1−ρ)·g²; u = g·√(d + ε)/√(a + ε); w ← w − lr·u; d ← ρ·d + (1−ρ)·u²
  void (*adadelta)(const double* skip, float* w, const float* g, float* a, float* d, int64_t n, float rho, float eps,
                   const float* lr);
};

const OptimKernels& optim_kernels(Device device);  // internal error when this build lacks the device
void register_optim_kernels(Device device, const OptimKernels* table);
const OptimKernels& cuda_optim_kernels();  // a CUDA build's (optim/cuda/kernels.cu): one fused kernel per update

}  // namespace sf
