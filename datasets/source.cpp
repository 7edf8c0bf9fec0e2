#include "datasets/source.h"

#include <cstring>

#include "core/error.h"

namespace sf {

MemorySource::MemorySource(const Dataset& data) : data_(data) {
  if (data.images.shape().size() != 4)
    fail_input(data.name, "expected images [N, C, H, W], got shape " + to_string(data.images.shape()));
  if (data.images.dim(0) != data.size())
    fail_input(data.name, std::to_string(data.images.dim(0)) + " images but " + std::to_string(data.size()) +
                              " labels");
}

void MemorySource::read(int64_t index, float* pixels, int32_t* label) const {
  if (index < 0 || index >= size())
    fail_internal("MemorySource " + data_.name + ": sample " + std::to_string(index) + " out of range [0, " +
                  std::to_string(size()) + ")");
  const int64_t per = numel(data_.sample_shape());
  std::memcpy(pixels, data_.images.data() + index * per, static_cast<size_t>(per) * sizeof(float));
  *label = data_.labels[static_cast<size_t>(index)];
}

}  // namespace sf
