// The batched simulator's kernels on a GPU (backends/batched/kernels.h), on the compute stream as the ops
// are: one fused element-wise kernel per layer and step for the neurons, one for the input spikes, one
// thread per image for the read-out, and for event propagation a spike list and a scatter of its synapses. Compiled
// with -fmad=false (CMakeLists.txt), so the neuron update rounds as the CPU's does. None of them waits for the host: a
// batch's steps queue without synchronisation.
#include <algorithm>

#include "backends/batched/kernels.h"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/stream.h"

namespace sf::batched {
namespace {

using cuda::launch_elementwise;

void step_gpu(const NeuronStep& k, const PopulationState& s, const float* in, float in_scale, const float* bias,
              float* out, int64_t images) {
  const int64_t n = s.neurons;
  launch_elementwise(
      images * n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        const float spike = step_neuron(k, s, i, in[i] * in_scale, bias ? bias[i % n] : 0.0f);
        if (out) out[i] = spike;
      },
      "snn neuron step");
}

void input_gpu(const InputStep& e, const float* pixels, int64_t n, int64_t first_image, int64_t images, int step,
               float* out, float* counts) {
  launch_elementwise(
      images * n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        const float spike = input_spike(e, pixels[i], first_image + i / n, i % n, step);
        out[i] = spike;
        counts[i] += spike;
      },
      "snn input spikes");
}

void readout_gpu(const float* count, const float* v, const float* labels, int64_t classes, int64_t images,
                 float* correct) {
  // Whole numbers below 2^24 add exactly in any order: the sum is deterministic despite the atomics.
  launch_elementwise(
      images, cuda::compute_stream(),
      [=] __device__(int64_t b) {
        if (readout_class(count + b * classes, v + b * classes, classes) == static_cast<int64_t>(labels[b]))
          atomicAdd(correct, 1.0f);
      },
      "snn read-out");
}

void sum_images_gpu(const float* src, int64_t n, int64_t images, float* dst) {
  launch_elementwise(
      n, cuda::compute_stream(),
      [=] __device__(int64_t j) {
        float acc = 0.0f;
        for (int64_t b = 0; b < images; ++b) acc += src[b * n + j];
        dst[j] = acc;
      },
      "snn spike sums");
}

void probe_max_gpu(const float* in, float in_scale, int64_t n, int64_t per_channel, int64_t images, float* max_in) {
  // Positive floats order as their bit patterns do, so an integer atomicMax is a float max (and the values
  // ≤ 0 never raise a maximum that starts at 0).
  launch_elementwise(
      images * n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        const float x = in[i] * in_scale;
        if (x > 0.0f) atomicMax(reinterpret_cast<int*>(max_in + i % n / per_channel), __float_as_int(x));
      },
      "snn probe maxima");
}

void compact_gpu(const float* spikes, int64_t n, int64_t images, int32_t* index, int32_t* count) {
  cuda::check(cudaMemsetAsync(count, 0, sizeof(int32_t), cuda::compute_stream()), "snn spike list");
  launch_elementwise(
      images * n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        if (spikes[i] != 0.0f) index[atomicAdd(count, 1)] = static_cast<int32_t>(i);
      },
      "snn spike list");
}

// One thread per (spike, synapse slot), grid-stride up to the count the compaction left on the device: the grid
// is sized for the busiest step (max_events), capped, and idle threads leave at once.
__global__ void scatter_kernel(EventLayer g, const float* weight, const float* spikes, const int32_t* index,
                               const int32_t* count, float* out) {
  const int64_t total = static_cast<int64_t>(*count) * g.fanout, pre = g.pre(), post = g.post();
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = index[k / g.fanout];
    int64_t target = 0, w = 0;
    if (g.synapse(i % pre, k % g.fanout, target, w))
      atomicAdd(out + i / pre * post + target, spikes[i] * g.factor * (w >= 0 ? weight[w] : 1.0f));
  }
}

void scatter_gpu(const EventLayer& g, const float* weight, const float* spikes, const int32_t* index,
                 const int32_t* count, int64_t max_events, float* out) {
  // 0.5 M threads, about twice what an H100's 132 SMs hold resident (2,048 each): an estimate, not a measurement.
  constexpr unsigned kThreads = 256, kMaxBlocks = 2048;
  const unsigned blocks = std::min(cuda::grid_for(max_events * g.fanout, kThreads), kMaxBlocks);
  scatter_kernel<<<blocks, kThreads, 0, cuda::compute_stream()>>>(g, weight, spikes, index, count, out);
  cuda::check_launch("snn event scatter");
}

constexpr SnnKernels kGpu{step_gpu, input_gpu, readout_gpu, sum_images_gpu, probe_max_gpu, compact_gpu, scatter_gpu};

}  // namespace

const SnnKernels& cuda_snn_kernels() { return kGpu; }

}  // namespace sf::batched
