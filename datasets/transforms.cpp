#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace sf {
namespace {

void check_size(const char* transform, int64_t height, int64_t width) {
  if (height < 1 || width < 1)
    fail_input(transform, "output size must be at least 1×1, got " + std::to_string(height) + "×" +
                              std::to_string(width));
}

// One axis of a half-pixel bilinear resize: output i reads lo[i] and hi[i] with weight w[i] on hi.
struct Taps {
  std::vector<int64_t> lo, hi;
  std::vector<float> w;
  Taps(int64_t in, int64_t out) : lo(out), hi(out), w(out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    for (int64_t i = 0; i < out; ++i) {
      const double src = std::max(0.0, (static_cast<double>(i) + 0.5) * scale - 0.5);
      lo[i] = std::min(static_cast<int64_t>(src), in - 1);
      hi[i] = std::min(lo[i] + 1, in - 1);
      w[i] = static_cast<float>(src - static_cast<double>(lo[i]));
    }
  }
};

}  // namespace

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  check_size("random_crop", height, width);
  if (padding < 0) fail_input("random_crop", "padding must be >= 0, got " + std::to_string(padding));
}

Shape RandomCrop::output_shape(const Shape& in) const {
  if (in[1] + 2 * padding_ < height_ || in[2] + 2 * padding_ < width_)
    fail_input("random_crop", "a " + std::to_string(height_) + "×" + std::to_string(width_) + " crop does not fit " +
                                  to_string(in) + " padded by " + std::to_string(padding_));
  return {in[0], height_, width_};
}

void RandomCrop::apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const {
  const auto top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(in_shape[1] + 2 * padding_ - height_ + 1)));
  const auto left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(in_shape[2] + 2 * padding_ - width_ + 1)));
  crop(in, in_shape, padding_, top, left, height_, width_, out);
}

void RandomCrop::crop(const float* in, const Shape& in_shape, int64_t padding, int64_t top, int64_t left,
                      int64_t height, int64_t width, float* out) {
  const int64_t c = in_shape[0], h = in_shape[1], w = in_shape[2];
  // Output column x reads input column x + left − padding; the in-range ones form one contiguous run.
  const int64_t x_first = std::clamp(padding - left, int64_t{0}, width);
  const int64_t x_end = std::clamp(w + padding - left, x_first, width);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < height; ++y) {
      float* row = out + (ch * height + y) * width;
      const int64_t sy = y + top - padding;
      if (sy < 0 || sy >= h) {
        std::fill(row, row + width, 0.0f);
        continue;
      }
      std::fill(row, row + x_first, 0.0f);
      if (x_end > x_first)
        std::memcpy(row + x_first, in + (ch * h + sy) * w + (x_first + left - padding),
                    static_cast<size_t>(x_end - x_first) * sizeof(float));
      std::fill(row + x_end, row + width, 0.0f);
    }
}

HorizontalFlip::HorizontalFlip(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0)) fail_input("hflip", "p must be in [0, 1], got " + std::to_string(p));
}

void HorizontalFlip::apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const {
  if (rng.uniform() < p_)
    flip(in, in_shape, out);
  else
    std::memcpy(out, in, static_cast<size_t>(numel(in_shape)) * sizeof(float));
}

void HorizontalFlip::flip(const float* in, const Shape& in_shape, float* out) {
  const int64_t rows = in_shape[0] * in_shape[1], w = in_shape[2];
  for (int64_t r = 0; r < rows; ++r) std::reverse_copy(in + r * w, in + (r + 1) * w, out + r * w);
}

Resize::Resize(int64_t height, int64_t width) : height_(height), width_(width) { check_size("resize", height, width); }

Shape Resize::output_shape(const Shape& in) const { return {in[0], height_, width_}; }

void Resize::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  const int64_t c = in_shape[0], h = in_shape[1], w = in_shape[2];
  const Taps ty(h, height_), tx(w, width_);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* plane = in + ch * h * w;
    for (int64_t y = 0; y < height_; ++y) {
      const float* r0 = plane + ty.lo[y] * w;
      const float* r1 = plane + ty.hi[y] * w;
      const float wy = ty.w[y];
      float* dst = out + (ch * height_ + y) * width_;
      for (int64_t x = 0; x < width_; ++x) {  // PyTorch's upsample_bilinear2d arithmetic, term for term
        const float wx = tx.w[x];
        dst[x] = (1.0f - wy) * ((1.0f - wx) * r0[tx.lo[x]] + wx * r0[tx.hi[x]]) +
                 wy * ((1.0f - wx) * r1[tx.lo[x]] + wx * r1[tx.hi[x]]);
      }
    }
  }
}

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)), std_(std::move(std)) {
  if (mean_.empty() || mean_.size() != std_.size())
    fail_input("normalize", "needs one mean and one std per channel, got " + std::to_string(mean_.size()) +
                                " means and " + std::to_string(std_.size()) + " stds");
  for (size_t c = 0; c < std_.size(); ++c) {
    if (!std::isfinite(mean_[c])) fail_input("normalize", "mean " + std::to_string(c) + " is not finite");
    if (!(std_[c] > 0.0f && std::isfinite(std_[c])))
      fail_input("normalize", "std " + std::to_string(c) + " must be a finite number > 0, got " +
                                  std::to_string(std_[c]));
  }
}

Shape Normalize::output_shape(const Shape& in) const {
  if (in[0] != static_cast<int64_t>(mean_.size()))
    fail_input("normalize", std::to_string(mean_.size()) + " means and stds for " + std::to_string(in[0]) +
                                " channels (input " + to_string(in) + ")");
  return in;
}

void Normalize::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  const int64_t plane = in_shape[1] * in_shape[2];
  for (int64_t ch = 0; ch < in_shape[0]; ++ch) {
    const float m = mean_[static_cast<size_t>(ch)], s = std_[static_cast<size_t>(ch)];
    const float* src = in + ch * plane;
    float* dst = out + ch * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = (src[i] - m) / s;
  }
}

}  // namespace sf
