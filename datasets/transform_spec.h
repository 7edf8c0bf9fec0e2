// The YAML form of a transform pipeline, e.g.
//   augment:
//     - {type: random_crop, size: 32, padding: 4}
//     - {type: hflip, p: 0.5}
//     - {type: resize, height: 224, width: 224}
//     - {type: normalize, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]}
// and for ImageNet-style data
//     - {type: random_resized_crop, size: 224, scale: [0.08, 1], ratio: [0.75, 1.3333]}
//     - {type: resize_short, size: 256}
//     - {type: center_crop, size: 224}
//     - {type: scale, low: -1, high: 1}
//     - {type: pad, size: 32}
//     - {type: repeat_channels, count: 3}
// Each type reads only its own keys, so a key another type takes (padding on hflip) is left unread and the
// caller's check_unknown_keys() rejects it.
#pragma once
#include <string>
#include <vector>

#include "core/config.h"
#include "datasets/pipeline.h"

namespace sf {

enum class TransformType {
  random_crop,
  hflip,
  resize,
  normalize,
  random_resized_crop,
  resize_short,
  center_crop,
  pad,
  scale,
  repeat_channels
};

struct TransformSpec {
  TransformType type = TransformType::hflip;
  int64_t height = 0, width = 0;  // random_crop, resize, random_resized_crop, center_crop, pad: the output size
                                  // (`size: n` sets both); resize_short: the short side (`size` only)
  int64_t padding = 0;            // random_crop: zeros added on every side
  double p = 0.5;                 // hflip: probability of mirroring
  std::vector<double> mean, std;  // normalize: one per channel
  double scale_min = 0.08, scale_max = 1.0;             // random_resized_crop: area fraction range (`scale`)
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // random_resized_crop: aspect ratio w/h range (`ratio`)
  double low = -1.0, high = 1.0;                        // scale: [0, 1] maps to [low, high]
  int64_t count = 3;                                    // repeat_channels: the channel count

  // One list item; errors name the file, line and key.
  static TransformSpec parse(const ConfigNode& c);
};

const char* transform_type_name(TransformType t);
// The list under `key` (absent → no transforms).
std::vector<TransformSpec> parse_transforms(const ConfigNode& parent, const std::string& key);
// The list as a YAML flow sequence that parse_transforms reads back (config.yaml's resolved form).
std::string to_yaml(const std::vector<TransformSpec>& specs);
std::unique_ptr<Transform> make_transform(const TransformSpec& spec);
Pipeline make_pipeline(const std::vector<TransformSpec>& specs);

}  // namespace sf
