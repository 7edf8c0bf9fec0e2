#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace sf {
namespace {

void check_size(const char* transform, int64_t height, int64_t width) {
  if (height < 1 || width < 1)
    fail_input(transform,
               "output size must be at least 1×1, got " + std::to_string(height) + "×" + std::to_string(width));
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

// Python's round(): to the nearest integer, halves to even (torchvision computes crop sizes and offsets with it).
int64_t round_half_even(double x) {
  const double f = std::floor(x), d = x - f;
  const auto i = static_cast<int64_t>(f);
  if (d > 0.5) return i + 1;
  if (d < 0.5) return i;
  return i % 2 == 0 ? i : i + 1;
}

// One axis of an antialiased bilinear resize, PIL's precompute_coeffs: output i centred at (i + 0.5)·scale reads
// inputs [first[i], first[i] + count[i]) with triangle weights max(scale, 1) pixels wide, normalised to sum 1.
struct AntialiasTaps {
  int64_t taps = 0;  // the most inputs any output reads: the stride of w
  std::vector<int64_t> first, count;
  std::vector<float> w;
  AntialiasTaps(int64_t in, int64_t out) : first(out), count(out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    const double filter_scale = std::max(scale, 1.0), support = filter_scale;  // the bilinear filter's support is 1
    taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
    w.assign(static_cast<size_t>(out * taps), 0.0f);
    std::vector<double> k(static_cast<size_t>(taps));
    for (int64_t i = 0; i < out; ++i) {
      const double center = (static_cast<double>(i) + 0.5) * scale;
      // PIL's (int) casts, truncating toward zero, then clamping into the input.
      const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(center - support + 0.5));
      const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(center + support + 0.5));
      double sum = 0;
      for (int64_t x = lo; x < hi; ++x) {
        const double t = std::abs((static_cast<double>(x) - center + 0.5) / filter_scale);
        k[static_cast<size_t>(x - lo)] = t < 1.0 ? 1.0 - t : 0.0;
        sum += k[static_cast<size_t>(x - lo)];
      }
      first[i] = lo;
      count[i] = hi - lo;
      for (int64_t x = 0; x < hi - lo; ++x)
        w[static_cast<size_t>(i * taps + x)] = static_cast<float>(sum > 0 ? k[static_cast<size_t>(x)] / sum : 0.0);
    }
  }
};

}  // namespace

void resize_window(const float* in, const Shape& in_shape, int64_t top, int64_t left, int64_t height, int64_t width,
                   int64_t out_h, int64_t out_w, float* out) {
  const int64_t c = in_shape[0], h = in_shape[1], w = in_shape[2];
  if (top < 0 || left < 0 || height < 1 || width < 1 || top + height > h || left + width > w || out_h < 1 || out_w < 1)
    fail_internal("resize_window: window (" + std::to_string(top) + ", " + std::to_string(left) + ", " +
                  std::to_string(height) + ", " + std::to_string(width) + ") outside " + to_string(in_shape));
  const AntialiasTaps tx(width, out_w), ty(height, out_h);
  // Rows first into a per-thread buffer [c, height, out_w], then columns, as PIL does.
  thread_local std::vector<float> rows;
  rows.resize(static_cast<size_t>(c * height * out_w));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < height; ++y) {
      const float* src = in + (ch * h + top + y) * w + left;
      float* dst = rows.data() + (ch * height + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const float* k = tx.w.data() + x * tx.taps;
        const float* s = src + tx.first[x];
        float acc = 0.0f;
        for (int64_t t = 0; t < tx.count[x]; ++t) acc += k[t] * s[t];
        dst[x] = acc;
      }
    }
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < out_h; ++y) {
      float* dst = out + (ch * out_h + y) * out_w;
      std::fill(dst, dst + out_w, 0.0f);
      const float* k = ty.w.data() + y * ty.taps;
      for (int64_t t = 0; t < ty.count[y]; ++t) {  // a whole row per tap: the inner loop vectorises
        const float* src = rows.data() + (ch * height + ty.first[y] + t) * out_w;
        const float kt = k[t];
        for (int64_t x = 0; x < out_w; ++x) dst[x] += kt * src[x];
      }
    }
}

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
      fail_input("normalize",
                 "std " + std::to_string(c) + " must be a finite number > 0, got " + std::to_string(std_[c]));
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

RandomResizedCrop::RandomResizedCrop(int64_t height, int64_t width, double scale_min, double scale_max,
                                     double ratio_min, double ratio_max)
    : height_(height),
      width_(width),
      scale_min_(scale_min),
      scale_max_(scale_max),
      ratio_min_(ratio_min),
      ratio_max_(ratio_max) {
  check_size("random_resized_crop", height, width);
  if (!(scale_min > 0 && scale_min <= scale_max && scale_max <= 1))
    fail_input("random_resized_crop", "scale must satisfy 0 < min <= max <= 1, got (" + std::to_string(scale_min) +
                                          ", " + std::to_string(scale_max) + ")");
  if (!(ratio_min > 0 && ratio_min <= ratio_max && std::isfinite(ratio_max)))
    fail_input("random_resized_crop", "ratio must satisfy 0 < min <= max, got (" + std::to_string(ratio_min) + ", " +
                                          std::to_string(ratio_max) + ")");
}

Shape RandomResizedCrop::output_shape(const Shape& in) const { return {in[0], height_, width_}; }

RandomResizedCrop::Window RandomResizedCrop::window(int64_t in_h, int64_t in_w, Rng& rng) const {
  const double area = static_cast<double>(in_h) * static_cast<double>(in_w);
  const double log_min = std::log(ratio_min_), log_max = std::log(ratio_max_);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale_min_, scale_max_);
    const double aspect = std::exp(rng.uniform(log_min, log_max));
    const int64_t w = round_half_even(std::sqrt(target * aspect));
    const int64_t h = round_half_even(std::sqrt(target / aspect));
    if (w > 0 && w <= in_w && h > 0 && h <= in_h) {
      const auto top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(in_h - h + 1)));
      const auto left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(in_w - w + 1)));
      return {top, left, h, w};
    }
  }
  // No try fitted (a very long or thin image): the central crop with the aspect ratio clamped into `ratio`.
  const double in_ratio = static_cast<double>(in_w) / static_cast<double>(in_h);
  int64_t w = in_w, h = in_h;
  if (in_ratio < ratio_min_)
    h = round_half_even(static_cast<double>(w) / ratio_min_);
  else if (in_ratio > ratio_max_)
    w = round_half_even(static_cast<double>(h) * ratio_max_);
  h = std::clamp<int64_t>(h, 1, in_h);  // rounding can overshoot by one pixel
  w = std::clamp<int64_t>(w, 1, in_w);
  return {(in_h - h) / 2, (in_w - w) / 2, h, w};
}

void RandomResizedCrop::apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const {
  const Window win = window(in_shape[1], in_shape[2], rng);
  resize_window(in, in_shape, win.top, win.left, win.height, win.width, height_, width_, out);
}

ResizeShort::ResizeShort(int64_t size) : size_(size) { check_size("resize_short", size, size); }

Shape ResizeShort::output_shape(const Shape& in) const {
  const int64_t h = in[1], w = in[2];
  if (w <= h) return {in[0], size_ * h / w, size_};  // integer division: torchvision's int(size * long / short)
  return {in[0], size_, size_ * w / h};
}

void ResizeShort::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  const Shape o = output_shape(in_shape);
  resize_window(in, in_shape, 0, 0, in_shape[1], in_shape[2], o[1], o[2], out);
}

CenterCrop::CenterCrop(int64_t height, int64_t width) : height_(height), width_(width) {
  check_size("center_crop", height, width);
}

Shape CenterCrop::output_shape(const Shape& in) const { return {in[0], height_, width_}; }

int64_t CenterCrop::offset(int64_t in, int64_t crop) {
  if (crop > in) return -((crop - in) / 2);  // torchvision pads (crop − in) // 2 before, the rest after
  const int64_t d = in - crop;
  return d / 2 + (d % 2 != 0 && (d / 2) % 2 != 0 ? 1 : 0);  // round(d / 2), half to even
}

void CenterCrop::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  // A window at a negative offset reads zeros where it leaves the input: crop() with no padding does that.
  RandomCrop::crop(in, in_shape, 0, offset(in_shape[1], height_), offset(in_shape[2], width_), height_, width_, out);
}

Pad::Pad(int64_t height, int64_t width) : height_(height), width_(width) { check_size("pad", height, width); }

Shape Pad::output_shape(const Shape& in) const {
  if (in[1] > height_ || in[2] > width_)
    fail_input("pad", "cannot pad " + to_string(in) + " to " + std::to_string(height_) + "×" + std::to_string(width_) +
                          ": it is larger (use resize or center_crop)");
  return {in[0], height_, width_};
}

void Pad::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  RandomCrop::crop(in, in_shape, 0, -((height_ - in_shape[1]) / 2), -((width_ - in_shape[2]) / 2), height_, width_,
                   out);
}

Scale::Scale(double low, double high) : low_(static_cast<float>(low)), high_(static_cast<float>(high)) {
  if (!std::isfinite(low_) || !std::isfinite(high_))
    fail_input("scale",
               "low and high must be finite numbers, got " + std::to_string(low) + " and " + std::to_string(high));
}

void Scale::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  const float span = high_ - low_;
  const int64_t n = numel(in_shape);
  for (int64_t i = 0; i < n; ++i) out[i] = low_ + span * in[i];
}

RepeatChannels::RepeatChannels(int64_t count) : count_(count) {
  if (count < 1) fail_input("repeat_channels", "count must be at least 1, got " + std::to_string(count));
}

Shape RepeatChannels::output_shape(const Shape& in) const {
  if (in[0] != 1 && in[0] != count_)
    fail_input("repeat_channels", "can repeat only a single channel, got " + to_string(in) + " for " +
                                      std::to_string(count_) + " channels");
  return {count_, in[1], in[2]};
}

void RepeatChannels::apply(const float* in, const Shape& in_shape, float* out, Rng&) const {
  const int64_t plane = in_shape[1] * in_shape[2];
  for (int64_t ch = 0; ch < count_; ++ch)
    std::memcpy(out + ch * plane, in + (in_shape[0] == 1 ? 0 : ch * plane), static_cast<size_t>(plane) * sizeof(float));
}

}  // namespace sf
