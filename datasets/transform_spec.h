// The YAML form of a transform pipeline, e.g.
//   augment:
//     - {type: random_crop, size: 32, padding: 4}
//     - {type: hflip, p: 0.5}
//     - {type: resize, height: 224, width: 224}
//     - {type: normalize, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]}
// Each type reads only its own keys, so a key another type takes (padding on hflip) is left unread and the
// caller's check_unknown_keys() rejects it.
#pragma once
#include <string>
#include <vector>

#include "core/config.h"
#include "datasets/pipeline.h"

namespace sf {

enum class TransformType { random_crop, hflip, resize, normalize };

struct TransformSpec {
  TransformType type = TransformType::hflip;
  int64_t height = 0, width = 0;  // random_crop, resize: the output size (`size: n` sets both)
  int64_t padding = 0;            // random_crop: zeros added on every side
  double p = 0.5;                 // hflip: probability of mirroring
  std::vector<double> mean, std;  // normalize: one per channel

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
