// The per-sample transforms of a Pipeline (datasets/pipeline.h), with torchvision semantics so that recipes
// written for PyTorch (RandomCrop(32, padding=4), RandomHorizontalFlip(), Resize, Normalize) carry over.
#pragma once
#include <vector>

#include "datasets/pipeline.h"

namespace sf {

// RandomCrop(size, padding): zero-pad every side by `padding`, then cut a height×width window at a uniformly
// random offset, top in [0, H + 2·padding − height] and left in [0, W + 2·padding − width].
class RandomCrop final : public Transform {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  std::string name() const override { return "random_crop"; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;
  // The window at (top, left) of the zero-padded input: the deterministic half of apply().
  static void crop(const float* in, const Shape& in_shape, int64_t padding, int64_t top, int64_t left, int64_t height,
                   int64_t width, float* out);

 private:
  int64_t height_, width_, padding_;
};

// RandomHorizontalFlip(p): mirrors the columns with probability p.
class HorizontalFlip final : public Transform {
 public:
  explicit HorizontalFlip(double p = 0.5);
  std::string name() const override { return "hflip"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;
  static void flip(const float* in, const Shape& in_shape, float* out);

 private:
  double p_;
};

// Bilinear resize to height×width with half-pixel centres (PyTorch's align_corners=False: source coordinate
// (x + 0.5)·in/out − 0.5, clamped at 0; edge pixels repeat). No antialiasing filter, like torchvision's
// antialias=False: shrinking by more than 2× samples rather than averages.
class Resize final : public Transform {
 public:
  Resize(int64_t height, int64_t width);
  std::string name() const override { return "resize"; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  int64_t height_, width_;
};

// Normalize(mean, std): (x − mean_c) / std_c per channel; one mean and std per input channel.
class Normalize final : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  std::string name() const override { return "normalize"; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  std::vector<float> mean_, std_;
};

}  // namespace sf
