// Where samples come from: a DataSource reads one sample by index, so a loader can read samples in any order on
// any number of threads. Sources may store samples in a shape other than the model's input (a decoded JPEG, a
// 32×32 CIFAR image for a 224×224 network); the transforms of a Pipeline produce the final shape.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/pipeline.h"

namespace sf {

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t size() const = 0;
  // {C, H, W}: the shape read() writes (for every sample unless sample_shape_of(index) says otherwise).
  virtual Shape sample_shape() const = 0;
  // The shape of sample `index`, for sources whose samples differ in size (image folders); the pipeline must
  // then end in a fixed-size transform (resize), which the loader checks per sample.
  virtual Shape sample_shape_of(int64_t index) const { return sample_shape(); }
  virtual int num_classes() const = 0;
  virtual std::string name() const = 0;  // "mnist/train", ...: named in errors
  // Writes numel(sample_shape_of(index)) floats and the label of sample `index` in [0, size()). Must be safe to call
  // from several threads at once; a corrupt sample throws BadInput naming its file.
  virtual void read(int64_t index, float* pixels, int32_t* label) const = 0;
  // The class names in label order where the dataset has them (CIFAR's label files, an image folder's class
  // folders), for checkpoints to store; empty where it does not (MNIST).
  virtual std::vector<std::string> class_names() const { return {}; }
};

// A view of an in-memory Dataset (which must outlive it).
class MemorySource final : public DataSource {
 public:
  explicit MemorySource(const Dataset& data);
  int64_t size() const override { return data_.size(); }
  Shape sample_shape() const override { return data_.sample_shape(); }
  int num_classes() const override { return data_.num_classes; }
  std::string name() const override { return data_.name; }
  void read(int64_t index, float* pixels, int32_t* label) const override;

 private:
  const Dataset& data_;
};

// Samples [first, first + count) of another source (which must outlive it), numbered from 0: a held-out tail of a
// training set that is not in memory.
class SubsetSource final : public DataSource {
 public:
  SubsetSource(const DataSource& inner, int64_t first, int64_t count, std::string name);
  int64_t size() const override { return count_; }
  Shape sample_shape() const override { return inner_.sample_shape(); }
  Shape sample_shape_of(int64_t index) const override { return inner_.sample_shape_of(first_ + index); }
  int num_classes() const override { return inner_.num_classes(); }
  std::string name() const override { return name_; }
  void read(int64_t index, float* pixels, int32_t* label) const override;
  std::vector<std::string> class_names() const override { return inner_.class_names(); }

 private:
  const DataSource& inner_;
  int64_t first_, count_;
  std::string name_;
};

// Another source (which must outlive it) seen through a pipeline run inside read(): evaluation data through its
// eval-time transforms, for code that reads a DataSource without a pipeline (Trainer::evaluate). The
// transforms are meant to be deterministic; any randomness is keyed on (seed 0, epoch 0, sample index).
class TransformedSource final : public DataSource {
 public:
  // BadInput (naming the source) when the pipeline cannot take the source's samples.
  TransformedSource(const DataSource& inner, Pipeline pipeline);
  int64_t size() const override { return inner_.size(); }
  Shape sample_shape() const override { return shape_; }
  Shape sample_shape_of(int64_t index) const override;
  int num_classes() const override { return inner_.num_classes(); }
  std::string name() const override { return inner_.name(); }
  void read(int64_t index, float* pixels, int32_t* label) const override;
  std::vector<std::string> class_names() const override { return inner_.class_names(); }

 private:
  const DataSource& inner_;
  const Pipeline pipeline_;
  Shape shape_;  // the pipeline's output for inner_.sample_shape()
  bool fixed_;   // pipeline_.fixed_size(): every sample comes out as shape_ without asking inner_
};

// Samples [first, first + count) of `source` (count < 0: to the end) in one in-memory Dataset whose
// first_index is `first`, pixels as the source writes them (a CIFAR set for code that needs a Dataset: the
// converters). Read on all threads. BadInput for a source of varying sample sizes or a range outside it.
Dataset materialize(const DataSource& source, int64_t first = 0, int64_t count = -1);

}  // namespace sf
