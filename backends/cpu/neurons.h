// Neuron state and the per-step update of one population, shared by the event-driven and the dense
// propagation paths (both hand the update a flat input buffer; layouts differ, the math does not).
//
// IF (dimensionless): v ← v + in + bias; fire at v ≥ θ, then v ← 0 (reset to zero) or v ← v − θ (subtract).
// LIF (PyNN IF_curr_exp, exact integration as NEST's iaf_psc_exp, step h):
//   v ← v_rest + (v − v_rest)·P22 + i_syn·P21 + (i_offset + bias)·P20   unless refractory (v held at reset)
//   i_syn ← i_syn·P11 + in
//   fire at v ≥ v_thresh, then v ← v_reset and the neuron is refractory for round(τ_ref / h) steps
// with P11 = e^(−h/τs), P22 = e^(−h/τm), P20 = τm/cm·(1 − P22), P21 = τm·τs/(cm·(τs − τm))·(P11 − P22).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backends/snn/network.h"

namespace sf::cpu {

struct NeuronConstants {
  snn::NeuronModel model;
  float threshold;  // IF θ or LIF v_thresh
  float v_start;    // initial membrane
  float v_reset, v_rest;
  float p11, p22, p21, p20, i_offset;
  int refractory_steps;

  NeuronConstants(const snn::Network& net, const snn::Layer& layer) {
    model = net.neuron;
    if (model == snn::NeuronModel::lif) {
      const snn::LifParams& p = net.lif;
      const double h = net.dt_ms;
      threshold = static_cast<float>(p.v_thresh);
      v_start = v_rest = static_cast<float>(p.v_rest);
      v_reset = static_cast<float>(p.v_reset);
      p11 = static_cast<float>(std::exp(-h / p.tau_syn));
      p22 = static_cast<float>(std::exp(-h / p.tau_m));
      p20 = static_cast<float>(p.tau_m / p.cm * (1.0 - std::exp(-h / p.tau_m)));
      p21 = static_cast<float>(p.tau_m * p.tau_syn / (p.cm * (p.tau_syn - p.tau_m)) *
                               (std::exp(-h / p.tau_syn) - std::exp(-h / p.tau_m)));
      i_offset = static_cast<float>(p.i_offset);
      refractory_steps = static_cast<int>(std::lround(p.tau_refrac / h));
    } else {
      threshold = static_cast<float>(layer.threshold);
      v_start = static_cast<float>(net.v_init * layer.threshold);
      v_reset = v_rest = 0.0f;
      p11 = p22 = p21 = p20 = i_offset = 0.0f;
      refractory_steps = 0;
    }
  }
};

// One population's state for one image.
struct Population {
  std::vector<float> v, i_syn;
  std::vector<int32_t> refractory;
  std::vector<float> in;          // input arriving this step (synaptic weights, or constant current)
  std::vector<int32_t> spikes;    // indices that fired this step
  std::vector<int32_t> counts;    // per-neuron spike counts over the image

  void reset(int64_t n, const NeuronConstants& k) {
    v.assign(n, k.v_start);
    in.assign(n, 0.0f);
    counts.assign(n, 0);
    spikes.clear();
    spikes.reserve(n);
    if (k.model == snn::NeuronModel::lif) {
      i_syn.assign(n, 0.0f);
      refractory.assign(n, 0);
    }
  }
};

// Advances `p` by one step with input p.in (then cleared) and a per-neuron bias (may be null); fills
// p.spikes. When `max_input` is non-null it records the largest in + bias seen (spike-norm calibration).
inline void step_population(Population& p, const NeuronConstants& k, const float* bias, float* max_input) {
  const int64_t n = static_cast<int64_t>(p.v.size());
  float* v = p.v.data();
  float* in = p.in.data();
  p.spikes.clear();
  if (max_input) {
    float m = *max_input;
    for (int64_t j = 0; j < n; ++j) m = std::max(m, in[j] + (bias ? bias[j] : 0.0f));
    *max_input = m;
  }
  switch (k.model) {
    case snn::NeuronModel::if_reset_zero:
    case snn::NeuronModel::if_subtract: {
      if (bias)
        for (int64_t j = 0; j < n; ++j) v[j] += in[j] + bias[j];
      else
        for (int64_t j = 0; j < n; ++j) v[j] += in[j];
      const bool subtract = k.model == snn::NeuronModel::if_subtract;
      for (int64_t j = 0; j < n; ++j)
        if (v[j] >= k.threshold) {
          v[j] = subtract ? v[j] - k.threshold : 0.0f;
          p.spikes.push_back(static_cast<int32_t>(j));
        }
      break;
    }
    case snn::NeuronModel::lif: {
      float* isyn = p.i_syn.data();
      int32_t* ref = p.refractory.data();
      for (int64_t j = 0; j < n; ++j) {
        const float drive = k.i_offset + (bias ? bias[j] : 0.0f);
        const float updated = k.v_rest + (v[j] - k.v_rest) * k.p22 + isyn[j] * k.p21 + drive * k.p20;
        v[j] = ref[j] > 0 ? v[j] : updated;
        ref[j] = ref[j] > 0 ? ref[j] - 1 : 0;
        isyn[j] = isyn[j] * k.p11 + in[j];
      }
      for (int64_t j = 0; j < n; ++j)
        if (v[j] >= k.threshold) {
          v[j] = k.v_reset;
          ref[j] = k.refractory_steps;
          p.spikes.push_back(static_cast<int32_t>(j));
        }
      break;
    }
  }
  for (int32_t j : p.spikes) ++p.counts[j];
  std::fill(in, in + n, 0.0f);
}

}  // namespace sf::cpu
