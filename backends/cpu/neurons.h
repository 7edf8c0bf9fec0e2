// Neuron state and the per-step update of one population, shared by the event-driven and the dense
// propagation paths (both hand the update a flat input buffer; layouts differ, the math does not).
//
// IF (dimensionless): v ← v + in + bias; fire at v ≥ θ, then v ← 0 (reset to zero) or v ← v − θ (subtract).
// Signed IF: as subtract, and a neuron that did not fire, has v < 0 and a net count above 0 fires a negative
// spike, v ← v + θ.
// LIF (PyNN IF_curr_exp, exact integration as NEST's iaf_psc_exp, step h):
//   v ← v_rest + (v − v_rest)·P22 + i_syn·P21 + (i_offset + bias)·P20   unless refractory (v held at reset)
//   i_syn ← i_syn·P11 + in
//   fire at v ≥ v_thresh, then v ← v_reset and the neuron is refractory for round(τ_ref / h) steps
// with P11 = e^(−h/τs), P22 = e^(−h/τm), P20 = τm/cm·(1 − P22), P21 = τm·τs/(cm·(τs − τm))·(P11 − P22).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
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
      const snn::LifPropagators prop(p, h);
      p11 = static_cast<float>(prop.p11);
      p22 = static_cast<float>(prop.p22);
      p20 = static_cast<float>(prop.p20);
      p21 = static_cast<float>(prop.p21);
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
  std::vector<int32_t> negative;  // signed IF: indices that fired a negative spike this step
  std::vector<int32_t> counts;    // per-neuron spike counts over the image (signed IF: positive − negative)
  int64_t negative_total = 0;     // signed IF: negative spikes over the image

  void reset(int64_t n, const NeuronConstants& k) {
    v.assign(n, k.v_start);
    in.assign(n, 0.0f);
    counts.assign(n, 0);
    spikes.clear();
    spikes.reserve(n);
    negative.clear();
    if (k.model == snn::NeuronModel::if_signed) negative.reserve(n);
    negative_total = 0;
    if (k.model == snn::NeuronModel::lif) {
      i_syn.assign(n, 0.0f);
      refractory.assign(n, 0);
    }
  }
};

// Appends the indices j with v[j] ≥ θ to `spikes` and applies the reset. Few neurons fire in a step (a few %),
// so the scan compares a vector of membranes at once and walks only the set bits of the comparison mask
// (a byte-per-neuron scan was 40 % of a LIF run, mostly mispredicted branches).
template <class Reset>
inline void collect_spikes(const float* __restrict v, int64_t n, float threshold, std::vector<int32_t>& spikes,
                           Reset reset) {
  int64_t j = 0;
  auto take = [&](int64_t base, uint32_t mask) {
    while (mask) {
      const int64_t i = base + __builtin_ctz(mask);
      mask &= mask - 1;
      reset(i);
      spikes.push_back(static_cast<int32_t>(i));
    }
  };
#if defined(__AVX512F__)
  const __m512 th = _mm512_set1_ps(threshold);
  for (; j + 16 <= n; j += 16) take(j, _mm512_cmp_ps_mask(_mm512_loadu_ps(v + j), th, _CMP_GE_OQ));
#elif defined(__AVX__)
  const __m256 th = _mm256_set1_ps(threshold);
  for (; j + 8 <= n; j += 8)
    take(j, static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + j), th, _CMP_GE_OQ))));
#endif
  for (; j < n; ++j)
    if (v[j] >= threshold) take(j, 1u);
}

// Signed IF's negative spikes: every j with v[j] < 0 and count[j] > 0 gets v[j] += θ, one spike off its count,
// and is appended to `negative`. Many neurons sit below 0 (negative drive), few of them have spikes to take
// back: both comparisons are vector masks, ANDed before the bit walk.
inline void collect_negative(float* __restrict v, int32_t* __restrict count, int64_t n, float theta,
                             std::vector<int32_t>& negative) {
  int64_t j = 0;
  auto take = [&](int64_t base, uint32_t mask) {
    while (mask) {
      const int64_t i = base + __builtin_ctz(mask);
      mask &= mask - 1;
      v[i] += theta;
      --count[i];
      negative.push_back(static_cast<int32_t>(i));
    }
  };
#if defined(__AVX512F__)
  const __m512 zero = _mm512_setzero_ps();
  const __m512i none = _mm512_setzero_si512();
  for (; j + 16 <= n; j += 16) {
    const __mmask16 fired = _mm512_cmpgt_epi32_mask(_mm512_loadu_si512(count + j), none);
    take(j, _mm512_mask_cmp_ps_mask(fired, _mm512_loadu_ps(v + j), zero, _CMP_LT_OQ));
  }
#elif defined(__AVX2__)
  for (; j + 8 <= n; j += 8) {
    const __m256 below = _mm256_cmp_ps(_mm256_loadu_ps(v + j), _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256i fired =
        _mm256_cmpgt_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(count + j)), _mm256_setzero_si256());
    take(j, static_cast<uint32_t>(_mm256_movemask_ps(_mm256_and_ps(below, _mm256_castsi256_ps(fired)))));
  }
#endif
  for (; j < n; ++j)
    if (v[j] < 0.0f && count[j] > 0) take(j, 1u);
}

// Advances `p` by one step with input p.in (then cleared) and a per-neuron bias (may be null); fills
// p.spikes (and, signed IF, p.negative).
inline void step_population(Population& p, const NeuronConstants& k, const float* __restrict bias) {
  const int64_t n = static_cast<int64_t>(p.v.size());
  float* __restrict v = p.v.data();
  float* __restrict in = p.in.data();
  p.spikes.clear();
  switch (k.model) {
    case snn::NeuronModel::if_reset_zero:
    case snn::NeuronModel::if_subtract:
    case snn::NeuronModel::if_signed: {
      if (bias)
        for (int64_t j = 0; j < n; ++j) v[j] += in[j] + bias[j];
      else
        for (int64_t j = 0; j < n; ++j) v[j] += in[j];
      const float theta = k.threshold;
      if (k.model == snn::NeuronModel::if_reset_zero) {
        collect_spikes(v, n, theta, p.spikes, [&](int64_t j) { v[j] = 0.0f; });
        break;
      }
      collect_spikes(v, n, theta, p.spikes, [&](int64_t j) { v[j] -= theta; });
      if (k.model == snn::NeuronModel::if_signed) {
        // A neuron that just fired has v ≥ 0, so none fires both ways in one step, and the counts read here
        // are the ones before this step's positive spikes are added below.
        p.negative.clear();
        collect_negative(v, p.counts.data(), n, theta, p.negative);
        p.negative_total += static_cast<int64_t>(p.negative.size());
      }
      break;
    }
    case snn::NeuronModel::lif: {
      float* __restrict isyn = p.i_syn.data();
      int32_t* __restrict ref = p.refractory.data();
      const float rest = k.v_rest, p22 = k.p22, p21 = k.p21, p20 = k.p20, p11 = k.p11, offset = k.i_offset;
      for (int64_t j = 0; j < n; ++j) {
        const float drive = offset + (bias ? bias[j] : 0.0f);
        const float updated = rest + (v[j] - rest) * p22 + isyn[j] * p21 + drive * p20;
        const bool refractory = ref[j] > 0;
        v[j] = refractory ? v[j] : updated;
        ref[j] = refractory ? ref[j] - 1 : 0;
        isyn[j] = isyn[j] * p11 + in[j];
      }
      const float v_reset = k.v_reset;
      const int32_t ref_steps = k.refractory_steps;
      collect_spikes(v, n, k.threshold, p.spikes, [&](int64_t j) { v[j] = v_reset, ref[j] = ref_steps; });
      break;
    }
  }
  for (int32_t j : p.spikes) ++p.counts[j];
  std::fill(in, in + n, 0.0f);
}

}  // namespace sf::cpu
