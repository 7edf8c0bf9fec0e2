// The per-element math of the batched simulator, one SF_HD definition for its CPU and CUDA kernels
// (core/hd.h): a neuron's step, an input pixel's spike at a step, and the read-out of an image. The neuron
// step is backends/cpu/neurons.h's, operation for operation (its CUDA file is compiled without FMA
// contraction), so a layer given the same input produces the same spikes on either simulator.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.h"
#include "core/philox.h"

namespace sf::batched {

enum class Model : int32_t { if_reset_zero, if_subtract, if_signed, lif };

// One layer's neuron constants (cpu::NeuronConstants, flattened for a kernel argument).
struct NeuronStep {
  Model model;
  float threshold, v_start, v_reset, v_rest;
  float p11, p22, p21, p20, i_offset;
  float refractory_steps;
};

// A layer's state for a batch, [images × neurons] each, on the kernel's device. Counts are floats: exact
// integers up to 2^24 spikes per neuron and image. isyn and refractory are used by LIF only, negative by
// signed IF only (null otherwise).
struct PopulationState {
  float *v, *isyn, *refractory, *count, *negative;
  int64_t neurons;
};

// Advances neuron i of `s` by one step with input `in` and bias `bias` (0 without); returns the spike it sends:
// 1, 0, or −1 (signed IF's negative spike).
SF_HD inline float step_neuron(const NeuronStep& k, const PopulationState& s, int64_t i, float in, float bias) {
  float v = s.v[i];
  float spike = 0.0f;
  if (k.model == Model::lif) {
    const float drive = k.i_offset + bias;
    const float updated = k.v_rest + (v - k.v_rest) * k.p22 + s.isyn[i] * k.p21 + drive * k.p20;
    const float ref = s.refractory[i];
    const bool refractory = ref > 0.0f;
    v = refractory ? v : updated;
    s.refractory[i] = refractory ? ref - 1.0f : 0.0f;
    s.isyn[i] = s.isyn[i] * k.p11 + in;
    if (v >= k.threshold) v = k.v_reset, s.refractory[i] = k.refractory_steps, spike = 1.0f;
  } else {
    v += in + bias;
    if (v >= k.threshold) {
      v = k.model == Model::if_reset_zero ? 0.0f : v - k.threshold;
      spike = 1.0f;
    } else if (k.model == Model::if_signed && v < 0.0f && s.count[i] > 0.0f) {
      // Only a neuron that did not fire can be below 0 after the step (cpu::collect_negative).
      v += k.threshold;
      s.count[i] -= 1.0f;
      s.negative[i] += 1.0f;
      spike = -1.0f;
    }
  }
  if (spike > 0.0f) s.count[i] += 1.0f;
  s.v[i] = v;
  return spike;
}

// Input spikes. Poisson: pixel i of image `image` spikes at `step` when a Philox draw keyed on the run's seed
// with counter (i, step, image) falls below p = pixel · max_rate · dt (per step, p ≥ 1: every step). This is
// a Bernoulli trial per (image, step, pixel), as the CPU's geometric gaps are, from another stream: the two
// simulators agree in distribution, not spike for spike. Regular: the CPU's phase accumulator exactly (the
// k-th spike at the first step s with (s + 1)·p ≥ k, the same double expression).
struct InputStep {
  int32_t poisson;      // 1: Poisson, 0: regular
  double per_step;      // max_rate · dt, spikes per step of a pixel of value 1
  uint32_t key0, key1;  // Philox key, from the run's seed
};

SF_HD inline int64_t regular_spike_step(int64_t k, double p) {
  return static_cast<int64_t>(ceil(static_cast<double>(k) / p - 1e-9)) - 1;
}

SF_HD inline float input_spike(const InputStep& e, float pixel, int64_t image, int64_t i, int step) {
  const double p = (pixel < 0.0f ? 0.0 : pixel > 1.0f ? 1.0 : static_cast<double>(pixel)) * e.per_step;
  if (!(p > 0)) return 0.0f;
  if (e.poisson) {
    if (p >= 1.0) return 1.0f;
    const Philox4x32 r =
        philox4x32_10({{static_cast<uint32_t>(i), static_cast<uint32_t>(step), static_cast<uint32_t>(image),
                        static_cast<uint32_t>(static_cast<uint64_t>(image) >> 32)}},
                      e.key0, e.key1);
    return static_cast<double>(philox_uniform(r.v[0])) < p ? 1.0f : 0.0f;
  }
  // The spike index k that could fall on `step`: (step + 1)·p rounded down, give or take one for the 1e−9.
  const int64_t k = static_cast<int64_t>(floor((step + 1) * p));
  for (int64_t j = k > 1 ? k - 1 : 1; j <= k + 1; ++j)
    if (regular_spike_step(j, p) == step) return 1.0f;
  return 0.0f;
}

// Event propagation (--propagation event): the synapses of one presynaptic neuron, enumerated from the layer's
// geometry rather than stored (the CPU simulator's tap tables would take O·K² entries per neuron), so a GPU
// thread per (spike, synapse) finds its target and weight from two integers. A spike first lands in the
// pooled map (pool_in: (y/pool, x/pool), weighted 1/pool²), then goes out through the layer's connections.
enum class EventKind : int32_t { conv, depthwise, dense, avgpool };

struct EventLayer {
  EventKind kind;
  int32_t pool;       // pool_in, 1 without
  int64_t C, H, W;    // the presynaptic map, before pooling (NCHW)
  int64_t ph, pw;     // after pooling
  int64_t O, OH, OW;  // the postsynaptic map
  int32_t K, S, pad;  // conv / depthwise: kernel, stride, padding; avgpool: window (= stride)
  int64_t fanout;     // synapse slots per presynaptic neuron (those outside the map do not exist)
  float factor;       // what a spike of 1 carries: 1/pool², for avgpool times the pool's weight

  SF_HD int64_t pre() const { return C * H * W; }
  SF_HD int64_t post() const { return O * OH * OW; }
  // Synapse t < fanout of presynaptic neuron j: whether it exists; its target (NCHW, within the image) and
  // the index of its weight (−1: an average pool's, which has none).
  SF_HD bool synapse(int64_t j, int64_t t, int64_t& target, int64_t& weight) const {
    const int64_t c = j / (H * W), y = j / W % H, x = j % W;
    const int64_t py = y / pool, px = x / pool;
    if (py >= ph || px >= pw) return false;  // dropped by the pooling's floor
    if (kind == EventKind::dense) {
      target = t;
      weight = t * (C * ph * pw) + (c * ph + py) * pw + px;
      return true;
    }
    if (kind == EventKind::avgpool) {
      const int64_t oy = py / K, ox = px / K;
      if (oy >= OH || ox >= OW) return false;
      target = (c * OH + oy) * OW + ox;
      weight = -1;
      return true;
    }
    // out[o, oy, ox] reads in[c, oy·S + ky − pad, ox·S + kx − pad]: input (py, px) reaches oy = (py + pad − ky)/S.
    const int64_t o = kind == EventKind::conv ? t / (K * K) : c, ky = t / K % K, kx = t % K;
    const int64_t cy = py + pad - ky, cx = px + pad - kx;
    if (cy < 0 || cx < 0 || cy % S != 0 || cx % S != 0) return false;
    const int64_t oy = cy / S, ox = cx / S;
    if (oy >= OH || ox >= OW) return false;
    target = (o * OH + oy) * OW + ox;
    weight = kind == EventKind::conv ? ((o * C + c) * K + ky) * K + kx : (c * K + ky) * K + kx;
    return true;
  }
};

// The class of one image's output layer: most spikes, ties to the higher membrane potential, then the lower
// index (the CPU simulator's readout).
SF_HD inline int64_t readout_class(const float* count, const float* v, int64_t classes) {
  int64_t best = 0;
  for (int64_t j = 1; j < classes; ++j)
    if (count[j] > count[best] || (count[j] == count[best] && v[j] > v[best])) best = j;
  return best;
}

}  // namespace sf::batched
