#include "datasets/channel_affine.h"

#include <algorithm>

#include "core/error.h"

namespace sf {

void ChannelAffine::apply(const float* in, int64_t n, const Shape& chw, float* out) const {
  if (identity()) {
    if (in != out) std::copy_n(in, n * numel(chw), out);
    return;
  }
  const Pipeline p = make_pipeline(steps);
  Pipeline::Scratch scratch;
  const int64_t per = numel(chw);
  std::vector<float> sample(static_cast<size_t>(per));
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(in + i * per, per, sample.data());  // out may alias in
    p.apply(sample.data(), chw, out + i * per, {}, scratch);
  }
}

namespace {

bool is_affine(TransformType t) { return t == TransformType::normalize || t == TransformType::scale; }

// center_crop does not: a crop larger than its input pads with zeros, which after the affine are not b.
bool commutes_with_affine(const TransformSpec& t) {
  return t.type == TransformType::hflip || t.type == TransformType::repeat_channels;
}

}  // namespace

SplitTransforms split_channel_affine(const std::vector<TransformSpec>& specs, int64_t channels) {
  if (channels < 1) fail_internal("split_channel_affine: no channels");
  SplitTransforms out;
  std::vector<TransformSpec>& tail = out.affine.steps;
  for (const TransformSpec& t : specs) {
    if (is_affine(t.type)) {
      tail.push_back(t);
    } else if (tail.empty()) {
      out.pixels.push_back(t);
    } else if (commutes_with_affine(t)) {
      out.pixels.push_back(t);
      if (t.type == TransformType::repeat_channels)  // the affine now sees `count` copies of the grey channel
        for (TransformSpec& a : tail)
          if (a.type == TransformType::normalize && a.mean.size() == 1)
            a.mean.assign(static_cast<size_t>(t.count), a.mean[0]), a.std.assign(static_cast<size_t>(t.count), a.std[0]);
    } else {
      fail_input(std::string("dataset transforms: ") + transform_type_name(t.type),
                 std::string("comes after ") + transform_type_name(tail.back().type) +
                     ", so the spiking network cannot read the pixels and fold the " +
                     transform_type_name(tail.back().type) + " into its first layer; put " +
                     transform_type_name(tail.back().type) + " last");
    }
  }
  if (tail.empty()) return out;
  std::vector<double>& scale = out.affine.scale;
  std::vector<double>& shift = out.affine.shift;
  scale.assign(static_cast<size_t>(channels), 1.0);
  shift.assign(static_cast<size_t>(channels), 0.0);
  for (const TransformSpec& t : tail) {
    if (t.type == TransformType::normalize && t.mean.size() != static_cast<size_t>(channels))
      fail_input("dataset transforms: normalize", std::to_string(t.mean.size()) + " means for the model's " +
                                                      std::to_string(channels) + " input channels");
    for (size_t c = 0; c < scale.size(); ++c) {
      // normalize: (y − m)/s; scale: low + (high − low)·y, each applied to y = scale·x + shift.
      const double a = t.type == TransformType::normalize ? 1.0 / t.std[c] : t.high - t.low;
      const double b = t.type == TransformType::normalize ? -t.mean[c] / t.std[c] : t.low;
      scale[c] *= a;
      shift[c] = shift[c] * a + b;
    }
  }
  return out;
}

}  // namespace sf
