#include "datasets/source.h"

#include <cstring>
#include <exception>

#include "core/error.h"

namespace sf {

MemorySource::MemorySource(const Dataset& data) : data_(data) {
  if (data.images.shape().size() != 4)
    fail_input(data.name, "expected images [N, C, H, W], got shape " + to_string(data.images.shape()));
  if (data.images.dim(0) != data.size())
    fail_input(data.name,
               std::to_string(data.images.dim(0)) + " images but " + std::to_string(data.size()) + " labels");
}

void MemorySource::read(int64_t index, float* pixels, int32_t* label) const {
  if (index < 0 || index >= size())
    fail_internal("MemorySource " + data_.name + ": sample " + std::to_string(index) + " out of range [0, " +
                  std::to_string(size()) + ")");
  const int64_t per = numel(data_.sample_shape());
  std::memcpy(pixels, data_.images.data() + index * per, static_cast<size_t>(per) * sizeof(float));
  *label = data_.labels[static_cast<size_t>(index)];
}

SubsetSource::SubsetSource(const DataSource& inner, int64_t first, int64_t count, std::string name)
    : inner_(inner), first_(first), count_(count), name_(std::move(name)) {
  if (first < 0 || count < 0 || first + count > inner.size())
    fail_internal("SubsetSource " + name_ + ": samples [" + std::to_string(first) + ", " +
                  std::to_string(first + count) + ") outside " + inner.name() + "'s " + std::to_string(inner.size()));
}

void SubsetSource::read(int64_t index, float* pixels, int32_t* label) const {
  if (index < 0 || index >= count_)
    fail_internal("SubsetSource " + name_ + ": sample " + std::to_string(index) + " out of range [0, " +
                  std::to_string(count_) + ")");
  inner_.read(first_ + index, pixels, label);
}

TransformedSource::TransformedSource(const DataSource& inner, Pipeline pipeline)
    : inner_(inner), pipeline_(std::move(pipeline)), fixed_(pipeline_.fixed_size()) {
  try {
    shape_ = pipeline_.output_shape(inner_.sample_shape());
  } catch (const Error& e) {
    fail_input(inner_.name(), e.what());
  }
}

Shape TransformedSource::sample_shape_of(int64_t index) const {
  return fixed_ ? shape_ : pipeline_.output_shape(inner_.sample_shape_of(index));
}

void TransformedSource::read(int64_t index, float* pixels, int32_t* label) const {
  // Local buffers, not thread_local ones: a TransformedSource may wrap another.
  const Shape in = inner_.sample_shape_of(index);
  std::vector<float> raw(static_cast<size_t>(numel(in)));
  inner_.read(index, raw.data(), label);
  Pipeline::Scratch scratch;
  pipeline_.apply(raw.data(), in, pixels, SampleKey{0, 0, static_cast<uint64_t>(index)}, scratch);
}

Dataset materialize(const DataSource& source, int64_t first, int64_t count) {
  const int64_t total = source.size();
  if (count < 0) count = total - first;
  if (first < 0 || count < 0 || first + count > total)
    fail_input(source.name(), "samples [" + std::to_string(first) + ", " + std::to_string(first + count) +
                                  ") requested, the set has " + std::to_string(total));
  Dataset d;
  d.name = source.name();
  d.num_classes = source.num_classes();
  d.first_index = first;
  const Shape s = source.sample_shape();
  const int64_t per = numel(s);
  d.images = Tensor({count, s[0], s[1], s[2]});
  d.labels.resize(static_cast<size_t>(count));
  // An exception must not leave an OpenMP region (std::terminate): the first one is kept and rethrown.
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < count; ++i) {
    try {
      const int64_t index = first + i;
      if (source.sample_shape_of(index) != s)
        fail_input(source.name(), "sample " + std::to_string(index) + " is " + to_string(source.sample_shape_of(index)) +
                                      ", not " + to_string(s) + ": samples of varying sizes have no in-memory form");
      source.read(index, d.images.data() + i * per, &d.labels[static_cast<size_t>(i)]);
    } catch (...) {
#pragma omp critical(sf_materialize_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return d;
}

}  // namespace sf
