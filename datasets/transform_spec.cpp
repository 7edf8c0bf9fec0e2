#include "datasets/transform_spec.h"

#include <yaml-cpp/yaml.h>

#include <cmath>

#include "core/enum_names.h"
#include "datasets/transforms.h"

namespace sf {
namespace {

constexpr std::pair<TransformType, const char*> kTypes[] = {{TransformType::random_crop, "random_crop"},
                                                            {TransformType::hflip, "hflip"},
                                                            {TransformType::resize, "resize"},
                                                            {TransformType::normalize, "normalize"},
                                                            {TransformType::random_resized_crop, "random_resized_crop"},
                                                            {TransformType::resize_short, "resize_short"},
                                                            {TransformType::center_crop, "center_crop"},
                                                            {TransformType::pad, "pad"},
                                                            {TransformType::scale, "scale"},
                                                            {TransformType::repeat_channels, "repeat_channels"}};

// The output size: `size` for a square, or `height` and `width`.
void parse_size(const ConfigNode& c, TransformSpec& s) {
  if (c.has("size")) {
    if (c.has("height") || c.has("width")) c.fail("size", "give either size or height and width, not both");
    s.height = s.width = c.require<int64_t>("size");
    c.check(s.height >= 1, "size", "must be at least 1");
    return;
  }
  s.height = c.require<int64_t>("height");
  c.check(s.height >= 1, "height", "must be at least 1");
  s.width = c.require<int64_t>("width");
  c.check(s.width >= 1, "width", "must be at least 1");
}

// A `[min, max]` pair such as random_resized_crop's scale; absent keeps the defaults.
void parse_range(const ConfigNode& c, const std::string& key, double& lo, double& hi) {
  const std::vector<double> v = c.get_list<double>(key, {lo, hi});
  c.check(v.size() == 2, key, "expected [min, max], got " + std::to_string(v.size()) + " values");
  c.check(std::isfinite(v[0]) && std::isfinite(v[1]) && v[0] > 0 && v[0] <= v[1], key,
          "expected finite [min, max] with 0 < min <= max");
  lo = v[0];
  hi = v[1];
}

}  // namespace

const char* transform_type_name(TransformType t) { return name_of(kTypes, t); }

TransformSpec TransformSpec::parse(const ConfigNode& c) {
  TransformSpec s;
  s.type = parse_name(kTypes, c.require<std::string>("type"), c.where("type"), "transform");
  switch (s.type) {
    case TransformType::random_crop:
      parse_size(c, s);
      s.padding = c.get<int64_t>("padding", s.padding);
      c.check(s.padding >= 0, "padding", "must be >= 0");
      break;
    case TransformType::hflip:
      s.p = c.get("p", s.p);
      c.check(s.p >= 0 && s.p <= 1, "p", "must be in [0, 1]");
      break;
    case TransformType::resize:
      parse_size(c, s);
      break;
    case TransformType::normalize:
      s.mean = c.get_list<double>("mean", {});
      s.std = c.get_list<double>("std", {});
      c.check(!s.mean.empty(), "mean", "required: one value per channel");
      c.check(s.std.size() == s.mean.size(), "std",
              "needs one value per channel like mean (" + std::to_string(s.mean.size()) + "), got " +
                  std::to_string(s.std.size()));
      for (double m : s.mean) c.check(std::isfinite(m), "mean", "must be finite numbers");
      for (double d : s.std) c.check(std::isfinite(d) && d > 0, "std", "must be finite numbers > 0");
      break;
    case TransformType::random_resized_crop:
      parse_size(c, s);
      parse_range(c, "scale", s.scale_min, s.scale_max);
      c.check(s.scale_max <= 1, "scale", "the area fraction cannot exceed 1");
      parse_range(c, "ratio", s.ratio_min, s.ratio_max);
      break;
    case TransformType::resize_short:
      s.height = s.width = c.require<int64_t>("size");
      c.check(s.height >= 1, "size", "must be at least 1");
      break;
    case TransformType::center_crop:
    case TransformType::pad:
      parse_size(c, s);
      break;
    case TransformType::scale:
      s.low = c.get("low", s.low);
      c.check(std::isfinite(s.low), "low", "must be a finite number");
      s.high = c.get("high", s.high);
      c.check(std::isfinite(s.high), "high", "must be a finite number");
      break;
    case TransformType::repeat_channels:
      s.count = c.get<int64_t>("count", s.count);
      c.check(s.count >= 1 && s.count <= 4096, "count", "must be in [1, 4096]");
      break;
  }
  return s;
}

std::vector<TransformSpec> parse_transforms(const ConfigNode& parent, const std::string& key) {
  std::vector<TransformSpec> out;
  for (const ConfigNode& item : parent.list(key)) out.push_back(TransformSpec::parse(item));
  return out;
}

std::string to_yaml(const std::vector<TransformSpec>& specs) {
  YAML::Emitter y;
  y << YAML::Flow << YAML::BeginSeq;
  for (const TransformSpec& s : specs) {
    y << YAML::BeginMap << YAML::Key << "type" << YAML::Value << transform_type_name(s.type);
    switch (s.type) {
      case TransformType::random_crop:
        y << YAML::Key << "height" << YAML::Value << s.height << YAML::Key << "width" << YAML::Value << s.width;
        y << YAML::Key << "padding" << YAML::Value << s.padding;
        break;
      case TransformType::hflip:
        y << YAML::Key << "p" << YAML::Value << s.p;
        break;
      case TransformType::resize:
        y << YAML::Key << "height" << YAML::Value << s.height << YAML::Key << "width" << YAML::Value << s.width;
        break;
      case TransformType::normalize:
        y << YAML::Key << "mean" << YAML::Value << YAML::Flow << s.mean;
        y << YAML::Key << "std" << YAML::Value << YAML::Flow << s.std;
        break;
      case TransformType::random_resized_crop:
        y << YAML::Key << "height" << YAML::Value << s.height << YAML::Key << "width" << YAML::Value << s.width;
        y << YAML::Key << "scale" << YAML::Value << YAML::Flow << std::vector<double>{s.scale_min, s.scale_max};
        y << YAML::Key << "ratio" << YAML::Value << YAML::Flow << std::vector<double>{s.ratio_min, s.ratio_max};
        break;
      case TransformType::resize_short:
        y << YAML::Key << "size" << YAML::Value << s.height;
        break;
      case TransformType::center_crop:
      case TransformType::pad:
        y << YAML::Key << "height" << YAML::Value << s.height << YAML::Key << "width" << YAML::Value << s.width;
        break;
      case TransformType::scale:
        y << YAML::Key << "low" << YAML::Value << s.low << YAML::Key << "high" << YAML::Value << s.high;
        break;
      case TransformType::repeat_channels:
        y << YAML::Key << "count" << YAML::Value << s.count;
        break;
    }
    y << YAML::EndMap;
  }
  y << YAML::EndSeq;
  return y.c_str();
}

std::unique_ptr<Transform> make_transform(const TransformSpec& s) {
  switch (s.type) {
    case TransformType::random_crop:
      return std::make_unique<RandomCrop>(s.height, s.width, s.padding);
    case TransformType::hflip:
      return std::make_unique<HorizontalFlip>(s.p);
    case TransformType::resize:
      return std::make_unique<Resize>(s.height, s.width);
    case TransformType::normalize:
      return std::make_unique<Normalize>(std::vector<float>(s.mean.begin(), s.mean.end()),
                                         std::vector<float>(s.std.begin(), s.std.end()));
    case TransformType::random_resized_crop:
      return std::make_unique<RandomResizedCrop>(s.height, s.width, s.scale_min, s.scale_max, s.ratio_min, s.ratio_max);
    case TransformType::resize_short:
      return std::make_unique<ResizeShort>(s.height);
    case TransformType::center_crop:
      return std::make_unique<CenterCrop>(s.height, s.width);
    case TransformType::pad:
      return std::make_unique<Pad>(s.height, s.width);
    case TransformType::scale:
      return std::make_unique<Scale>(s.low, s.high);
    case TransformType::repeat_channels:
      return std::make_unique<RepeatChannels>(s.count);
  }
  fail_internal("make_transform: unknown type");
}

Pipeline make_pipeline(const std::vector<TransformSpec>& specs) {
  Pipeline p;
  for (const auto& s : specs) p.add(make_transform(s));
  return p;
}

}  // namespace sf
