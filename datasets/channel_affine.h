// The trailing per-channel affine transforms of an evaluation pipeline (normalize, scale), split from the
// transforms before them. A converter hands the spiking network the pixels themselves (rates in [0, 1]; a rate
// cannot be negative, a normalised pixel can) and folds the affine map into the first layer's weights and
// biases instead (backends/snn/converter.cpp), while the ANN still reads what it was trained on.
#pragma once
#include <string>
#include <vector>

#include "datasets/pipeline.h"
#include "datasets/transform_spec.h"

namespace sf {

struct ChannelAffine {
  // y[c] = scale[c]·x[c] + shift[c], one entry per channel; empty: the identity.
  std::vector<double> scale, shift;
  // The same map as the transforms compute it, for the ANN: its float arithmetic is training's.
  std::vector<TransformSpec> steps;
  bool identity() const { return steps.empty(); }
  // n images of shape {C, H, W}, in → out (may alias).
  void apply(const float* in, int64_t n, const Shape& chw, float* out) const;
};

struct SplitTransforms {
  std::vector<TransformSpec> pixels;  // everything before the affine tail, in order
  ChannelAffine affine;
};

// `channels`: the channel count the list ends with (the model's input channels). hflip and repeat_channels
// after a normalize or scale commute with it and move before it (a repeat copies a grey channel's mean and
// std); any other transform after one is BadInput naming both, since its output would depend on values the
// affine has already changed (the zeros of pad or of an oversized center_crop, the interpolation of resize).
SplitTransforms split_channel_affine(const std::vector<TransformSpec>& specs, int64_t channels);

}  // namespace sf
