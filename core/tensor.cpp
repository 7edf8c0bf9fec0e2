#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/primitives.h"

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

namespace {

class HostAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes, size_t slack_bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
      throw OutOfMemory("out of host memory allocating " + std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB");
    std::memset(static_cast<char*>(p) + bytes - slack_bytes, 0, slack_bytes);
    return p;
  }
  void deallocate(void* p) override { std::free(p); }
};

Allocator*& allocator_slot(Device device) {
  static HostAllocator host;
  static Allocator* slots[] = {&host, nullptr};
  return slots[static_cast<int>(device)];
}

}  // namespace

void register_allocator(Device device, Allocator* allocator) { allocator_slot(device) = allocator; }
bool has_allocator(Device device) { return allocator_slot(device) != nullptr; }
Allocator* registered_allocator(Device device) { return allocator_slot(device); }

Storage::Storage(int64_t count, Device device) : count_(count), device_(device) {
  register_device(device);
  Allocator* a = allocator_slot(device);
  if (!a)
    fail_internal("no allocator for device " + std::string(to_string(device)) + ": " +
                  device_unavailable_reason(device));
  const size_t slack = static_cast<size_t>(kSlackFloats) * sizeof(float);
  data_ = static_cast<float*>(a->allocate(static_cast<size_t>(count) * sizeof(float) + slack, slack));
}

Storage::Storage(const Storage& base, int64_t offset, int64_t count)
    : data_(const_cast<float*>(base.data()) + offset), count_(count), device_(base.device()), owns_(false) {
  if (offset < 0 || count < 0 || offset + count > base.count())
    fail_internal("storage window [" + std::to_string(offset) + ", " + std::to_string(offset + count) + ") outside " +
                  std::to_string(base.count()) + " floats");
}

Storage::~Storage() {
  if (owns_) allocator_slot(device_)->deallocate(data_);
}

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

Tensor Tensor::unowned_window(int64_t offset, Shape shape) const {
  if (!storage_) fail_internal("window of an undefined tensor");
  Tensor t;
  t.numel_ = sf::numel(shape);
  t.storage_ = std::make_shared<Storage>(*storage_, offset, t.numel_);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t(shape_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::fill(float value) { primitives(device()).fill(raw(), numel_, value); }

void Tensor::copy_from(const Tensor& other) {
  if (other.numel() != numel_) fail_internal("copy_from " + to_string(other.shape()) + " into " + to_string(shape_));
  copy_between(raw(), device(), other.raw(), other.device(), numel_);
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel_));
  copy_between(out.data(), Device::cpu, raw(), device(), numel_);
  return out;
}

void Tensor::host_access_error() const {
  fail_internal("host access to a tensor of shape " + to_string(shape_) + " on " + std::string(to_string(device())) +
                " (copy it with to(Device::cpu) first)");
}

}  // namespace sf
