#include "backends/conversion_data.h"

#include <algorithm>

#include "core/error.h"

namespace sf {

namespace {

// As `evaluate` does: the checkpoint's dataset section, or another dataset's plain images.
DataSpec data_spec(const LoadedModel& m, const std::string& dataset, const std::string& data_dir) {
  DataSpec spec = m.data;
  if (!dataset.empty() && dataset != m.dataset) spec = DataSpec{}, spec.name = dataset;
  if (!data_dir.empty()) spec.path = data_dir;
  return spec;
}

}  // namespace

ConversionData::ConversionData(const LoadedModel& m, const std::string& dataset, const std::string& data_dir)
    : ConversionData(data_spec(m, dataset, data_dir), m.model.input_shape().at(0)) {}

ConversionData::ConversionData(const DataSpec& spec, int64_t channels) {
  name_ = spec.name;
  std::vector<TransformSpec> specs = base_transforms(spec);
  specs.insert(specs.end(), spec.eval_transforms.begin(), spec.eval_transforms.end());
  SplitTransforms split = split_channel_affine(specs, channels);
  affine_ = std::move(split.affine);
  splits_ = open_dataset(dataset_options(spec));
  if (!split.pixels.empty()) {
    const Pipeline pixels = make_pipeline(split.pixels);
    train_view_.emplace(splits_->train(), pixels);
    test_view_.emplace(splits_->test(), pixels);
  }
}

Dataset ConversionData::train_rows(int64_t count) const {
  return materialize(train(), 0, std::clamp<int64_t>(count, 0, train().size()));
}

Dataset ConversionData::test_rows(int64_t first, int64_t count) const { return materialize(test(), first, count); }

}  // namespace sf
