// The images a conversion reads, opened as the checkpoint was trained: its dataset section's base and eval
// transforms (pad, resize, crops, repeated channels) are applied to the pixels, which the SNN encodes as rates,
// and the trailing normalize / scale transforms are split off as the per-channel affine map the converter
// folds into the first layer (datasets/channel_affine.h). Only the rows a conversion uses are read: the first
// training images for normalisation and a range of test images, so a 224×224 set needs no more memory than
// those rows.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "datasets/channel_affine.h"
#include "datasets/open.h"
#include "train/run.h"

namespace sf {

class ConversionData {
 public:
  // dataset: "" or the checkpoint's own (its transforms), or another, read without transforms; data_dir: ""
  // for the dataset's default folder. BadInput naming the file or transform for data the model cannot read.
  ConversionData(const LoadedModel& m, const std::string& dataset, const std::string& data_dir);
  // The images of `spec` (its transforms), for a network reading `channels` channels.
  ConversionData(const DataSpec& spec, int64_t channels);
  ConversionData(const ConversionData&) = delete;
  ConversionData& operator=(const ConversionData&) = delete;

  const std::string& name() const { return name_; }
  int64_t test_size() const { return test().size(); }
  // What the model reads is affine() of the pixels rows hold.
  const ChannelAffine& affine() const { return affine_; }
  // Training images [0, count), fewer where the set is smaller.
  Dataset train_rows(int64_t count) const;
  // Test images [first, first + count); the Dataset's first_index is `first`. BadInput outside the set.
  Dataset test_rows(int64_t first, int64_t count) const;

 private:
  const DataSource& train() const { return train_view_ ? *train_view_ : splits_->train(); }
  const DataSource& test() const { return test_view_ ? *test_view_ : splits_->test(); }

  std::string name_;
  std::unique_ptr<DataSplits> splits_;
  ChannelAffine affine_;
  std::optional<TransformedSource> train_view_, test_view_;  // the pixel transforms, where there are any
};

}  // namespace sf
