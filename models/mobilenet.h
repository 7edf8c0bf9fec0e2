// MobileNet v1 (Howard et al. 2017) in Keras's layout (keras.applications.MobileNet):
//   conv 3×3 / s, 32·α (no bias) → BN → act
//   13 depthwise-separable blocks, (pointwise channels, stride):
//     64/1, 128/2, 128/1, 256/2, 256/1, 512/2, 5 × 512/1, 1024/2, 1024/1
//     each: depthwise 3×3 / stride, ×depth_multiplier (no bias) → BN → act → pointwise 1×1 (no bias) → BN → act
//   global average pool → dropout → dense to the classes (bias; Keras's 1×1 conv on a 1×1 map)
// BN momentum 0.99, eps 1e-3 (Keras). Channel counts are int(c · α), as Keras computes them.
//
// Strides. `imagenet` is Keras's: the first convolution has stride 2 (224 → 112 → … → 7; 32 → 1). `cifar`
// (the default for inputs of 32 pixels or fewer) gives the first convolution stride 1, so a 32×32 map ends at
// 2×2. Padding is 1 on every side of each 3×3 (PyTorch's choice) where Keras pads stride-2 layers on the
// bottom/right only: the output sizes are the same, the pixels sampled shift by one.
//
// Layout. With data_format channels_last (the default) the net runs in NHWC, the layout oneDNN's convolution
// and batch-norm kernels are fastest in: a to_nhwc layer takes the NCHW images, and every later per-sample
// shape is {H, W, C}. The global average pool gives plain [N, C] either way.
#pragma once
#include "models/model.h"
#include "models/model_spec.h"

namespace sf {

Model make_mobilenet_v1(const ModelSpec& spec, Rng& rng);

}  // namespace sf
