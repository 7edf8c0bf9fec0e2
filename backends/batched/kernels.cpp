#include "backends/batched/kernels.h"

#include <algorithm>

#include "core/error.h"
#include "core/parallel.h"

namespace sf::batched {

#if SPIKEFORGE_CUDA
const SnnKernels& cuda_snn_kernels();  // backends/cuda/snn_kernels.cu
#endif

namespace {

constexpr int64_t kGrain = 16384;  // elements below which one thread does a step (as the element-wise ops)

void step_cpu(const NeuronStep& k, const PopulationState& s, const float* in, float in_scale, const float* bias,
              float* out, int64_t images) {
  const int64_t n = s.neurons;
  parallel_for(images * n, kGrain, [&](int64_t lo, int64_t hi, int) {
    for (int64_t i = lo; i < hi; ++i) {
      const float spike = step_neuron(k, s, i, in[i] * in_scale, bias ? bias[i % n] : 0.0f);
      if (out) out[i] = spike;
    }
  });
}

void input_cpu(const InputStep& e, const float* pixels, int64_t n, int64_t first_image, int64_t images, int step,
               float* out, float* counts) {
  parallel_for(images * n, kGrain, [&](int64_t lo, int64_t hi, int) {
    for (int64_t i = lo; i < hi; ++i) {
      const float spike = input_spike(e, pixels[i], first_image + i / n, i % n, step);
      out[i] = spike;
      counts[i] += spike;
    }
  });
}

void readout_cpu(const float* count, const float* v, const float* labels, int64_t classes, int64_t images,
                 float* correct) {
  for (int64_t b = 0; b < images; ++b)
    *correct += readout_class(count + b * classes, v + b * classes, classes) == static_cast<int64_t>(labels[b]);
}

void sum_images_cpu(const float* src, int64_t n, int64_t images, float* dst) {
  std::fill(dst, dst + n, 0.0f);
  for (int64_t b = 0; b < images; ++b)
    for (int64_t j = 0; j < n; ++j) dst[j] += src[b * n + j];
}

void probe_max_cpu(const float* in, float in_scale, int64_t n, int64_t per_channel, int64_t images, float* max_in) {
  for (int64_t i = 0; i < images * n; ++i) {
    float& m = max_in[i % n / per_channel];
    m = std::max(m, in[i] * in_scale);
  }
}

void compact_cpu(const float* spikes, int64_t n, int64_t images, int32_t* index, int32_t* count) {
  int32_t k = 0;
  for (int64_t i = 0; i < images * n; ++i)
    if (spikes[i] != 0.0f) index[k++] = static_cast<int32_t>(i);
  *count = k;
}

// In spike order, synapse by synapse: plain loops, the oracle for the GPU's atomics.
void scatter_cpu(const EventLayer& g, const float* weight, const float* spikes, const int32_t* index,
                 const int32_t* count, int64_t, float* out) {
  const int64_t pre = g.pre(), post = g.post();
  for (int32_t e = 0; e < *count; ++e) {
    const int64_t i = index[e];
    const float a = spikes[i] * g.factor;
    float* dst = out + i / pre * post;
    int64_t target = 0, w = 0;
    for (int64_t t = 0; t < g.fanout; ++t)
      if (g.synapse(i % pre, t, target, w)) dst[target] += a * (w >= 0 ? weight[w] : 1.0f);
  }
}

constexpr SnnKernels kCpu{step_cpu, input_cpu, readout_cpu, sum_images_cpu, probe_max_cpu, compact_cpu, scatter_cpu};

}  // namespace

const SnnKernels& snn_kernels(Device device) {
  if (device == Device::cpu) return kCpu;
  if (const std::string why = device_unavailable_reason(device); !why.empty()) fail_input("--backend", why);
#if SPIKEFORGE_CUDA
  return cuda_snn_kernels();
#else
  fail_internal("no SNN kernels for device " + std::string(to_string(device)));
#endif
}

}  // namespace sf::batched
