// The batched simulator's own kernels, one table per device (as core/primitives.h's): the CPU's are plain
// loops over backends/batched/snn_math.h, a CUDA build adds the same functions as .cu kernels
// (backends/cuda/snn_kernels.cu). Pointers are on the table's device; every array is [images × per-image].
// Dense synaptic propagation is not here: it is the training ops' convolution and dense kernels on the same
// device (cuDNN and cuBLAS on a GPU); the event-driven propagation is (compact + scatter).
#pragma once
#include <cstdint>

#include "backends/batched/snn_math.h"
#include "core/device.h"

namespace sf::batched {

struct SnnKernels {
  // One step of a layer for `images` images: neuron j of image b gets in[b·n + j]·in_scale + bias[j] (bias may
  // be null); the spike it sends (1, 0, −1) is written to out[b·n + j] when out is non-null (the next layer's
  // spike input).
  void (*step)(const NeuronStep& k, const PopulationState& s, const float* in, float in_scale, const float* bias,
               float* out, int64_t images);
  // The input spikes of `step` for dataset images first_image… (pixels [images × n]): out ← 0/1, and each
  // pixel's spike count in `counts` grows by its spike.
  void (*input)(const InputStep& e, const float* pixels, int64_t n, int64_t first_image, int64_t images, int step,
                float* out, float* counts);
  // *correct += the images whose read-out (readout_class over `classes` outputs) equals their label.
  void (*readout)(const float* count, const float* v, const float* labels, int64_t classes, int64_t images,
                  float* correct);
  // dst[j] = Σ_b src[b·n + j]: a layer's spikes per neuron over the batch.
  void (*sum_images)(const float* src, int64_t n, int64_t images, float* dst);
  // Spike-norm calibration: max_in[c] ← max(max_in[c], in[b·n + j]·in_scale) for the neurons j of channel
  // c = j / per_channel (NCHW), values above 0 only (the maxima start at 0).
  void (*probe_max)(const float* in, float in_scale, int64_t n, int64_t per_channel, int64_t images, float* max_in);
  // Event propagation. compact: the non-zero entries of spikes [images × n] as indices b·n + j into `index`
  // (in any order on a GPU), their number into *count; both on the device, so no host wait.
  void (*compact)(const float* spikes, int64_t n, int64_t images, int32_t* index, int32_t* count);
  // out[b·post + target] += spikes[i]·factor·weight for every synapse of every listed spike i = b·pre + j;
  // out is zeroed by the caller, max_events bounds *count. On a GPU the additions are atomic, so their order
  // (and, unlike the CPU's, the rounding of a sum of weights not exact in float) varies from run to run.
  void (*scatter)(const EventLayer& g, const float* weight, const float* spikes, const int32_t* index,
                  const int32_t* count, int64_t max_events, float* out);
};

// The table of `device`; BadInput naming --backend when this build or machine has none.
const SnnKernels& snn_kernels(Device device);

}  // namespace sf::batched
