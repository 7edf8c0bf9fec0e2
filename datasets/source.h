// Where samples come from: a DataSource reads one sample by index, so a loader can read samples in any order on
// any number of threads. Sources may store samples in a shape other than the model's input (a decoded JPEG, a
// 32×32 CIFAR image for a 224×224 network); the transforms of a Pipeline produce the final shape.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "datasets/dataset.h"

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

}  // namespace sf
