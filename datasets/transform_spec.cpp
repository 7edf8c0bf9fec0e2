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
                                                            {TransformType::normalize, "normalize"}};

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
  }
  fail_internal("make_transform: unknown type");
}

Pipeline make_pipeline(const std::vector<TransformSpec>& specs) {
  Pipeline p;
  for (const auto& s : specs) p.add(make_transform(s));
  return p;
}

}  // namespace sf
