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
  SizeRule size_rule() const override { return SizeRule::fixes; }
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
  SizeRule size_rule() const override { return SizeRule::keeps; }
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
  SizeRule size_rule() const override { return SizeRule::fixes; }
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
  SizeRule size_rule() const override { return SizeRule::keeps; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  std::vector<float> mean_, std_;
};

// ---- ImageNet-style transforms. Their resampling is antialiased like PIL's bilinear filter (torchvision's
// antialias=True): shrinking by s averages over a triangle s input pixels wide, so a 500-pixel photo cut to 224
// does not alias; enlarging gives the same values as Resize.

// Bilinear, antialiased resize of the window (top, left, height, width) — which must lie inside the input — to
// out_h × out_w, as torchvision's resized_crop (crop first, so pixels outside the window do not contribute).
void resize_window(const float* in, const Shape& in_shape, int64_t top, int64_t left, int64_t height, int64_t width,
                   int64_t out_h, int64_t out_w, float* out);

// RandomResizedCrop(size, scale, ratio) with torchvision's parameter draw: up to 10 tries of an area fraction
// uniform in `scale` and an aspect ratio (w/h) log-uniform in `ratio`, rounded to whole pixels, kept if the window
// fits; otherwise the central crop clamped to `ratio`. The window is then resized to height×width.
class RandomResizedCrop final : public Transform {
 public:
  struct Window {
    int64_t top = 0, left = 0, height = 0, width = 0;
    bool operator==(const Window&) const = default;
  };
  RandomResizedCrop(int64_t height, int64_t width, double scale_min = 0.08, double scale_max = 1.0,
                    double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
  std::string name() const override { return "random_resized_crop"; }
  SizeRule size_rule() const override { return SizeRule::fixes; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;
  // The window drawn for an image of in_h × in_w: the random half of apply().
  Window window(int64_t in_h, int64_t in_w, Rng& rng) const;

 private:
  int64_t height_, width_;
  double scale_min_, scale_max_, ratio_min_, ratio_max_;
};

// Resize(size) with an int: the shorter side becomes `size`, the longer one int(size · long / short) (torchvision's
// rounding down), keeping the aspect ratio. Antialiased as above.
class ResizeShort final : public Transform {
 public:
  explicit ResizeShort(int64_t size);
  std::string name() const override { return "resize_short"; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  int64_t size_;
};

// CenterCrop(size): the window at round((H − height) / 2), round((W − width) / 2) (Python's round, half to even,
// as torchvision); an input smaller than the crop is zero-padded around it first, as torchvision does.
class CenterCrop final : public Transform {
 public:
  CenterCrop(int64_t height, int64_t width);
  std::string name() const override { return "center_crop"; }
  SizeRule size_rule() const override { return SizeRule::fixes; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;
  // The window's top (or left) offset for one axis; negative when the input is smaller than the crop.
  static int64_t offset(int64_t in, int64_t crop);

 private:
  int64_t height_, width_;
};

// Zero-pads the input to height×width, centred (the odd pixel of an odd difference goes to the bottom / right):
// MNIST's 28×28 in a 32×32 frame. An input larger than the target is rejected.
class Pad final : public Transform {
 public:
  Pad(int64_t height, int64_t width);
  std::string name() const override { return "pad"; }
  SizeRule size_rule() const override { return SizeRule::fixes; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  int64_t height_, width_;
};

// x → low + (high − low) · x: Keras MobileNet's preprocessing maps [0, 1] pixels to [−1, 1] with low −1, high 1.
class Scale final : public Transform {
 public:
  Scale(double low, double high);
  std::string name() const override { return "scale"; }
  SizeRule size_rule() const override { return SizeRule::keeps; }
  Shape output_shape(const Shape& in) const override { return in; }
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  float low_, high_;
};

// Repeats a single (grey) channel `count` times: MNIST as a 3-channel image for an RGB network. An input that
// already has `count` channels passes unchanged; any other channel count is rejected.
class RepeatChannels final : public Transform {
 public:
  explicit RepeatChannels(int64_t count);
  std::string name() const override { return "repeat_channels"; }
  SizeRule size_rule() const override { return SizeRule::keeps; }
  Shape output_shape(const Shape& in) const override;
  void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const override;

 private:
  int64_t count_;
};

}  // namespace sf
