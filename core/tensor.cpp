#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace sf {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) fail_internal("negative dimension in shape " + to_string(s));
    n *= d;
  }
  return n;
}

std::string to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

Storage::Storage(int64_t count, Device device) : count_(count), device_(device) {
  if (device != Device::cpu)
    fail_internal("no allocator registered for device " + std::string(to_string(device)) +
                  " (build with SPIKEFORGE_CUDA)");
  size_t bytes = static_cast<size_t>(count + kSlackFloats) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!data_) throw std::bad_alloc();
  std::memset(data_ + count, 0, static_cast<size_t>(kSlackFloats) * sizeof(float));
}

Storage::~Storage() { std::free(data_); }

Tensor::Tensor(Shape shape, Device device)
    : storage_(std::make_shared<Storage>(sf::numel(shape), device)),
      shape_(std::move(shape)),
      numel_(sf::numel(shape_)) {}

Tensor Tensor::zeros(Shape shape, Device device) { return full(std::move(shape), 0.0f, device); }

Tensor Tensor::full(Shape shape, float value, Device device) {
  Tensor t(std::move(shape), device);
  t.fill(value);
  return t;
}

Tensor Tensor::from(Shape shape, const std::vector<float>& values) {
  Tensor t(std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel())
    fail_internal("Tensor::from: " + std::to_string(values.size()) + " values for shape " + to_string(t.shape()));
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (sf::numel(shape) != numel_)
    fail_internal("reshape " + to_string(shape_) + " -> " + to_string(shape) + ": element count differs");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, device());
  t.copy_from(*this);
  return t;
}

void Tensor::fill(float value) {
  float* p = data();
  for (int64_t i = 0; i < numel_; ++i) p[i] = value;
}

void Tensor::copy_from(const Tensor& other) {
  if (other.numel() != numel_) fail_internal("copy_from " + to_string(other.shape()) + " into " + to_string(shape_));
  if (numel_) std::memcpy(data(), other.data(), numel_ * sizeof(float));
}

std::vector<float> Tensor::to_vector() const { return std::vector<float>(data(), data() + numel_); }

}  // namespace sf
